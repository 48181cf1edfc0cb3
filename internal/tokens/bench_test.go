package tokens

import (
	"context"
	"testing"
)

// BenchmarkTokenForCached is the path every Dataverse call takes: a cached
// access token for one user and resource.
func BenchmarkTokenForCached(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	if _, err := f.vault.TokenFor(ctx, tenant, user, org); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.vault.TokenFor(ctx, tenant, user, org); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSealOpen seals and opens one refresh token (done at every refresh).
func BenchmarkSealOpen(b *testing.B) {
	ring, _ := NewKeyRing("k", []Key{key("k", 1)})
	rt := make([]byte, 1500) // Entra refresh tokens are opaque and around 1-2 KB
	a := aad(tenant, user)
	b.ReportAllocs()
	for b.Loop() {
		sealed, id := ring.Seal(rt, a)
		if _, err := ring.Open(id, sealed, a); err != nil {
			b.Fatal(err)
		}
	}
}

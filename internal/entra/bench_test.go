package entra

import (
	"context"
	"testing"
)

// BenchmarkVerifyAccessToken is the cost API authentication adds to each
// call of the app, with the signing keys cached.
func BenchmarkVerifyAccessToken(b *testing.B) {
	v, sim, base := newVerifier(b)
	c := idClaims(base)
	delete(c, "nonce")
	c["scp"] = "access_as_user"
	raw := sim.SignToken(c)
	ctx := context.Background()
	if _, err := v.VerifyAccessToken(ctx, raw, "access_as_user"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyAccessToken(ctx, raw, "access_as_user"); err != nil {
			b.Fatal(err)
		}
	}
}

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
	c["scp"], c["azp"] = "access_as_user", pitcherApp
	raw := sim.SignToken(c)
	ctx, clients := context.Background(), []string{pitcherApp}
	if _, err := v.VerifyAccessToken(ctx, raw, "access_as_user", clients); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyAccessToken(ctx, raw, "access_as_user", clients); err != nil {
			b.Fatal(err)
		}
	}
}

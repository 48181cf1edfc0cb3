package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pitcher/connector/localworld/entrasim"
)

const (
	clientID = "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70"
	contoso  = "11111111-1111-4111-8111-111111111111"
	aliceOID = "aaaaaaaa-0000-4000-8000-000000000002"
)

func newVerifier(t testing.TB) (*Verifier, *entrasim.Sim, string) {
	t.Helper()
	sim, srv := entrasim.Start(t, entrasim.DefaultSeed())
	a, err := NewAuthority(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return NewVerifier(a, NewKeySet(a.JWKSURL(), srv.Client()), clientID, "api://"+clientID), sim, srv.URL
}

func idClaims(base string) map[string]any {
	now := time.Now()
	return map[string]any{"aud": clientID, "iss": base + "/" + contoso + "/v2.0", "tid": contoso, "oid": aliceOID,
		"sub": "pairwise", "nonce": "n-1", "name": "Alice", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ver": "2.0"}
}

// TestVerifyIDToken covers docs/reference/entra-multitenant-oauth.md §3:
// every check, each with a token that fails only that check.
func TestVerifyIDToken(t *testing.T) {
	v, sim, base := newVerifier(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name   string
		change func(c map[string]any)
		raw    func(c map[string]any) string // overrides signing
		nonce  string
		want   string // "" = valid
	}{
		{name: "valid", want: ""},
		{name: "nonce mismatch", nonce: "n-2", want: "nonce does not match"},
		{name: "no nonce in token", change: func(c map[string]any) { delete(c, "nonce") }, want: "nonce does not match"},
		{name: "wrong issuer", change: func(c map[string]any) { c["iss"] = "https://login.microsoftonline.com/" + contoso + "/v2.0" }, want: "iss"},
		{name: "issuer of another tenant", change: func(c map[string]any) { c["iss"] = base + "/22222222-2222-4222-8222-222222222222/v2.0" }, want: "iss"},
		{name: "tid not a GUID", change: func(c map[string]any) { c["tid"] = "contoso"; c["iss"] = base + "/contoso/v2.0" }, want: "tid is not a GUID"},
		{name: "issuer template itself", change: func(c map[string]any) { c["iss"] = base + "/{tenantid}/v2.0" }, want: "iss"},
		{name: "wrong audience", change: func(c map[string]any) { c["aud"] = "00000003-0000-0000-c000-000000000000" }, want: "aud"},
		{name: "expired beyond skew", change: func(c map[string]any) { c["exp"] = time.Now().Add(-3 * time.Minute).Unix() }, want: "expired"},
		{name: "expired within skew", change: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, want: ""},
		{name: "no exp", change: func(c map[string]any) { delete(c, "exp") }, want: "no exp"},
		{name: "not yet valid", change: func(c map[string]any) { c["nbf"] = time.Now().Add(10 * time.Minute).Unix() }, want: "not valid before"},
		{name: "oid missing", change: func(c map[string]any) { delete(c, "oid") }, want: "oid"},
		{name: "unsigned (alg none)", raw: func(c map[string]any) string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(c)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}, want: "signature does not verify"},
		{name: "signed by a key not published", raw: func(c map[string]any) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(c))
			tok.Header["kid"] = "forged"
			s, _ := tok.SignedString(other)
			return s
		}, want: "not published"},
		{name: "published kid, other key", raw: func(c map[string]any) string {
			good := sim.SignToken(c)
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(c))
			tok.Header["kid"] = kidOf(t, good)
			s, _ := tok.SignedString(other)
			return s
		}, want: "signature does not verify"},
		{name: "garbage", raw: func(map[string]any) string { return "not.a.jwt" }, want: "malformed"},
		{name: "valid, with directory roles", change: func(c map[string]any) { c["wids"] = []string{RoleGlobalAdministrator} }, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := idClaims(base)
			if tc.change != nil {
				tc.change(c)
			}
			raw := sim.SignToken(c)
			if tc.raw != nil {
				raw = tc.raw(c)
			}
			nonce := "n-1"
			if tc.nonce != "" {
				nonce = tc.nonce
			}
			got, err := v.VerifyIDToken(context.Background(), raw, nonce)
			if tc.want == "" {
				if err != nil || got.TenantID != contoso || got.ObjectID != aliceOID {
					t.Fatalf("VerifyIDToken = %+v, %v; want Alice of Contoso", got, err)
				}
				if _, ok := c["wids"]; ok != got.CanApproveForOrganisation() {
					t.Errorf("VerifyIDToken directory roles = %v, want the token's wids %v", got.DirectoryRoles, c["wids"])
				}
				return
			}
			var it *InvalidTokenError
			if !errors.As(err, &it) || !strings.Contains(it.Reason, tc.want) {
				t.Fatalf("VerifyIDToken error = %v, want an invalid-token error mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), raw) {
				t.Errorf("the error quotes the token")
			}
		})
	}
}

func kidOf(t *testing.T, raw string) string {
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header["kid"].(string)
}

// TestKeyRotation: a token signed by a key published after the key set was
// cached is accepted (one refetch), and forged key ids do not cause a
// fetch each.
func TestKeyRotation(t *testing.T) {
	v, sim, base := newVerifier(t)
	fetches := 0
	v.keys.client = &http.Client{Transport: countingTransport{&fetches, http.DefaultTransport}}
	now := time.Now()
	v.keys.now = func() time.Time { return now }
	if _, err := v.VerifyIDToken(context.Background(), sim.SignToken(idClaims(base)), "n-1"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/_sim/keys/rotate", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	now = now.Add(time.Minute) // past MinRefetch
	if _, err := v.VerifyIDToken(context.Background(), sim.SignToken(idClaims(base)), "n-1"); err != nil {
		t.Fatalf("token signed by the rotated key: %v", err)
	}
	if fetches != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (first use, rotation)", fetches)
	}
	c := idClaims(base)
	for i := 0; i < 5; i++ {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(c))
		tok.Header["kid"] = "forged"
		raw, _ := tok.SignedString(mustKey(t))
		if _, err := v.VerifyIDToken(context.Background(), raw, "n-1"); err == nil {
			t.Fatal("a forged kid was accepted")
		}
	}
	if fetches != 2 {
		t.Errorf("JWKS fetched %d times after forged key ids, want still 2", fetches)
	}
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type countingTransport struct {
	n  *int
	rt http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	*c.n++
	return c.rt.RoundTrip(r)
}

// The local world's Pitcher app, and another application a user could
// consent to the connector's API.
const (
	pitcherApp = "0d9e8f7a-6b5c-4d3e-8f21-a0b1c2d3e4f5"
	otherApp   = "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
)

// TestVerifyAccessToken covers API tokens: audience client id or App ID
// URI, issued to an allowed application (azp; appid in a v1 token), v2,
// a delegated scope.
func TestVerifyAccessToken(t *testing.T) {
	v, sim, base := newVerifier(t)
	access := func(change func(map[string]any)) string {
		c := idClaims(base)
		delete(c, "nonce")
		c["scp"], c["azp"] = "access_as_user", pitcherApp
		if change != nil {
			change(c)
		}
		return sim.SignToken(c)
	}
	v1 := func(app string) func(map[string]any) {
		return func(c map[string]any) { c["ver"] = "1.0"; delete(c, "azp"); c["appid"] = app }
	}
	tests := []struct {
		name    string
		raw     string
		clients []string
		want    string
	}{
		{"client id audience", access(nil), nil, ""},
		{"App ID URI audience", access(func(c map[string]any) { c["aud"] = "api://" + clientID }), nil, ""},
		{"one of several allowed apps", access(func(c map[string]any) { c["azp"] = otherApp }), []string{pitcherApp, otherApp}, ""},
		{"Dynamics audience", access(func(c map[string]any) { c["aud"] = "https://contoso.crm.dynamics.com" }), nil, "aud"},
		{"another app", access(func(c map[string]any) { c["azp"] = otherApp }), nil, "issued to the application " + otherApp + ", which may not call"},
		{"another app, v1 (appid)", access(v1(otherApp)), nil, "issued to the application " + otherApp + ", which may not call"},
		{"no application", access(func(c map[string]any) { delete(c, "azp") }), nil, "names no application"},
		{"no app allowed", access(nil), []string{}, "issued to the application " + pitcherApp + ", which may not call"},
		{"v1 token", access(func(c map[string]any) { c["ver"] = "1.0" }), nil, "ver"},
		{"v1 token of the app (appid)", access(v1(pitcherApp)), nil, "ver"},
		{"app-only token", access(func(c map[string]any) { delete(c, "scp"); c["roles"] = []string{"x"} }), nil, "no delegated scope"},
		{"other scope", access(func(c map[string]any) { c["scp"] = "User.Read" }), nil, "lacks the scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clients := tc.clients
			if clients == nil {
				clients = []string{pitcherApp}
			}
			got, err := v.VerifyAccessToken(context.Background(), tc.raw, "access_as_user", clients)
			if tc.want == "" {
				if err != nil || got.TenantID != contoso || got.ObjectID != aliceOID || !slices.Contains(clients, got.AppID) {
					t.Fatalf("VerifyAccessToken = %+v, %v", got, err)
				}
				return
			}
			var it *InvalidTokenError
			if !errors.As(err, &it) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("VerifyAccessToken error = %v, want an InvalidTokenError mentioning %q", err, tc.want)
			}
		})
	}
}

package entra

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pitcher/connector/localworld/entrasim"
)

const redirect = "http://127.0.0.1:7071/api/auth/callback"

// signIn runs an authorization against the simulator without a browser
// (login_hint names a seeded user) and returns the redirect's query.
func signIn(t *testing.T, c *Client, hc *http.Client, upn, verifier string, scopes []string) url.Values {
	t.Helper()
	u := c.AuthCodeURL(AuthRequest{Tenant: "organizations", RedirectURI: redirect, Scopes: scopes, State: "st", Nonce: "n-1",
		Verifier: verifier, LoginHint: upn})
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func newClient(t *testing.T) (*Client, *entrasim.Sim, string, *http.Client) {
	t.Helper()
	sim, srv := entrasim.Start(t, entrasim.DefaultSeed())
	a, _ := NewAuthority(srv.URL)
	return NewClient(a, clientID, "local-entra-sim-secret", srv.Client()), sim, srv.URL, srv.Client()
}

var dynamicsScopes = []string{"openid", "profile", "offline_access", "https://contoso.crm.dynamics.com/user_impersonation"}

func TestCodeRedemptionAndRefresh(t *testing.T) {
	c, _, base, hc := newClient(t)
	ctx := context.Background()
	v := oauth2.GenerateVerifier()
	q := signIn(t, c, hc, "alice@contoso.example", v, dynamicsScopes)
	if q.Get("state") != "st" || q.Get("code") == "" {
		t.Fatalf("redirect query = %v", q)
	}
	if _, err := c.Exchange(ctx, "organizations", redirect, q.Get("code"), oauth2.GenerateVerifier(), dynamicsScopes); Classify(err) != ReauthRequired || !hasCode(err, 501481) {
		t.Errorf("Exchange with the wrong verifier = %v, want invalid_grant AADSTS501481", err)
	}
	q = signIn(t, c, hc, "alice@contoso.example", v, dynamicsScopes)
	tok, err := c.Exchange(ctx, "organizations", redirect, q.Get("code"), v, dynamicsScopes)
	if err != nil || tok.IDToken == "" || tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("Exchange = %+v, %v", tok, err)
	}
	if _, err := c.Exchange(ctx, "organizations", redirect, q.Get("code"), v, dynamicsScopes); !hasCode(err, 54005) {
		t.Errorf("redeeming a code twice = %v, want AADSTS54005", err)
	}
	// Refresh for another resource, with an explicit scope, at the user's tenant.
	r1, err := c.Refresh(ctx, contoso, tok.RefreshToken, []string{"https://fabrikam.crm.dynamics.com/user_impersonation", "offline_access"})
	if err != nil || r1.RefreshToken == "" || r1.RefreshToken == tok.RefreshToken {
		t.Fatalf("Refresh = %+v, %v; want a rotated refresh token", r1, err)
	}
	if aud := audience(t, r1.AccessToken); aud != "https://fabrikam.crm.dynamics.com" {
		t.Errorf("refreshed token audience = %q, want the scope's resource", aud)
	}
	if _, err := c.Refresh(ctx, contoso, tok.RefreshToken, []string{"https://contoso.crm.dynamics.com/user_impersonation"}); err != nil {
		t.Errorf("Entra keeps old refresh tokens valid after rotation; the simulator refused: %v", err)
	}
	_ = base
}

// TestRefreshErrors: each way a grant ends arrives as a typed error with
// Entra's codes, classified for the vault
// (docs/reference/entra-multitenant-oauth.md §2.6).
func TestRefreshErrors(t *testing.T) {
	tests := []struct {
		name   string
		admin  string // /_sim/ call before the refresh
		code   int
		class  Class
		oauth  string
		suberr string
	}{
		{"revoked", "/_sim/users/alice@contoso.example/revoke", 50173, ReauthRequired, "invalid_grant", ""},
		{"expired", "/_sim/users/alice@contoso.example/expire-refresh-tokens", 700082, ReauthRequired, "invalid_grant", ""},
		{"MFA demanded", "/_sim/users/alice@contoso.example/require-mfa", 50076, ReauthRequired, "interaction_required", "basic_action"},
		{"consent withdrawn", "/_sim/tenants/" + contoso + "/revoke-consent", 65001, ConsentRequired, "invalid_grant", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, base, hc := newClient(t)
			ctx := context.Background()
			v := oauth2.GenerateVerifier()
			q := signIn(t, c, hc, "alice@contoso.example", v, dynamicsScopes)
			tok, err := c.Exchange(ctx, "organizations", redirect, q.Get("code"), v, dynamicsScopes)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Post(base+tc.admin, "", nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("POST %s: %v", tc.admin, err)
			}
			resp.Body.Close()
			_, err = c.Refresh(ctx, contoso, tok.RefreshToken, []string{"https://contoso.crm.dynamics.com/user_impersonation"})
			var e *Error
			if !errors.As(err, &e) || !e.Has(tc.code) || e.Code != tc.oauth || e.SubError != tc.suberr || e.Status != 400 || e.TraceID == "" {
				t.Fatalf("Refresh after %s = %#v, want %s AADSTS%d (suberror %q)", tc.admin, err, tc.oauth, tc.code, tc.suberr)
			}
			if Classify(err) != tc.class {
				t.Errorf("Classify = %d, want %d", Classify(err), tc.class)
			}
			if strings.Contains(err.Error(), tok.RefreshToken) {
				t.Error("the error quotes the refresh token")
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	c, _, base, _ := newClient(t)
	ctx := context.Background()
	if _, err := c.ClientCredentials(ctx, contoso, "https://contoso.crm.dynamics.com/.default"); err != nil {
		t.Errorf("client credentials in an approved tenant: %v", err)
	}
	_, err := c.ClientCredentials(ctx, "22222222-2222-4222-8222-222222222222", "https://contoso.crm.dynamics.com/.default")
	if !hasCode(err, 700016) || Classify(err) != ConsentRequired {
		t.Errorf("client credentials in an unapproved tenant = %v, want AADSTS700016 (consent required)", err)
	}
	a, _ := NewAuthority(base)
	bad := NewClient(a, clientID, "wrong", http.DefaultClient)
	if _, err := bad.ClientCredentials(ctx, contoso, "https://contoso.crm.dynamics.com/.default"); Classify(err) != ClientMisconfigured || !hasCode(err, 7000215) {
		t.Errorf("wrong client secret = %v, want invalid_client AADSTS7000215", err)
	}
}

func hasCode(err error, n int) bool {
	var e *Error
	return errors.As(err, &e) && e.Has(n)
}

func audience(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := newParser().ParseUnverified(raw, mapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	aud, _ := tok.Claims.GetAudience()
	return strings.Join(aud, ",")
}

// TestThrottledTokenEndpoint: Entra's 429, with or without an OAuth body,
// is throttling to wait out (Retry-After kept), never a refusal.
func TestThrottledTokenEndpoint(t *testing.T) {
	for _, body := range []string{`<html>Too Many Requests</html>`, `{"error":"temporarily_unavailable","error_description":"AADSTS50196: loop","error_codes":[50196]}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(body))
		}))
		a, _ := NewAuthority(srv.URL)
		c := NewClient(a, clientID, "s", srv.Client())
		_, rerr := c.Refresh(context.Background(), contoso, "rt", []string{"https://contoso.crm.dynamics.com/user_impersonation"})
		_, xerr := c.Exchange(context.Background(), "organizations", redirect, "code", oauth2.GenerateVerifier(), dynamicsScopes)
		for name, err := range map[string]error{"refresh": rerr, "code redemption": xerr} {
			var e *Error
			if !errors.As(err, &e) || Classify(err) != Throttled || e.RetryAfter != 7*time.Second {
				t.Errorf("%s answered 429 %s: %#v (class %d), want Throttled with Retry-After 7s", name, body, err, Classify(err))
			}
		}
		srv.Close()
	}
}

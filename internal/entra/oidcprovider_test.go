package entra

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/pitcher/connector/localworld/testenv"
)

// TestSecondOpinionOIDCProvider runs the generic OAuth parts of Client
// (PKCE authorize URL, code redemption, refresh with an explicit scope,
// rotation, error parsing) against panva's oidc-provider, a certified
// OpenID provider, so entra-sim is not the only judge
// (docs/reference/entra-multitenant-oauth.md §6.1).
func TestSecondOpinionOIDCProvider(t *testing.T) {
	issuer := testenv.OIDCProvider(t)
	const redirect = "http://127.0.0.1:8080/cb"
	c := &Client{clientID: "app", clientSecret: "app-secret", http: http.DefaultClient,
		authorizeURL: func(string) string { return issuer + "/auth" }, tokenURL: func(string) string { return issuer + "/token" }}
	scopes := []string{"openid", "profile", "offline_access"}
	ctx := context.Background()

	v := oauth2.GenerateVerifier()
	code := authorizeAtProvider(t, c.AuthCodeURL(AuthRequest{Tenant: "x", RedirectURI: redirect, Scopes: scopes, State: "st4te",
		Nonce: "n0nce", Verifier: v, Prompt: "consent"}), redirect, "st4te")

	// A wrong verifier is refused in the provider's words, parsed as ours.
	_, err := c.Exchange(ctx, "x", redirect, code, oauth2.GenerateVerifier(), scopes)
	var e *Error
	if !errors.As(err, &e) || e.Code != "invalid_grant" || e.Status != http.StatusBadRequest || Classify(err) != ReauthRequired {
		t.Fatalf("Exchange with a wrong verifier = %#v, want invalid_grant (HTTP 400)", err)
	}
	v = oauth2.GenerateVerifier()
	code = authorizeAtProvider(t, c.AuthCodeURL(AuthRequest{Tenant: "x", RedirectURI: redirect, Scopes: scopes, State: "st4te",
		Nonce: "n0nce", Verifier: v, Prompt: "consent"}), redirect, "st4te")
	tok, err := c.Exchange(ctx, "x", redirect, code, v, scopes)
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" || tok.ExpiresAt.IsZero() {
		t.Fatalf("Exchange = %+v, %v; want access, refresh and ID tokens", tok, err)
	}
	// Refresh sends scope (x/oauth2 cannot); the provider rotates the token.
	r1, err := c.Refresh(ctx, "x", tok.RefreshToken, []string{"openid", "offline_access"})
	if err != nil || r1.AccessToken == "" || r1.RefreshToken == "" || r1.RefreshToken == tok.RefreshToken {
		t.Fatalf("Refresh = %+v, %v; want a new access token and a rotated refresh token", r1, err)
	}
	// Strict rotation: reusing the old token is refused and revokes the chain.
	if _, err := c.Refresh(ctx, "x", tok.RefreshToken, []string{"openid"}); !errors.As(err, &e) || e.Code != "invalid_grant" || Classify(err) != ReauthRequired {
		t.Errorf("reusing a rotated refresh token = %v, want invalid_grant", err)
	}
	if _, err := c.Refresh(ctx, "x", r1.RefreshToken, []string{"openid"}); Classify(err) != ReauthRequired {
		t.Errorf("the newest refresh token after a reuse = %v, want invalid_grant (chain revoked)", err)
	}
	// A scope beyond the grant is refused as invalid_scope.
	v = oauth2.GenerateVerifier()
	code = authorizeAtProvider(t, c.AuthCodeURL(AuthRequest{Tenant: "x", RedirectURI: redirect, Scopes: scopes, State: "s2",
		Nonce: "n", Verifier: v, Prompt: "consent"}), redirect, "s2")
	tok, err = c.Exchange(ctx, "x", redirect, code, v, scopes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, "x", tok.RefreshToken, []string{"openid", "email"}); !errors.As(err, &e) || e.Code != "invalid_scope" || Classify(err) != Other {
		t.Errorf("refresh for a scope never granted = %v, want invalid_scope", err)
	}
	// A code redeemed twice is refused (and, at this provider, revokes the
	// tokens it gave, as RFC 6749 §4.1.2 suggests).
	if _, err := c.Exchange(ctx, "x", redirect, code, v, scopes); !errors.As(err, &e) || e.Code != "invalid_grant" {
		t.Errorf("redeeming a code twice = %v, want invalid_grant", err)
	}
	if _, err := c.Refresh(ctx, "x", tok.RefreshToken, []string{"openid"}); Classify(err) != ReauthRequired {
		t.Errorf("refresh after the code was replayed = %v, want invalid_grant", err)
	}
}

var formAction = regexp.MustCompile(`action="([^"]+)"`)

// authorizeAtProvider plays the person at oidc-provider's development
// forms (log in as alice, grant consent) and returns the code.
func authorizeAtProvider(t *testing.T, authURL, redirect, state string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var final *url.URL
	hc := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			final = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := hc.Get(authURL)
	for step := 0; step < 6 && final == nil; step++ {
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := formAction.FindStringSubmatch(string(body))
		if m == nil {
			t.Fatalf("no form on %s:\n%s", resp.Request.URL, body)
		}
		form := url.Values{"prompt": {"consent"}}
		if strings.Contains(string(body), `name="login"`) {
			form = url.Values{"prompt": {"login"}, "login": {"alice"}, "password": {"any"}}
		}
		action, perr := url.Parse(html.UnescapeString(m[1]))
		if perr != nil {
			t.Fatal(perr)
		}
		resp, err = hc.PostForm(resp.Request.URL.ResolveReference(action).String(), form)
	}
	if final == nil {
		t.Fatal("the provider never redirected back")
	}
	if final.Query().Get("state") != state || final.Query().Get("code") == "" {
		t.Fatalf("redirect = %s, want a code and state %s", final, state)
	}
	return final.Query().Get("code")
}

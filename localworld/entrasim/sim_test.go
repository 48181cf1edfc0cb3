package entrasim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const connector = "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70"

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(v)
	return resp.StatusCode
}

// TestMetadata: a tenant's own issuer, the {tenantid} template for
// organizations, and JWKS entries carrying the template
// (docs/reference/entra-multitenant-oauth.md §3.1).
func TestMetadata(t *testing.T) {
	_, srv := Start(t, DefaultSeed())
	var m map[string]any
	getJSON(t, srv.URL+"/contoso.example/v2.0/.well-known/openid-configuration", &m)
	if m["issuer"] != srv.URL+"/11111111-1111-4111-8111-111111111111/v2.0" {
		t.Errorf("issuer of contoso.example = %v", m["issuer"])
	}
	getJSON(t, srv.URL+"/organizations/v2.0/.well-known/openid-configuration", &m)
	if m["issuer"] != srv.URL+"/{tenantid}/v2.0" || m["jwks_uri"] != srv.URL+"/organizations/discovery/v2.0/keys" {
		t.Errorf("organizations metadata = %v", m)
	}
	var jwks struct{ Keys []map[string]string }
	getJSON(t, srv.URL+"/common/discovery/v2.0/keys", &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["issuer"] != srv.URL+"/{tenantid}/v2.0" || jwks.Keys[0]["kid"] == "" {
		t.Errorf("jwks = %v", jwks)
	}
	var e map[string]any
	if code := getJSON(t, srv.URL+"/nowhere.example/v2.0/.well-known/openid-configuration", &e); code != 400 || e["error_codes"] == nil {
		t.Errorf("unknown tenant = %d %v, want 400 with error_codes", code, e)
	}
}

// TestAuthorizeNeverRedirectsToUnregisteredURIs: an unknown client or
// redirect URI gets Entra's own page, not a redirect.
func TestAuthorizeNeverRedirectsToUnregisteredURIs(t *testing.T) {
	_, srv := Start(t, DefaultSeed())
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct{ client, redirect, want string }{
		{"00000000-0000-4000-8000-000000000000", "http://127.0.0.1:7071/api/auth/callback", "AADSTS700016"},
		{connector, "https://evil.example/cb", "AADSTS50011"},
	} {
		q := url.Values{"client_id": {tc.client}, "redirect_uri": {tc.redirect}, "response_type": {"code"}, "scope": {"openid"}, "login_hint": {"alice@contoso.example"}}
		resp, err := hc.Get(srv.URL + "/organizations/oauth2/v2.0/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), tc.want) {
			t.Errorf("authorize(%s, %s) = %d to %q, want Entra's page with %s", tc.client, tc.redirect, resp.StatusCode, resp.Header.Get("Location"), tc.want)
		}
	}
}

func TestSeedValidation(t *testing.T) {
	if _, err := ParseSeed([]byte(`{"clients":[],"tenants":[],"extra":1}`)); err == nil {
		t.Error("a seed with an unknown field was accepted")
	}
	seed, _ := ParseSeed([]byte(`{"clients":[{"clientId":"NOT-A-GUID","redirectUris":[]}],"tenants":[{"id":"11111111-1111-4111-8111-111111111111","domain":"a.example","users":[{"oid":"x","upn":"u@a.example"}],"adminConsent":["nobody"]}]}`))
	_, err := New(seed)
	if err == nil || !strings.Contains(err.Error(), "clientId") || !strings.Contains(err.Error(), "oid") || !strings.Contains(err.Error(), "unknown client") {
		t.Errorf("New(bad seed) = %v, want every problem named", err)
	}
}

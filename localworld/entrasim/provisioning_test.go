package entrasim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

const (
	fabrikamID     = "22222222-2222-4222-8222-222222222222"
	connectorCB    = "http://127.0.0.1:7071/api/auth/callback"
	connectorScrt  = "local-entra-sim-secret"
	globalAdminWID = "62e90394-69f5-4237-9190-012177145e10"
)

// signInAndRedeem signs upn in to the connector with scopes and returns
// the token endpoint's answer.
func signInAndRedeem(t *testing.T, base, upn, scopes string) map[string]any {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {connector}, "redirect_uri": {connectorCB}, "response_type": {"code"}, "scope": {scopes}, "login_hint": {upn}}
	resp, err := hc.Get(base + "/organizations/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("sign-in of %s: redirect %s, want a code", upn, loc)
	}
	return postToken(t, base, "organizations", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {connectorCB}, "scope": {scopes}})
}

func postToken(t *testing.T, base, tenant string, form url.Values) map[string]any {
	t.Helper()
	form.Set("client_id", connector)
	form.Set("client_secret", connectorScrt)
	resp, err := http.PostForm(base+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// TestClientCredentialsNeedOnlyTheAppInTheTenant: as in Entra
// (docs/reference/entra-multitenant-oauth.md §1.3, AADSTS700016 "…or
// consented to by any user in the tenant"), one user's sign-in puts the app
// in the tenant and app-only tokens follow; an administrator's approval is
// not needed. A simulator that asked for one hid that an app token proves
// nothing about an approval.
func TestClientCredentialsNeedOnlyTheAppInTheTenant(t *testing.T) {
	_, srv := Start(t, DefaultSeed())
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"https://contoso.crm.dynamics.com/.default"}}
	if got := postToken(t, srv.URL, fabrikamID, cc); got["access_token"] != nil || !strings.Contains(got["error_description"].(string), "AADSTS700016") {
		t.Fatalf("client credentials before anyone used the app = %v, want AADSTS700016", got)
	}
	signInAndRedeem(t, srv.URL, "dave@fabrikam.example", "openid profile")
	if got := postToken(t, srv.URL, fabrikamID, cc); got["access_token"] == nil {
		t.Errorf("client credentials after a user's sign-in = %v, want a token", got)
	}
}

// TestIDTokensCarryDirectoryRoles: with groupMembershipClaims DirectoryRole
// (the connector's seed) ID tokens carry wids: an administrator's names the
// Global Administrator role, a member's does not.
func TestIDTokensCarryDirectoryRoles(t *testing.T) {
	_, srv := Start(t, DefaultSeed())
	for upn, admin := range map[string]bool{"admin@fabrikam.example": true, "dave@fabrikam.example": false} {
		tok := signInAndRedeem(t, srv.URL, upn, "openid profile")
		raw, _ := tok["id_token"].(string)
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
			t.Fatal(err)
		}
		var wids []string
		ws, _ := claims["wids"].([]any)
		for _, w := range ws {
			s, _ := w.(string)
			wids = append(wids, s)
		}
		if slices.Contains(wids, globalAdminWID) != admin {
			t.Errorf("%s: wids %v, want Global Administrator %v", upn, wids, admin)
		}
	}
}

package signin

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
)

func startLogin(t *testing.T, h *harness, r LoginRequest) string {
	t.Helper()
	u, err := h.svc.StartLogin(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLoginConnects(t *testing.T) {
	h := newHarness(t)
	h.approve(contoso)
	u := startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example", ReturnTo: "https://app.pitcher.com/done?x=1"})
	au, _ := url.Parse(u)
	q := au.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" || au.Path != "/organizations/oauth2/v2.0/authorize" ||
		q.Get("scope") != "openid profile "+discovery+"/user_impersonation offline_access" {
		t.Errorf("authorize URL = %s; want organizations, PKCE S256, nonce, state and the discovery scope", u)
	}
	back := h.visit(t, u)
	res, err := h.svc.FinishLogin(context.Background(), back)
	if err != nil || res.Outcome != Connected || res.OrgURL != orgURL || res.ReturnTo != "https://app.pitcher.com/done?x=1" {
		t.Fatalf("FinishLogin = %+v, %v; want connected to %s, back to the app", res, err, orgURL)
	}
	c, _ := h.store.conns.Get(context.Background(), contoso, aliceOID)
	if c.Status != store.StatusActive || c.DataverseUserID == "" || c.OrgURL != orgURL || len(c.RefreshToken) == 0 {
		t.Errorf("connection = %+v", c)
	}
	if len(h.queue.got) != 1 || h.queue.got[0] != contoso+"/"+aliceOID {
		t.Errorf("queued first syncs = %v, want Alice's", h.queue.got)
	}
	if len(h.queue.resumed) != 1 || h.queue.resumed[0] != contoso+"/"+aliceOID {
		t.Errorf("parked uploads resumed for %v, want Alice's (a sign-in resumes what waited for it)", h.queue.resumed)
	}
	// Replaying Entra's answer: the state works once.
	if _, err := h.svc.FinishLogin(context.Background(), back); apperr.KindOf(err) != apperr.Invalid || !strings.Contains(err.Error(), "already used") {
		t.Errorf("replayed callback = %v, want invalid: already used", err)
	}
	h.noSecretsLogged(t, back.Get("code"), back.Get("state"), q.Get("code_challenge"), q.Get("nonce"))
}

func TestLoginFromUnapprovedTenantChangesNothing(t *testing.T) {
	h := newHarness(t)
	// Contoso approved the app at Entra (seed), but not here: deny by default.
	res, err := h.svc.FinishLogin(context.Background(), h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example"})))
	if err != nil || res.Outcome != NeedsConsent || res.TenantID != contoso {
		t.Fatalf("FinishLogin = %+v, %v; want NeedsConsent for Contoso", res, err)
	}
	if h.store.conns.Len() != 0 || len(h.queue.got) != 0 {
		t.Errorf("a connection was stored (%d) or a sync queued (%v) for an unapproved tenant", h.store.conns.Len(), h.queue.got)
	}
	// Fabrikam has not approved at Entra: Entra refuses the non-admin first.
	res, err = h.svc.FinishLogin(context.Background(), h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "dave@fabrikam.example"})))
	if err != nil || res.Outcome != NeedsConsent || res.EntraError == nil || !res.EntraError.Has(65004) {
		t.Fatalf("FinishLogin after Entra refused = %+v, %v; want NeedsConsent with AADSTS65004", res, err)
	}
}

// TestLoginErrorRedirects: Entra's error redirects of
// docs/reference/entra-multitenant-oauth.md §1.3-§1.4.
func TestLoginErrorRedirects(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  Outcome
		kind  apperr.Kind
	}{
		{"error=consent_required&error_description=AADSTS65001%3A+not+consented", NeedsConsent, ""},
		{"error=access_denied&error_description=AADSTS90094%3A+Admin+consent+is+required", NeedsConsent, ""},
		{"error=access_denied&error_description=AADSTS65004%3A+declined", NeedsConsent, ""},
		{"error=invalid_request&error_description=AADSTS900144%3A+missing", 0, apperr.Unauthorized},
		{"code=", 0, apperr.Invalid},
		// access_denied is "not approved" only with a consent code or none at all.
		{"error=access_denied", NeedsConsent, ""},
		{"error=access_denied&error_description=AADSTS53003%3A+blocked+by+Conditional+Access", 0, apperr.Forbidden},
		{"error=access_denied&error_description=AADSTS50020%3A+user+from+another+tenant", 0, apperr.Unauthorized},
	} {
		h := newHarness(t)
		u, _ := url.Parse(startLogin(t, h, LoginRequest{}))
		q, _ := url.ParseQuery(tc.query)
		q.Set("state", u.Query().Get("state"))
		res, err := h.svc.FinishLogin(context.Background(), q)
		if res.Outcome != tc.want || apperr.KindOf(err) != tc.kind {
			t.Errorf("FinishLogin(%s) = %+v, %v; want outcome %d, error kind %q", tc.query, res, err, tc.want, tc.kind)
		}
		if h.store.conns.Len() != 0 {
			t.Errorf("FinishLogin(%s) stored a connection", tc.query)
		}
	}
}

// TestHostileCallbacks: forged, expired and misused states, a code from
// another flow, and ID tokens that fail validation: each is refused and
// nothing is stored.
func TestHostileCallbacks(t *testing.T) {
	type setup func(t *testing.T, h *harness) url.Values
	login := func(t *testing.T, h *harness) url.Values {
		return h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example"}))
	}
	withIDToken := func(change func(c map[string]any, simURL string)) setup {
		return func(t *testing.T, h *harness) url.Values {
			h.entra.idToken = func() string {
				now := time.Now()
				c := map[string]any{"aud": clientID, "iss": h.simURL + "/" + contoso + "/v2.0", "tid": contoso, "oid": aliceOID,
					"nonce": "?", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ver": "2.0"}
				change(c, h.simURL)
				return h.sim.SignToken(c)
			}
			return login(t, h)
		}
	}
	for _, tc := range []struct {
		name string
		prep setup
		kind apperr.Kind
		want string
	}{
		{"forged state", func(t *testing.T, h *harness) url.Values {
			q := login(t, h)
			q.Set("state", "forged-state-value")
			return q
		}, apperr.Invalid, "not issued by this app"},
		{"no state", func(t *testing.T, h *harness) url.Values { q := login(t, h); q.Del("state"); return q }, apperr.Invalid, "no valid state"},
		{"expired state", func(t *testing.T, h *harness) url.Values {
			q := login(t, h)
			h.svc.now = func() time.Time { return time.Now().Add(11 * time.Minute) }
			return q
		}, apperr.Invalid, "expired"},
		{"consent state used for sign-in", func(t *testing.T, h *harness) url.Values {
			q := login(t, h)
			cu, _ := h.svc.StartConsent(context.Background(), contoso)
			u, _ := url.Parse(cu)
			q.Set("state", u.Query().Get("state"))
			return q
		}, apperr.Invalid, "another kind of flow"},
		{"code of another flow (PKCE)", func(t *testing.T, h *harness) url.Values {
			a := login(t, h)
			b := login(t, h)
			a.Set("code", b.Get("code"))
			return a
		}, apperr.Invalid, "did not accept"},
		{"nonce mismatch", withIDToken(func(c map[string]any, _ string) { c["nonce"] = "attacker-nonce" }), apperr.Unauthorized, "nonce"},
		{"wrong issuer", withIDToken(func(c map[string]any, _ string) {
			c["nonce"] = nil
			c["iss"] = "https://evil.example/" + contoso + "/v2.0"
		}), apperr.Unauthorized, "iss"},
		{"tenant not matching issuer", withIDToken(func(c map[string]any, s string) { c["iss"] = s + "/" + fabrikam + "/v2.0" }), apperr.Unauthorized, "iss"},
		{"expired ID token", withIDToken(func(c map[string]any, _ string) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), apperr.Unauthorized, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.approve(contoso)
			q := tc.prep(t, h)
			_, err := h.svc.FinishLogin(context.Background(), q)
			if apperr.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FinishLogin = %v (%s), want %s mentioning %q", err, apperr.KindOf(err), tc.kind, tc.want)
			}
			if h.store.conns.Len() != 0 || len(h.queue.got) != 0 {
				t.Errorf("something was stored (%d connections) or queued (%v)", h.store.conns.Len(), h.queue.got)
			}
			h.noSecretsLogged(t, q.Get("code"))
		})
	}
}

func TestStartLoginRefusesBadInput(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		r     LoginRequest
		field string
	}{
		{LoginRequest{ReturnTo: "https://evil.example/done"}, "return_to"},
		{LoginRequest{ReturnTo: "https://app.pitcher.com/done/../../admin"}, "return_to"},
		{LoginRequest{ReturnTo: "https://app.pitcher.com/donex"}, "return_to"},
		{LoginRequest{ReturnTo: "//evil.example/done"}, "return_to"},
		{LoginRequest{ReturnTo: "https://app.pitcher.com@evil.example/done"}, "return_to"},
		{LoginRequest{ReturnTo: "https://app.pitcher.com/done/%2e%2e/x"}, "return_to"},
		{LoginRequest{ReturnTo: "javascript:alert(1)"}, "return_to"},
		{LoginRequest{Org: "http://contoso.crm.dynamics.com"}, "org"},
		{LoginRequest{Org: "https://contoso.crm.dynamics.com/api/data"}, "org"},
		// The user's token for org is sent to org: only Dynamics hosts.
		{LoginRequest{Org: "https://evil.example"}, "org"},
		{LoginRequest{Org: "https://contoso.crm.dynamics.com.evil.example"}, "org"},
		{LoginRequest{Org: "https://evildynamics.com"}, "org"},
		{LoginRequest{Org: "https://dynamics.com"}, "org"},
		{LoginRequest{Org: "http://127.0.0.1:7073"}, "org"}, // Global Discovery is not a local simulator here
	} {
		_, err := h.svc.StartLogin(context.Background(), tc.r)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.Invalid || len(e.Problems) != 1 || e.Problems[0].Field != tc.field {
			t.Errorf("StartLogin(%+v) = %v, want invalid naming %s", tc.r, err, tc.field)
		}
	}
	if len(h.store.flows) != 0 {
		t.Errorf("refused starts stored %d flows", len(h.store.flows))
	}
	for _, ok := range []string{"https://app.pitcher.com/done", "https://app.pitcher.com/done/sub?x=1", "pitcher://auth/ok"} {
		if _, err := h.svc.StartLogin(context.Background(), LoginRequest{ReturnTo: ok}); err != nil {
			t.Errorf("StartLogin(return_to=%s) = %v, want allowed", ok, err)
		}
	}
	for _, ok := range []string{"https://contoso.crm4.dynamics.com", "https://contoso.api.crm.dynamics.com", "https://Contoso.CRM9.dynamics.com",
		"https://contoso.crm.microsoftdynamics.us", "https://contoso.crm.appsplatform.us", "https://contoso.crm.dynamics.cn"} {
		if _, err := h.svc.StartLogin(context.Background(), LoginRequest{Org: ok}); err != nil {
			t.Errorf("StartLogin(org=%s) = %v, want allowed", ok, err)
		}
	}
}

func TestSeveralEnvironmentsAskTheUser(t *testing.T) {
	h := newHarness(t)
	h.approve(contoso)
	h.dyn.instances = append(h.dyn.instances, Instance{UniqueName: "contoso-test", URL: "https://contoso-test.crm.dynamics.com"})
	res, err := h.svc.FinishLogin(context.Background(), h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example"})))
	if err != nil || res.Outcome != ChooseEnvironment || len(res.Instances) != 2 {
		t.Fatalf("FinishLogin = %+v, %v; want a choice of 2 environments", res, err)
	}
	// Choosing one signs in for that environment directly.
	u := startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example", Org: "https://contoso-test.crm.dynamics.com"})
	if !strings.Contains(u, url.QueryEscape("https://contoso-test.crm.dynamics.com/user_impersonation")) {
		t.Errorf("authorize URL for a chosen environment = %s", u)
	}
	res, err = h.svc.FinishLogin(context.Background(), h.visit(t, u))
	if err != nil || res.Outcome != Connected || res.OrgURL != "https://contoso-test.crm.dynamics.com" {
		t.Fatalf("FinishLogin = %+v, %v", res, err)
	}
}

// blockingEntra answers every code redemption with err.
type blockingEntra struct {
	*swappingEntra
	err error
}

func (b blockingEntra) Exchange(context.Context, string, string, string, string, []string) (entra.Token, error) {
	return entra.Token{}, b.err
}

// TestRefusalsAtRedemption: Entra can refuse when the code is redeemed,
// after the redirect said yes. A Conditional Access block is told as such
// (not "could not reach Entra, try again"), throttling as throttling, and
// what Entra wrote in its description is never shown.
func TestRefusalsAtRedemption(t *testing.T) {
	const forged = "call 0800 555 0100"
	for _, tc := range []struct {
		name string
		err  *entra.Error
		kind apperr.Kind
		want string
	}{
		{"Conditional Access", &entra.Error{Status: 400, Code: "invalid_grant", Description: "AADSTS53003: " + forged, ErrorCodes: []int{53003}}, apperr.Forbidden, "Conditional Access"},
		{"throttled", &entra.Error{Status: 429, Code: "invalid_response", RetryAfter: 5 * time.Second}, apperr.Throttled, "busy"},
		{"not approved", &entra.Error{Status: 400, Code: "invalid_grant", Description: "AADSTS65001: " + forged, ErrorCodes: []int{65001}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.approve(contoso)
			h.svc.Entra = blockingEntra{h.entra, tc.err}
			res, err := h.svc.FinishLogin(context.Background(), h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example"})))
			if apperr.KindOf(err) != tc.kind || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("FinishLogin = %+v, %v (%s); want %q mentioning %q", res, err, apperr.KindOf(err), tc.kind, tc.want)
			}
			if e, ok := apperr.As(err); ok && strings.Contains(e.Message, "0800") {
				t.Errorf("the message shown repeats Entra's description: %q", e.Message)
			}
			if tc.kind == "" && res.Outcome != NeedsConsent {
				t.Errorf("outcome = %d, want NeedsConsent", res.Outcome)
			}
			if h.store.conns.Len() != 0 {
				t.Error("a connection was stored")
			}
		})
	}
}

// TestEnvironmentHostsFollowGlobalDiscovery: besides the Dynamics domains
// of Microsoft's clouds, an environment may be in Global Discovery's own
// family (its host without the first label), and on loopback when
// Discovery is the local simulator; no other host is an environment.
func TestEnvironmentHostsFollowGlobalDiscovery(t *testing.T) {
	for _, tc := range []struct {
		discovery string
		orgs      map[string]bool
	}{
		{"http://127.0.0.1:7073", map[string]bool{"http://127.0.0.1:7074": true, "http://localhost:7074": true,
			"https://contoso.crm.dynamics.com": true, "https://evil.example": false, "https://10.0.0.1": false}},
		{"https://globaldisco.crm.cloud.example", map[string]bool{"https://contoso.crm.cloud.example": true,
			"https://contoso.crm.dynamics.com": true, "https://cloud.example": false, "https://crm.cloud.example.evil.example": false}},
	} {
		h := newHarness(t)
		h.svc.cfg.DiscoveryURL = tc.discovery
		for org, want := range tc.orgs {
			if _, err := h.svc.StartLogin(context.Background(), LoginRequest{Org: org}); (err == nil) != want {
				t.Errorf("StartLogin(org=%s) with Discovery at %s = %v, want allowed %v", org, tc.discovery, err, want)
			}
		}
	}
}

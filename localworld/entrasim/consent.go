package entrasim

import (
	"net/http"
	"net/url"
	"strings"
)

// adminConsent is /{tenant}/v2.0/adminconsent and the older
// /{tenant}/adminconsent (docs/reference/entra-multitenant-oauth.md §1.1,
// §1.2): an administrator approves the app for the whole tenant. Error
// redirects carry admin_consent=True and no tenant, as Entra's do.
func (s *Sim) adminConsent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	seg := r.PathValue("tenant")
	tenant, client, ok := s.checkRequest(w, seg, q)
	if !ok {
		return
	}
	redirect, state := q.Get("redirect_uri"), q.Get("state")
	v2 := strings.HasSuffix(r.URL.Path, "/v2.0/adminconsent")
	fail := func(code string, aadsts int, msg string) {
		s.redirectError(w, r, redirect, state, code, aadsts, msg, url.Values{"admin_consent": {"True"}})
	}
	scope := q.Get("scope")
	if v2 && scope == "" {
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if strings.EqualFold(seg, "common") && v2 {
		fail("invalid_request", 90130, "Application is not supported for this API version: use a tenant or 'organizations', not 'common', for admin consent.")
		return
	}
	user, ok := s.pickUser(w, r, tenant, "", fail)
	if !ok {
		return
	}
	setSession(w, user)
	if !user.Admin {
		fail("access_denied", 90094, "Administrator consent is required. '"+client.Name+"' needs permission to access resources in your organization that only an admin can grant.")
		return
	}
	user.tenant.consented[client.ClientID], user.tenant.provisioned[client.ClientID] = true, true
	s.stats.AdminConsents++
	out := url.Values{"admin_consent": {"True"}, "tenant": {user.tenant.ID}, "state": {state}}
	if scope != "" {
		out.Set("scope", scope)
	}
	http.Redirect(w, r, appendQuery(redirect, out), http.StatusFound)
}

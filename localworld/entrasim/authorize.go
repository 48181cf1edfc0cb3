package entrasim

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// oidcScopes are the scopes that name no resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// authorize is /{tenant}/oauth2/v2.0/authorize
// (docs/reference/entra-multitenant-oauth.md §2.2).
func (s *Sim) authorize(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	seg := r.PathValue("tenant")
	tenant, client, ok := s.checkRequest(w, seg, q)
	if !ok {
		return
	}
	redirect, state := q.Get("redirect_uri"), q.Get("state")
	fail := func(code string, aadsts int, msg string) {
		s.redirectError(w, r, redirect, state, code, aadsts, msg, nil)
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", 700054, "response_type '"+q.Get("response_type")+"' is not supported; use code.")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	method := q.Get("code_challenge_method")
	if q.Get("code_challenge") != "" && method != "S256" && method != "plain" && method != "" {
		fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter or unsupported code_challenge_method.")
		return
	}
	user, ok := s.pickUser(w, r, tenant, client.ClientID, fail)
	if !ok {
		return
	}
	setSession(w, user) // signed in, whatever the consent check says next
	if resourceOf(scopes) != "" && !user.consented(client.ClientID) {
		switch {
		case q.Get("prompt") == "none":
			fail("consent_required", 65001, "The user or administrator has not consented to use the application with ID '"+client.ClientID+"'. Send an interactive authorization request for this user and resource.")
			return
		case !user.Admin:
			// Entra stops a non-admin at "Need admin approval" (AADSTS90094);
			// leaving that page redirects with access_denied
			// (docs/reference/entra-multitenant-oauth.md §1.4).
			fail("access_denied", 65004, "User declined to consent to access the app. Administrator consent is required (AADSTS90094).")
			return
		}
		user.userConsent[client.ClientID] = true // an administrator accepts the prompt for themselves
	}
	user.mfaRequired = false                        // an interactive sign-in satisfies MFA
	user.tenant.provisioned[client.ClientID] = true // a sign-in puts the app in the user's tenant
	code := randomToken()
	s.codes[code] = &authCode{client: client.ClientID, redirectURI: redirect, tenantPath: strings.ToLower(seg), user: user,
		scopes: scopes, challenge: q.Get("code_challenge"), method: method, nonce: q.Get("nonce"),
		expires: s.now().Add(10 * 60e9)}
	http.Redirect(w, r, appendQuery(redirect, url.Values{"code": {code}, "state": {state}}), http.StatusFound)
}

// resourceOf returns the resource the scopes name (the first scope that is
// not an OpenID scope, without its permission), or "" when they name none.
func resourceOf(scopes []string) string {
	for _, sc := range scopes {
		if oidcScopes[sc] {
			continue
		}
		if i := strings.LastIndex(sc, "/"); i > 0 {
			return strings.TrimRight(sc[:i], "/")
		}
		return sc
	}
	return ""
}

// permissionsOf returns the permissions the scopes ask of resource.
func permissionsOf(scopes []string, resource string) []string {
	var out []string
	for _, sc := range scopes {
		if oidcScopes[sc] || !strings.HasPrefix(sc, resource) {
			continue
		}
		p := strings.TrimLeft(sc[len(resource):], "/")
		if p == ".default" {
			p = "user_impersonation"
		}
		out = append(out, p)
	}
	return out
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Sim) sortedTenants() []*Tenant {
	out := make([]*Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

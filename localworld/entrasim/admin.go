package entrasim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// addAdminRoutes mounts the test-only admin API under /_sim/. Every call
// answers JSON; an unknown user or tenant is a 404.
//
//	POST /_sim/users/{upn}/revoke                 revoke the user's refresh tokens and own consents (AADSTS50173)
//	POST /_sim/users/{upn}/expire-refresh-tokens  the user's refresh tokens expire (AADSTS700082)
//	POST /_sim/users/{upn}/require-mfa            refreshes fail with AADSTS50076 until an interactive sign-in
//	POST /_sim/tenants/{tenant}/revoke-consent    withdraw every consent in the tenant (AADSTS65001) and remove the app
//	GET  /_sim/tenants/{tenant}                   the tenant's consent state
//	POST /_sim/keys/rotate[?retire=true]          new signing key; old ones stay published unless retired
//	POST /_sim/tokens                             mint an access token: {"upn","clientId","scope"}
//	GET  /_sim/stats                              counters (codes redeemed, refreshes per user, ...)
func (s *Sim) addAdminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/users/{upn}/revoke", s.withUser(func(u *User) { u.revokedBefore = s.now(); u.userConsent = map[string]bool{} }))
	mux.HandleFunc("POST /_sim/users/{upn}/expire-refresh-tokens", s.withUser(func(u *User) {
		for _, g := range s.rts {
			if g.user == u {
				g.expires = s.now().Add(-time.Second)
			}
		}
	}))
	mux.HandleFunc("POST /_sim/users/{upn}/require-mfa", s.withUser(func(u *User) { u.mfaRequired = true }))
	mux.HandleFunc("POST /_sim/tenants/{tenant}/revoke-consent", s.withTenant(func(t *Tenant) {
		t.consented, t.provisioned = map[string]bool{}, map[string]bool{}
		for _, u := range t.Users {
			u.userConsent = map[string]bool{}
		}
	}))
	mux.HandleFunc("GET /_sim/tenants/{tenant}", s.withTenant(func(*Tenant) {}))
	mux.HandleFunc("POST /_sim/keys/rotate", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.rotateKeys(r.URL.Query().Get("retire") == "true"); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"activeKid": s.keys[len(s.keys)-1].kid, "published": len(s.keys)})
	})
	mux.HandleFunc("POST /_sim/tokens", s.mint)
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
}

// Stats returns a copy of the simulator's counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Refreshes = make(map[string]int, len(s.stats.Refreshes))
	for k, v := range s.stats.Refreshes {
		st.Refreshes[k] = v
	}
	return st
}

func (s *Sim) withUser(f func(*User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		u := s.users[strings.ToLower(r.PathValue("upn"))]
		if u == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no seeded user " + r.PathValue("upn")})
			return
		}
		f(u)
		writeJSON(w, http.StatusOK, map[string]any{"upn": u.UPN, "mfaRequired": u.mfaRequired})
	}
}

func (s *Sim) withTenant(f func(*Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		t, ok := s.resolveTenant(r.PathValue("tenant"))
		if !ok || t == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no seeded tenant " + r.PathValue("tenant")})
			return
		}
		f(t)
		approved := []string{}
		for c, ok := range t.consented {
			if ok {
				approved = append(approved, c)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": t.ID, "domain": t.Domain, "adminConsent": approved})
	}
}

// mint issues an access token as if clientId had asked for scope on behalf
// of upn: the device-token tests' way to a token for this app's API.
func (s *Sim) mint(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UPN      string `json:"upn"`
		ClientID string `json:"clientId"`
		Scope    string `json:"scope"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"upn\",\"clientId\",\"scope\"}"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, c := s.users[strings.ToLower(req.UPN)], s.clients[req.ClientID]
	scopes := strings.Fields(req.Scope)
	resource := resourceOf(scopes)
	if u == nil || c == nil || resource == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown upn or clientId, or a scope without a resource"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(s.AccessTokenLifetime.Seconds()),
		"access_token": s.accessToken(c.ClientID, u, resource, permissionsOf(scopes, resource), s.now())})
}

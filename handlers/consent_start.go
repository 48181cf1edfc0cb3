package handlers

import (
	"log/slog"
	"net/http"
)

// adminConsentStart is AdminConsentStart: GET /api/consent/start?tenant=
// redirects an administrator to Entra's admin-consent page for the tenant
// (a tenant id, a domain, or organizations when unknown).
func adminConsentStart(logger *slog.Logger, s SignIn, l links) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.StartConsent(r.Context(), r.URL.Query().Get("tenant"))
		if err != nil {
			errorPage(w, r, logger, l, "AdminConsentStart", err)
			return
		}
		redirectBound(w, s, l, u)
	}
}

// redirect sends the browser to u without caching and without a Referer.
func redirect(w http.ResponseWriter, u string) {
	w.Header().Set("Location", u)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

package handlers

import (
	"log/slog"
	"net/http"

	"github.com/pitcher/connector/internal/signin"
)

// loginStart is LoginStart: GET /api/login?return_to=&org=&login_hint=
// redirects a user to Entra's sign-in (authorization code with PKCE).
func loginStart(logger *slog.Logger, s SignIn, l links) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		u, err := s.StartLogin(r.Context(), signin.LoginRequest{ReturnTo: q.Get("return_to"), Org: q.Get("org"),
			LoginHint: q.Get("login_hint"), DomainHint: q.Get("domain_hint")})
		if err != nil {
			errorPage(w, r, logger, l, "LoginStart", err)
			return
		}
		redirectBound(w, s, l, u)
	}
}

package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/obs"
)

// authedFunc is an API function that runs only for an authenticated
// caller. caller.TenantID and caller.UserID key every lookup of user data.
type authedFunc func(w http.ResponseWriter, r *http.Request, caller apiauth.Caller)

// authenticated guards an API function: without a valid Entra access token
// for this app, from an approved tenant and a connected user, the call is
// answered 401 or 403 with a JSON error and a WWW-Authenticate header
// (RFC 6750 §3), and h never runs.
func authenticated(auth Authenticator, function string, h authedFunc) http.Handler {
	return guarded(auth.Authenticate, function, h)
}

// guarded runs h for the caller check names from the Authorization header,
// and answers check's refusal otherwise. The request's log line says why
// it was refused (words that never hold the token, e.g. the application a
// token was issued to).
func guarded(check func(ctx context.Context, authorization string) (apiauth.Caller, error), function string, h authedFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := check(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			var ae *apiauth.Error
			if errors.As(err, &ae) {
				w.Header().Set("WWW-Authenticate", challenge(ae))
				if rec, ok := w.(*statusRecorder); ok {
					rec.refusal = ae.Err.Message
				}
			}
			writeError(w, err, function, r.Header.Get("X-Azure-Functions-InvocationId"))
			return
		}
		obs.SetUser(r.Context(), caller.TenantID, caller.UserID)
		h(w, r, caller)
	})
}

// challenge is the WWW-Authenticate value of a refusal.
func challenge(e *apiauth.Error) string {
	v := `Bearer realm="pitcher-connector"`
	if e.Challenge != "" {
		v += `, error="` + e.Challenge + `", error_description="` + quotable(e.Err.Message) + `"`
	}
	return v
}

// quotable makes s safe inside a quoted-string: no quotes, backslashes or
// control characters.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return '\''
		}
		return r
	}, s)
}

// notImplementedAuthed answers an authenticated call to a function whose
// capability is not built yet.
func notImplementedAuthed(function string) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, _ apiauth.Caller) {
		writeError(w, errNotImplemented(function), function, r.Header.Get("X-Azure-Functions-InvocationId"))
	}
}

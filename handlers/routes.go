package handlers

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/pitcher/connector/internal/apperr"
)

// addRoutes is the whole surface of the app: one line per function of
// functions/. HTTP functions are forwarded by the host to /api/<route> with
// their original method; the others are invoked at POST /<FunctionName>.
func addRoutes(mux *http.ServeMux, logger *slog.Logger) {
	mux.HandleFunc("GET /{$}", ready)

	mux.Handle("GET /api/consent/start", httpFunction(logger, "AdminConsentStart", notImplemented("AdminConsentStart")))
	mux.Handle("GET /api/consent/callback", httpFunction(logger, "AdminConsentCallback", notImplemented("AdminConsentCallback")))
	mux.Handle("GET /api/login", httpFunction(logger, "LoginStart", notImplemented("LoginStart")))
	mux.Handle("GET /api/auth/callback", httpFunction(logger, "LoginCallback", notImplemented("LoginCallback")))
	mux.Handle("POST /api/uploads", httpFunction(logger, "UploadIntake", notImplemented("UploadIntake")))
	mux.Handle("GET /api/uploads/{id}", httpFunction(logger, "UploadStatus", notImplemented("UploadStatus")))
	mux.Handle("GET /api/changes", httpFunction(logger, "Changes", notImplemented("Changes")))
	mux.Handle("GET /api/diagnostics", httpFunction(logger, "Diagnostics", notImplemented("Diagnostics")))

	mux.Handle("POST /SyncScheduler", invoke(logger, "SyncScheduler", notImplementedInvocation))
	mux.Handle("POST /SyncWorker", invoke(logger, "SyncWorker", notImplementedInvocation))
	mux.Handle("POST /UploadWorker", invoke(logger, "UploadWorker", notImplementedInvocation))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apperr.E(apperr.NotFound, "no function serves %s %s", r.Method, r.URL.Path), "", r.Header.Get("X-Azure-Functions-InvocationId"))
	})
}

// notImplemented answers for a function whose capability is not built yet:
// a 501 that names it, never a fake success.
func notImplemented(function string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotImplemented(function), function, r.Header.Get("X-Azure-Functions-InvocationId"))
	})
}

func notImplementedInvocation(_ context.Context, inv *Invocation) error {
	return errNotImplemented(inv.Function)
}

func errNotImplemented(function string) error {
	return apperr.E(apperr.NotImplemented, "function %s is not implemented yet", function)
}

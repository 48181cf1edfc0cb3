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
func addRoutes(mux *http.ServeMux, logger *slog.Logger, d Deps) {
	mux.HandleFunc("GET /{$}", ready)

	l := links{base: d.PublicBaseURL}
	browser := func(name string, h func(*slog.Logger, SignIn, links) http.HandlerFunc) http.Handler {
		if d.SignIn == nil {
			return httpFunction(logger, name, notImplemented(name))
		}
		return httpFunction(logger, name, h(logger, d.SignIn, l))
	}
	api := func(name string, h authedFunc) http.Handler {
		if d.Auth == nil {
			return httpFunction(logger, name, notImplemented(name))
		}
		return httpFunction(logger, name, authenticated(d.Auth, name, h))
	}
	mux.Handle("GET /api/consent/start", browser("AdminConsentStart", adminConsentStart))
	mux.Handle("GET /api/consent/callback", browser("AdminConsentCallback", adminConsentCallback))
	mux.Handle("GET /api/login", browser("LoginStart", loginStart))
	mux.Handle("GET /api/auth/callback", browser("LoginCallback", loginCallback))
	uploads := func(name string, h func(Uploads, links) authedFunc) http.Handler {
		if d.Uploads == nil {
			return api(name, notImplementedAuthed(name))
		}
		return api(name, h(d.Uploads, l))
	}
	mux.Handle("POST /api/uploads", uploads("UploadIntake", uploadIntake))
	mux.Handle("GET /api/uploads/{id}", uploads("UploadStatus", uploadStatus))
	mux.Handle("GET /api/changes", api("Changes", changesOr501(d.Changes)))
	mux.Handle("GET /api/documents/{id}", api("Documents", documentsOr501(d.Documents)))
	if d.Diagnostics != nil && d.Auth != nil {
		mux.Handle("GET /api/diagnostics", diagnostics(logger, d.Auth, d.Diagnostics, d.DiagnosticsKey))
	} else {
		mux.Handle("GET /api/diagnostics", api("Diagnostics", notImplementedAuthed("Diagnostics")))
	}

	if lc := d.Lifecycle; lc != nil {
		mux.Handle("GET /api/connection", httpFunction(logger, "Connection", identified(lc.Identify, "Connection", connectionGet(*lc))))
		mux.Handle("DELETE /api/connection", httpFunction(logger, "Connection", identified(lc.Identify, "Connection", connectionDelete(*lc, l))))
		mux.Handle("POST /LifecycleWorker", invoke(logger, "LifecycleWorker", lifecycleWorker(logger, *lc)))
		mux.Handle("POST /Retention", invoke(logger, "Retention", retention(*lc)))
	} else {
		mux.Handle("/api/connection", httpFunction(logger, "Connection", notImplemented("Connection")))
		mux.Handle("POST /LifecycleWorker", invoke(logger, "LifecycleWorker", notImplementedInvocation))
		mux.Handle("POST /Retention", invoke(logger, "Retention", notImplementedInvocation))
	}

	mux.Handle("POST /SyncScheduler", invoke(logger, "SyncScheduler", schedulerOr501(d.Scheduler)))
	mux.Handle("POST /SyncWorker", invoke(logger, "SyncWorker", syncWorkerOr501(logger, d.SyncWorker)))
	if d.Uploads != nil {
		mux.Handle("POST /UploadWorker", invoke(logger, "UploadWorker", uploadWorker(d.Uploads)))
	} else {
		mux.Handle("POST /UploadWorker", invoke(logger, "UploadWorker", notImplementedInvocation))
	}

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

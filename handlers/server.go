// Package handlers is the custom-handler server the Azure Functions host
// talks to: it answers the host's readiness probe on GET /, serves forwarded
// HTTP functions on /api/<route>, and runs the other functions' invocations
// posted to /<FunctionName>.
package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/obs"
)

// NewServer returns the handler for every function of the app, using the
// engines in d (nil members leave their functions answering 501).
func NewServer(logger *slog.Logger, d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, logger, d)
	return mux
}

// ready answers the host's readiness probe. It must not depend on anything
// slow: the host waits for the first response before it sends invocations.
func ready(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ready\n"))
}

// httpFunction wraps the handler of a forwarded HTTP function: it gives
// the request an obs.Scope (authenticated functions add the caller), logs
// its outcome (never the query string, which can carry codes and state;
// with a refusal of the caller's credentials, why) and turns a panic into
// a 500 instead of a dead handler.
func httpFunction(logger *slog.Logger, name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Azure-Functions-InvocationId")
		scope := &obs.Scope{Function: name, InvocationID: id}
		r = r.WithContext(obs.WithScope(r.Context(), scope))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			var err error
			if p := recover(); p != nil {
				err = apperr.Wrap(apperr.Internal, fmt.Errorf("panic: %v\n%s", p, debug.Stack()), "internal error")
				if rec.status == 0 {
					writeError(rec, err, name, id)
				}
			}
			if err == nil && rec.kind != "" {
				scope.SetOutcome(string(rec.kind))
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK // net/http's answer when nothing was written
			}
			attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path)}
			if rec.refusal != "" {
				attrs = append(attrs, slog.String("refusal", rec.refusal))
			}
			logInvocation(r.Context(), logger, "request", scope, status, err, time.Since(start), attrs...)
		}()
		h.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status  int
	kind    apperr.Kind // the error kind answered, if any
	refusal string      // why the caller's credentials were refused, if they were
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// durationMs is the duration attribute of every log record, in milliseconds
// so that log queries can compare and chart it.
func durationMs(d time.Duration) slog.Attr {
	return slog.Float64("durationMs", float64(d.Microseconds())/1000)
}

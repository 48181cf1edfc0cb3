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

// httpFunction wraps the handler of a forwarded HTTP function: it logs the
// outcome (never the query string, which can carry codes and state) and turns
// a panic into a 500 instead of a dead handler.
func httpFunction(logger *slog.Logger, name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Azure-Functions-InvocationId")
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				err := apperr.Wrap(apperr.Internal, fmt.Errorf("panic: %v\n%s", p, debug.Stack()), "internal error")
				logger.Error("request failed", "function", name, "invocationId", id, "error", err.Error())
				if rec.status == 0 {
					writeError(rec, err, name, id)
				}
			}
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			logger.LogAttrs(r.Context(), level, "request",
				slog.String("function", name), slog.String("invocationId", id),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), durationMs(time.Since(start)))
		}()
		h.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
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

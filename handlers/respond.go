package handlers

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/pitcher/connector/internal/apperr"
)

// statusFor is the one table mapping application error kinds to HTTP status
// codes, for forwarded HTTP requests and for invocations alike (any non-2xx
// fails an invocation; Service Bus then abandons the message).
var statusFor = map[apperr.Kind]int{
	apperr.Invalid:        http.StatusBadRequest,
	apperr.Unauthorized:   http.StatusUnauthorized,
	apperr.Forbidden:      http.StatusForbidden,
	apperr.NotFound:       http.StatusNotFound,
	apperr.Conflict:       http.StatusConflict,
	apperr.Gone:           http.StatusGone,
	apperr.TooLarge:       http.StatusRequestEntityTooLarge,
	apperr.Throttled:      http.StatusTooManyRequests,
	apperr.Reauth:         http.StatusForbidden,
	apperr.Transient:      http.StatusServiceUnavailable,
	apperr.Permanent:      http.StatusUnprocessableEntity,
	apperr.NotImplemented: http.StatusNotImplemented,
	apperr.Internal:       http.StatusInternalServerError,
}

// levelFor says how loudly a failure is logged: the caller's mistakes are
// warnings, ours are errors.
func levelFor(err error) slog.Level {
	switch apperr.KindOf(err) {
	case apperr.Invalid, apperr.Unauthorized, apperr.Forbidden, apperr.NotFound, apperr.Conflict, apperr.Gone, apperr.TooLarge, apperr.Reauth:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong in words safe to show the caller.
type ErrorDetail struct {
	Code         apperr.Kind      `json:"code"`
	Message      string           `json:"message"`
	Problems     []apperr.Problem `json:"problems,omitempty"`
	Function     string           `json:"function,omitempty"`
	InvocationID string           `json:"invocationId,omitempty"`
}

// writeError answers with err's status and a safe description of it.
// Internal errors are described generically; their cause is only logged.
func writeError(w http.ResponseWriter, err error, function, invocationID string) {
	kind := apperr.KindOf(err)
	d := ErrorDetail{Code: kind, Message: "internal error; the details are in the function's logs", Function: function, InvocationID: invocationID}
	if e, ok := apperr.As(err); ok && kind != apperr.Internal {
		d.Message, d.Problems = e.Message, e.Problems
	} else if kind != apperr.Internal { // a client's typed error: its kind, not its text
		d.Message = "the request failed (" + string(kind) + "); the details are in the function's logs"
	}
	status := statusOf(err)
	if rec, ok := w.(*statusRecorder); ok {
		rec.kind = kind
	}
	if c := apperr.ClassOf(err); c.Kind == apperr.Throttled && c.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(c.RetryAfter.Seconds()+0.999)))
	}
	writeJSON(w, status, ErrorBody{Error: d})
}

// statusOf is the HTTP status of err's kind.
func statusOf(err error) int {
	if status, ok := statusFor[apperr.KindOf(err)]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// writeJSON answers status with v as JSON: every JSON answer of the
// handler, to the app, a browser or the host, is written here. It is never
// cached, and never read as anything but JSON (nosniff: a browser does not
// guess HTML or script from a body that echoes a caller's text).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

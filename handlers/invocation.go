package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/funcwire"
	"github.com/pitcher/connector/internal/obs"
)

// Invocation is one decoded invocation of a non-HTTP function.
type Invocation struct {
	ID       string // X-Azure-Functions-InvocationId
	Function string // the function's folder name
	Request  funcwire.InvokeRequest
	logs     []string
}

// Logf adds a line to the invocation's Logs, which the host correlates with
// the invocation. Never log tokens, codes, secrets or document bodies.
func (inv *Invocation) Logf(format string, args ...any) {
	inv.logs = append(inv.logs, fmt.Sprintf(format, args...))
}

// invocationFunc runs one invocation. A nil error completes it (and, for
// Service Bus, the message); any error fails it.
type invocationFunc func(ctx context.Context, inv *Invocation) error

// invoke adapts fn to the host's invocation protocol: it decodes the payload,
// runs fn, and encodes the result. Failures answer non-2xx and are logged to
// stdout too, because the host drops Logs from failed invocations. A panic in
// fn fails the invocation; it never takes the handler down.
func invoke(logger *slog.Logger, name string, fn invocationFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inv := &Invocation{ID: r.Header.Get(funcwire.HeaderInvocationID), Function: name}
		scope := &obs.Scope{Function: name, InvocationID: inv.ID}
		ctx := obs.WithScope(r.Context(), scope)
		var err error
		inv.Request, err = funcwire.ReadRequest(r)
		if err == nil {
			err = runGuarded(ctx, fn, inv)
		}
		status := http.StatusOK
		if err != nil {
			status = statusOf(err)
		}
		var extra []slog.Attr
		if err != nil { // the host drops Logs of a failed invocation
			extra = append(extra, slog.Any("logs", inv.logs))
		}
		logInvocation(ctx, logger, "invocation", scope, status, err, time.Since(start), extra...)
		if err != nil {
			writeError(w, err, name, inv.ID)
			return
		}
		logs := inv.logs
		if logs == nil {
			logs = []string{}
		}
		writeJSON(w, http.StatusOK, funcwire.InvokeResponse{Outputs: map[string]any{}, Logs: logs})
	})
}

// logInvocation writes the one line every invocation and request ends
// with: function, invocationId, tenant and user (as a pseudonym, by the
// obs handler), success, outcome, status and duration. Failures are logged
// at Warn (the caller's mistakes) or Error (ours), with the error.
func logInvocation(ctx context.Context, logger *slog.Logger, msg string, scope *obs.Scope, status int, err error, elapsed time.Duration, extra ...slog.Attr) {
	level, outcome := slog.LevelInfo, scope.Outcome()
	attrs := []slog.Attr{slog.String("function", scope.Function), slog.String("invocationId", scope.InvocationID)}
	if tenant, user := scope.User(); tenant != "" {
		attrs = append(attrs, slog.String("tenant", tenant))
		if user != "" {
			attrs = append(attrs, slog.String("user", user))
		}
	}
	switch {
	case err != nil:
		level, outcome = levelFor(err), string(apperr.KindOf(err))
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	if outcome == "" {
		outcome = "ok"
	}
	attrs = append(attrs, slog.Bool("success", err == nil && status < 400), slog.String("outcome", outcome),
		slog.Int("status", status), durationMs(elapsed))
	attrs = append(attrs, extra...)
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	logger.LogAttrs(ctx, level, msg, attrs...)
}

func runGuarded(ctx context.Context, fn invocationFunc, inv *Invocation) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = apperr.Wrap(apperr.Internal, fmt.Errorf("panic: %v\n%s", p, debug.Stack()), "internal error")
		}
	}()
	return fn(ctx, inv)
}

package handlers

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/obs"
)

// Diagnostics runs the connector's checks (internal/diagnose): the full
// report, for support, or a user's own, for the user.
type Diagnostics interface {
	Run(ctx context.Context, target diagnose.Target) diagnose.Report
	RunOwn(ctx context.Context, target diagnose.Target) diagnose.Report
}

var (
	_ Diagnostics = (*diagnose.Doctor)(nil)
	_ Diagnostics = (*diagnose.Shared)(nil)
)

// DiagnosticsKeyHeader carries DIAGNOSTICS_KEY for tenant-wide diagnostics.
const DiagnosticsKeyHeader = "X-Diagnostics-Key"

// diagnostics is the Diagnostics function, GET /api/diagnostics. With a
// device token it answers the caller's own report (RunOwn: their checks
// and a redacted verdict on the infrastructure; tenant and user may not be
// chosen). With the X-Diagnostics-Key header equal to DIAGNOSTICS_KEY it
// answers the full report (Run) of ?tenant= and ?user= (either may be left
// out: the deployment, or the whole organisation). The answer is 200 with
// the report whether or not checks failed; its ok says which.
func diagnostics(logger *slog.Logger, auth Authenticator, d Diagnostics, key string) http.Handler {
	own := authenticated(auth, "Diagnostics", func(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
		q := r.URL.Query()
		if t, u := q.Get("tenant"), q.Get("user"); (t != "" && !strings.EqualFold(t, caller.TenantID)) || (u != "" && !strings.EqualFold(u, caller.UserID)) {
			e := &apiauth.Error{Err: apperr.E(apperr.Forbidden, "a device token opens only its own user's diagnostics; leave out tenant and user, or use the diagnostics key"), Challenge: "insufficient_scope"}
			w.Header().Set("WWW-Authenticate", challenge(e))
			writeError(w, e, "Diagnostics", r.Header.Get("X-Azure-Functions-InvocationId"))
			return
		}
		writeReport(r.Context(), w, d.RunOwn, diagnose.Target{TenantID: caller.TenantID, UserID: caller.UserID})
	})
	return httpFunction(logger, "Diagnostics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent, ok := r.Header[http.CanonicalHeaderKey(DiagnosticsKeyHeader)]
		if !ok {
			own.ServeHTTP(w, r)
			return
		}
		inv := r.Header.Get("X-Azure-Functions-InvocationId")
		if key == "" || len(sent) != 1 || subtle.ConstantTimeCompare([]byte(sent[0]), []byte(key)) != 1 {
			writeError(w, apperr.E(apperr.Unauthorized, "the diagnostics key is not valid (DIAGNOSTICS_KEY; unset, it opens nothing): send the right key in %s, or a device token for your own diagnostics", DiagnosticsKeyHeader), "Diagnostics", inv)
			return
		}
		q := r.URL.Query()
		t := diagnose.Target{TenantID: strings.ToLower(q.Get("tenant")), UserID: strings.ToLower(q.Get("user"))}
		var problems []apperr.Problem
		if t.TenantID != "" && !entra.IsGUID(t.TenantID) {
			problems = append(problems, apperr.Problem{Field: "tenant", Message: "must be the organisation's Entra tenant id (a GUID)"})
		}
		if t.UserID != "" && !entra.IsGUID(t.UserID) {
			problems = append(problems, apperr.Problem{Field: "user", Message: "must be the user's Entra object id (a GUID)"})
		}
		if t.UserID != "" && t.TenantID == "" {
			problems = append(problems, apperr.Problem{Field: "tenant", Message: "is required with user: a user id is unique only within its tenant"})
		}
		if len(problems) > 0 {
			writeError(w, apperr.InvalidProblems("the diagnostics target is not valid", problems), "Diagnostics", inv)
			return
		}
		if t.TenantID != "" {
			obs.SetUser(r.Context(), t.TenantID, t.UserID)
		}
		writeReport(r.Context(), w, d.Run, t)
	}))
}

func writeReport(ctx context.Context, w http.ResponseWriter, run func(context.Context, diagnose.Target) diagnose.Report, t diagnose.Target) {
	rep := run(ctx, t)
	if !rep.OK {
		obs.ScopeFrom(ctx).SetOutcome("checks_failed")
	}
	writeJSON(w, http.StatusOK, rep)
}

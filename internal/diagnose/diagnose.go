// Package diagnose checks, link by link, everything one user's connection
// (or one organisation, or the deployment) depends on, and says for each
// link whether it works and, when it does not, exactly how to fix it. The
// HTTP function GET /api/diagnostics and `connectorctl doctor` both run it.
//
// A report comes in two views. The full one (Run: the diagnostics key,
// connectorctl) has every check with every detail. A user's own (RunOwn:
// their device token) has their own checks and, instead of the checks of
// the connector's infrastructure, one redacted verdict (IDInfrastructure):
// nothing in it names a storage account, namespace, queue, setting or
// approver, or counts what concerns others (dead letters are not even
// peeked at), and it redeems the user's refresh token at most once per
// OwnRefreshEvery.
//
// Checks do not change what they look at: no write reaches Dynamics, no
// message is sent or received, no row is written, with two exceptions of
// the token vault, which the refresh-token check goes through on purpose
// (docs/decisions.md, "Operations"): a refresh token that Entra rotates is
// stored (dropping it would break the user's connection), and a grant Entra
// declares gone marks the connection reauth_required, as any sync would.
package diagnose

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Status is a check's result.
type Status string

const (
	// Pass: the link works.
	Pass Status = "pass"
	// Fail: the link is broken; Fix says what to do.
	Fail Status = "fail"
	// Skip: the check could not run (a link it needs is broken, or the
	// target names no tenant or user); Detail says why.
	Skip Status = "skip"
)

// Check is the result of one check.
type Check struct {
	// ID names the check for scripts (e.g. "dataverse.whoami"); stable.
	ID string `json:"id"`
	// Title says what was checked, for people.
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Detail says what was found: the evidence of a pass, the error of a
	// failure. A list (the configuration's problems) has one item a line.
	Detail string `json:"detail"`
	// Fix is the concrete remedy of a failure.
	Fix        string `json:"fix,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// Target is what to diagnose: the deployment (both empty), an organisation
// (TenantID), or one user's connection (both).
type Target struct {
	TenantID string `json:"tenantId,omitempty"`
	UserID   string `json:"userId,omitempty"`
}

// Report is the result of one run, checks in the order they ran.
type Report struct {
	Target
	// OK is true when no check failed.
	OK     bool      `json:"ok"`
	At     time.Time `json:"at"`
	Checks []Check   `json:"checks"`
}

// Failed returns the checks that failed.
func (r Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Check returns the check id, if the report has it.
func (r Report) Check(id string) (Check, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// run is one run in progress: it times each check, bounds it with the
// doctor's timeout, and remembers which checks did not pass, with why, so
// that those that depend on them are skipped.
type run struct {
	ctx     context.Context
	timeout time.Duration
	report  Report
	blocked map[string]string
	// own: the user's own view (RunOwn); infra are the ids of the checks
	// that it folds into the infrastructure verdict.
	own   bool
	infra map[string]bool
}

// result is what a check function returns.
type result struct {
	status      Status
	detail, fix string
}

func pass(format string, args ...any) result {
	return result{status: Pass, detail: fmt.Sprintf(format, args...)}
}

func fail(detail, fix string) result { return result{status: Fail, detail: detail, fix: fix} }

func skip(format string, args ...any) result {
	return result{status: Skip, detail: fmt.Sprintf(format, args...)}
}

// check runs fn under the per-check timeout unless one of needs failed or
// was skipped, and records the result.
func (r *run) check(id, title string, needs []string, fn func(ctx context.Context) result) {
	for _, n := range needs {
		if why, blocked := r.blocked[n]; blocked {
			r.add(Check{ID: id, Title: title, Status: Skip, Detail: why})
			r.blocked[id] = why
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	start := time.Now()
	res := fn(ctx)
	if res.status == Fail && ctx.Err() == context.DeadlineExceeded && !strings.Contains(res.detail, "no answer within") {
		res.detail = fmt.Sprintf("no answer within %s: %s", r.timeout, res.detail)
	}
	r.add(Check{ID: id, Title: title, Status: res.status, Detail: res.detail, Fix: res.fix, DurationMs: time.Since(start).Milliseconds()})
	switch res.status {
	case Fail:
		r.blocked[id] = "not checked: " + id + " did not pass"
	case Skip:
		r.blocked[id] = res.detail // the reason carries over to the checks that need this one
	}
}

// checkInfra runs a check of the connector's infrastructure: in the user's
// own view it is folded into the infrastructure verdict (ownView).
func (r *run) checkInfra(id, title string, needs []string, fn func(ctx context.Context) result) {
	r.infra[id] = true
	r.check(id, title, needs, fn)
}

func (r *run) add(c Check) {
	r.report.Checks = append(r.report.Checks, c)
	if c.Status == Fail {
		r.report.OK = false
	}
}

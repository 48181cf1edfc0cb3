package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// The erasing commands (tenants offboard, connections erase) run the
// erasure here, pass after pass, until it is done: an erasure that waits
// (for an upload being written into Dynamics, or for a sync that held the
// user's lease to be unable to write) says until when, and the command
// waits that long. With --no-wait they hand the erasure to the
// LifecycleWorker instead, through the lifecycle queue.

const offboardUsage = `usage:
  connectorctl tenants offboard --tenant T --yes [--timeout 15m] [--no-wait] [--json]

Erases everything the connector holds of the organisation: every user's
connection (refresh token), mirror, change log, sync state, uploads and
their documents, dead-lettered messages, sign-ins in progress, then its
approval. The approval is withdrawn with the first pass (no sign-in, no API
call from then on). Runs until done (at most --timeout), then prints what
it erased; one audit row (connectorctl erasures) records it. --no-wait
queues it on the lifecycle queue instead. Exit status 1 when it is not done.`

const eraseUsage = `usage:
  connectorctl connections erase --user U [--tenant T] --yes [--timeout 15m] [--no-wait] [--json]

Erases one user's connection and everything the connector holds of them,
as their own disconnect does (audit kind operator). Runs until done (at
most --timeout), then prints what it erased; --no-wait queues it on the
lifecycle queue instead. Exit status 1 when it is not done.`

// erasure is one erasure a command runs to its end.
type erasure struct {
	cmd     string // "tenants offboard"
	what    string // "tenant T", "user U of tenant T"
	tenant  string
	user    string // "" for a tenant
	verb    string // "offboarded", "erased"
	pass    func(ctx context.Context) (lifecycle.Result, error)
	message queue.Lifecycle // the lifecycle message that does (or continues) it
}

// erasureFlags are the erasing commands' own flags.
type erasureFlags struct {
	yes     *bool
	noWait  *bool
	timeout *time.Duration
}

func addErasureFlags(f *flags) erasureFlags {
	return erasureFlags{
		yes:     f.Bool("yes", false, "confirm that the data is deleted for good"),
		noWait:  f.Bool("no-wait", false, "queue the erasure on the lifecycle queue instead of running it here"),
		timeout: f.Duration("timeout", 15*time.Minute, "the longest the command runs the erasure"),
	}
}

// check validates the flags once the ids are checked.
func (ef erasureFlags) check(cmd, what string) error {
	if *ef.timeout <= 0 {
		return usagef("%s: --timeout must be positive, e.g. 15m", cmd)
	}
	if !*ef.yes {
		return usagef("%s deletes %s for good; add --yes to confirm", cmd, what)
	}
	return nil
}

// erasureJSON is the outcome of an erasing command as --json prints it.
type erasureJSON struct {
	TenantID string           `json:"tenantId"`
	UserID   string           `json:"userId,omitempty"`
	Done     bool             `json:"done"`
	Counts   map[string]int64 `json:"counts"`
	Waiting  string           `json:"waiting,omitempty"`
	RetryAt  *time.Time       `json:"retryAt,omitempty"`
	// Continuation is the lifecycle message that goes on with an erasure
	// the command left unfinished.
	Continuation *queuedJSON `json:"continuation,omitempty"`
}

// queuedJSON is a lifecycle message a command sent.
type queuedJSON struct {
	Queued    bool            `json:"queued"`
	Queue     string          `json:"queue"`
	MessageID string          `json:"messageId"`
	At        *time.Time      `json:"at,omitempty"`
	Message   queue.Lifecycle `json:"message"`
}

func runOffboard(ctx context.Context, env *environment, args []string) error {
	const cmd = "tenants offboard"
	f := newFlags(cmd, offboardUsage)
	tenant := f.String("tenant", "", "the organisation's Entra tenant id")
	ef := addErasureFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	id, err := guid(cmd, "tenant", *tenant, true)
	if err != nil {
		return err
	}
	if err := ef.check(cmd, "everything of tenant "+id); err != nil {
		return err
	}
	return env.withApp(ctx, func(cfg app.Settings, a *app.App) error {
		e := erasure{cmd: cmd, what: "tenant " + id, tenant: id, verb: "offboarded", message: queue.OffboardTenant(id),
			pass: func(ctx context.Context) (lifecycle.Result, error) {
				return a.Eraser.OffboardTenant(ctx, id, "operator")
			}}
		if *ef.noWait {
			// The LifecycleWorker completes a message for an unknown
			// tenant quietly; the operator hears of it here.
			known, err := tenantKnown(ctx, a, id)
			if err != nil {
				return err
			}
			if !known {
				return apperr.E(apperr.NotFound, "tenant %s is unknown: it has no approval and no connections, so there is nothing to offboard (check the id with connectorctl tenants list)", id)
			}
			return e.queue(ctx, env, a, f.json)
		}
		return e.run(ctx, env, a, f.json, *ef.timeout)
	})
}

// tenantKnown reports whether the connector holds a tenant row or a
// connection of tenant (what OffboardTenant needs to find).
func tenantKnown(ctx context.Context, a *app.App, tenant string) (bool, error) {
	_, err := store.NewTenants(a.DB).Get(ctx, tenant)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	cs, err := store.NewConnections(a.DB).List(ctx, tenant)
	return len(cs) > 0, err
}

func runErase(ctx context.Context, env *environment, args []string) error {
	const cmd = "connections erase"
	f := newFlags(cmd, eraseUsage)
	tenant := f.String("tenant", "", "the organisation's Entra tenant id")
	user := f.String("user", "", "the user's Entra object id")
	ef := addErasureFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	tid, err := guid(cmd, "tenant", *tenant, false)
	if err != nil {
		return err
	}
	uid, err := guid(cmd, "user", *user, true)
	if err != nil {
		return err
	}
	if err := ef.check(cmd, "everything of user "+uid); err != nil {
		return err
	}
	return env.withApp(ctx, func(cfg app.Settings, a *app.App) error {
		if tid == "" {
			if tid, err = tenantOfUser(ctx, a, cmd, uid); err != nil {
				return err
			}
		}
		req := lifecycle.Request{Kind: store.ErasureOperator, By: "operator"}
		e := erasure{cmd: cmd, what: "user " + uid + " of tenant " + tid, tenant: tid, user: uid, verb: "erased", message: queue.EraseUser(tid, uid),
			pass: func(ctx context.Context) (lifecycle.Result, error) { return a.Eraser.EraseUser(ctx, tid, uid, req) }}
		if *ef.noWait {
			return e.queue(ctx, env, a, f.json)
		}
		return e.run(ctx, env, a, f.json, *ef.timeout)
	})
}

// queue hands the erasure to the LifecycleWorker.
func (e erasure) queue(ctx context.Context, env *environment, a *app.App, asJSON bool) error {
	if err := a.Queues.Lifecycle.Send(ctx, e.message); err != nil {
		return err
	}
	q := a.Queues.Lifecycle.Queue()
	if asJSON {
		return writeJSON(env.stdout, queuedJSON{Queued: true, Queue: q, MessageID: e.message.MessageID(), Message: e.message})
	}
	_, err := fmt.Fprintf(env.stdout, "Queued the %s of %s on %s (message %s); the LifecycleWorker runs it.\n"+
		"connectorctl erasures shows it once it is done; %s\n", e.noun(), e.what, q, e.message.MessageID(), e.whileQueued())
	return err
}

func (e erasure) noun() string {
	if e.user == "" {
		return "offboarding"
	}
	return "erasure"
}

func (e erasure) whileQueued() string {
	if e.user == "" {
		return "until then connectorctl tenants show --tenant " + e.tenant + " shows it offboarding."
	}
	return "until then connectorctl connections list --tenant " + e.tenant + " shows the connection erasing."
}

// run runs passes until the erasure is done, ctx ends or timeout passes.
func (e erasure) run(ctx context.Context, env *environment, a *app.App, asJSON bool, timeout time.Duration) error {
	work, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	counts := lifecycle.Counts{}
	for pass := 1; ; pass++ {
		res, err := e.pass(work)
		if res.Counts != nil {
			counts = res.Counts
		}
		switch {
		case err != nil && apperr.KindOf(err) == apperr.NotFound && pass > 1:
			// The tenant was there at the first pass: its last pass ran
			// elsewhere (the LifecycleWorker or the retention run).
			fmt.Fprintf(env.stderr, "%s: the offboarding was completed by the LifecycleWorker or the retention run; the counts below are this command's\n", e.what)
			return e.report(env, asJSON, counts)
		case err != nil && apperr.KindOf(err) == apperr.NotFound:
			return err
		case err != nil && work.Err() == nil:
			// A failure, not the clock: what is done stays done, and the
			// erasure is recorded, so running the command again goes on.
			return fmt.Errorf("the %s of %s failed in pass %d (run the command again to go on with it; erased so far: %s): %w", e.noun(), e.what, pass, counts, err)
		case err != nil:
			return e.stopped(ctx, env, a, asJSON, counts, lifecycle.Result{}, e.why(ctx, timeout, "passed"))
		case res.Done:
			return e.report(env, asJSON, counts)
		}
		fmt.Fprintf(env.stderr, "%s: not done after pass %d: waiting for %s; next pass at %s UTC\n", e.what, pass, res.Waiting, res.RetryAt.UTC().Format("15:04:05"))
		if deadline, ok := work.Deadline(); ok && res.RetryAt.After(deadline) {
			return e.stopped(ctx, env, a, asJSON, counts, res, e.why(ctx, timeout, "ends before its next pass"))
		}
		wait := time.NewTimer(time.Until(res.RetryAt))
		select {
		case <-work.Done():
			wait.Stop()
			return e.stopped(ctx, env, a, asJSON, counts, res, e.why(ctx, timeout, "passed"))
		case <-wait.C:
		}
	}
}

// why says why the command stops: interrupted (ctx), or --timeout.
func (e erasure) why(ctx context.Context, timeout time.Duration, what string) string {
	if ctx.Err() != nil {
		return "interrupted"
	}
	return fmt.Sprintf("--timeout %s %s", timeout, what)
}

// report prints a finished erasure.
func (e erasure) report(env *environment, asJSON bool, counts lifecycle.Counts) error {
	if asJSON {
		return writeJSON(env.stdout, erasureJSON{TenantID: e.tenant, UserID: e.user, Done: true, Counts: countsMap(counts)})
	}
	if total(counts) == 0 {
		_, err := fmt.Fprintf(env.stdout, "Nothing to erase: the connector holds nothing of %s (no connection, no data).\n", e.what)
		return err
	}
	fmt.Fprintf(env.stdout, "Erased (entities per table, blobs per container, dead-lettered messages per queue):\n")
	if err := printCounts(env.stdout, counts); err != nil {
		return err
	}
	_, err := fmt.Fprintf(env.stdout, "%s %s\n", e.what, e.verb)
	return err
}

// stopped reports an erasure the command leaves unfinished, and schedules
// its continuation on the lifecycle queue; the daily retention run also
// goes on with every unfinished erasure.
func (e erasure) stopped(ctx context.Context, env *environment, a *app.App, asJSON bool, counts lifecycle.Counts, res lifecycle.Result, why string) error {
	at := res.RetryAt
	if at.IsZero() {
		at = time.Now()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	next := e.message.ContinueAt(at)
	var cont *queuedJSON
	_, serr := a.Queues.Lifecycle.ScheduleAt(sctx, at, next)
	if serr == nil {
		at := at.UTC()
		cont = &queuedJSON{Queued: true, Queue: a.Queues.Lifecycle.Queue(), MessageID: next.MessageID(), At: &at, Message: next}
	}
	if asJSON {
		_ = writeJSON(env.stdout, erasureJSON{TenantID: e.tenant, UserID: e.user, Counts: countsMap(counts), Waiting: res.Waiting, RetryAt: timePtr(res.RetryAt), Continuation: cont})
	} else {
		if total(counts) > 0 {
			fmt.Fprintln(env.stdout, "Erased so far:")
			_ = printCounts(env.stdout, counts)
		}
		left := "the rest of the pass it was in"
		if res.Waiting != "" {
			left = res.Waiting + " (next pass at " + res.RetryAt.UTC().Format("2006-01-02 15:04:05") + " UTC)"
		}
		fmt.Fprintf(env.stdout, "%s is NOT %s yet (%s). Left: %s.\n", e.what, e.verb, why, left)
		if cont != nil {
			fmt.Fprintf(env.stdout, "The LifecycleWorker goes on with it at %s UTC (message %s on %s); the daily retention run finishes it otherwise.\n",
				cont.At.Format("2006-01-02 15:04:05"), cont.MessageID, cont.Queue)
		} else {
			fmt.Fprintf(env.stdout, "Could not queue its continuation on the lifecycle queue (%v); the daily retention run finishes it, or run the command again.\n", serr)
		}
	}
	return failedf("the %s of %s stopped before it was done: %s", e.noun(), e.what, why)
}

func countsMap(c lifecycle.Counts) map[string]int64 {
	m := map[string]int64{}
	for k, v := range c {
		m[k] = v
	}
	return m
}

func total(c map[string]int64) int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// printCounts prints the non-zero counts, one per line, sorted by name.
func printCounts(w io.Writer, c map[string]int64) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if c[k] != 0 {
			fmt.Fprintf(tw, "  %s\t%d\n", k, c[k])
		}
	}
	return tw.Flush()
}

// countsText is the non-zero counts on one line: "changes=42 records=12".
func countsText(c map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if c[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
		}
	}
	return strings.Join(parts, " ")
}

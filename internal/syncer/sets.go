package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/rowfilter"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/tokens"
)

// Mirror is what the sync writes into: the mirror and change log.
type Mirror interface {
	// Begin writes entries (mirror.Store.Apply) and returns once their
	// changes are logged; wait returns when the mirror is written too.
	Begin(ctx context.Context, tenant, user, set string, entries []mirror.Entry, gen, firstSeq int64) (wait func() error, err error)
	Mark(ctx context.Context, tenant, user, set string, ids []string, gen int64) error
	Stale(ctx context.Context, tenant, user, set string, gen int64, fn func(ids []string) error) error
	Same(ctx context.Context, tenant, user, set, id string, data json.RawMessage) (bool, error)
	Has(ctx context.Context, tenant, user, set string, ids []string) (map[string]bool, error)
	Related(ctx context.Context, tenant, user, set string, parents []string, fn func(ids []string) error) error
	Unchanged(ctx context.Context, tenant, user, set string, entries []mirror.Entry) (map[string]bool, error)
	TrimChanges(ctx context.Context, tenant, user string, cutoff time.Time, limit int) (int, bool, error)
}

var _ Mirror = (*mirror.Store)(nil)

// maxErrorText bounds the error text kept in syncstate.
const maxErrorText = 1000

// runSets syncs each configured set in turn. It returns an error only for
// what redelivery may fix (transient failures) or a lost lease.
func (w *Worker) runSets(ctx context.Context, log *slog.Logger, job queue.SyncJob, conn store.Connection, l *lease, deadline time.Time) (Result, error) {
	cnt := &countingTransport{next: w.d.HTTPClient.Transport}
	client, err := dataverse.New(conn.OrgURL, tokens.Source{Issuer: w.d.Vault, TenantID: job.TenantID, UserID: job.UserID, Resource: conn.OrgURL}, &dataverse.Options{
		HTTPClient: &http.Client{Transport: cnt, Timeout: w.d.HTTPClient.Timeout}, Retry: w.d.Retry})
	if err != nil {
		log.Error("sync impossible: the connection's Dynamics URL is not usable; the user must sign in again", "error", err.Error())
		return Result{Outcome: OutcomeSynced}, nil
	}
	states, err := w.d.States.Sets(ctx, job.TenantID, job.UserID)
	if err != nil {
		return Result{}, apperr.Wrap(apperr.Transient, err, "could not read the sync state")
	}
	res := Result{Outcome: OutcomeSynced}
	var defs map[string]dataverse.EntityDefinition
	rel := newRelations(w.sets, states)
	params, paramsErr := w.profileParams(ctx, client, conn)
	for _, cfg := range w.sets {
		st := states[cfg.Name]
		if c := rel.child(cfg.Name); c != nil {
			st = c.st // as its parents' runs left it
		}
		st.EntitySet = cfg.Name
		r := &setRun{w: w, client: client, cnt: cnt, job: job, cfg: cfg, st: st, l: l, rel: rel, params: params,
			deadline: deadline, log: log.With("entitySet", cfg.Name)}
		start, before := w.d.Now(), cnt.n.Load()
		if rel != nil && st.LogicalName != "" {
			rel.logical[st.LogicalName] = cfg.Name // also when the set fails below: its notes keep their row
		}
		var err error
		if paramsErr != nil && needsRead(cfg.RowFilter(), params) {
			r.res.EntitySet = cfg.Name
			err = paramsErr // without them the filter would judge every row wrongly
		} else {
			err = r.prepare(ctx, client, &defs)
		}
		if err == nil && rel != nil {
			rel.logical[r.st.LogicalName] = cfg.Name
		}
		if err == nil {
			err = r.run(ctx)
		}
		r.res.Requests = cnt.n.Load() - before
		if errors.Is(err, errBudget) {
			r.res.Continued = true
		} else {
			r.res.Err = err
		}
		res.Sets = append(res.Sets, r.res)
		if err := r.record(ctx, start, err); err != nil {
			return res, err
		}
		if err == nil {
			continue
		}
		switch stop, outcome, retryAt, runErr := w.classify(ctx, err); {
		case runErr != nil:
			return res, runErr
		case stop:
			res.Outcome, res.RetryAt = outcome, retryAt
			return res, nil
		}
	}
	return res, nil
}

// classify says what a set's failure means for the run: stop it (with an
// outcome), fail it for redelivery (runErr), or go on with the next set.
// It is the one table of this edge, by the failure's apperr class.
func (w *Worker) classify(ctx context.Context, err error) (stop bool, outcome string, retryAt time.Time, runErr error) {
	switch {
	case errors.Is(err, errLeaseLost) || errors.Is(context.Cause(ctx), errLeaseLost):
		return true, "", time.Time{}, errLeaseLost
	case errors.Is(err, errBudget):
		return true, OutcomeContinued, time.Time{}, nil
	case ctx.Err() != nil:
		return true, "", time.Time{}, apperr.Wrap(apperr.Transient, err, "the sync ran out of time")
	}
	switch c := apperr.ClassOf(err); c.Kind {
	case apperr.Reauth:
		return true, OutcomeReauthRequired, time.Time{}, nil
	case apperr.Throttled:
		return true, OutcomeThrottled, w.d.Now().Add(max(c.RetryAfter, time.Minute)), nil
	case apperr.Unauthorized: // Dataverse refused even a fresh token: every set would fail the same way; the next run tries again
		return true, OutcomeSynced, time.Time{}, nil
	case apperr.Transient, apperr.Internal: // Dynamics or Storage failed: redelivery may fix it
		return true, "", time.Time{}, apperr.Wrap(apperr.Transient, err, "the sync failed; it is retried")
	}
	return false, "", time.Time{}, nil // this set cannot be synced as configured (Permanent, Forbidden, NotFound, ...): go on
}

// permanentf is a set failure that only a change of configuration or of
// the Dynamics environment can fix.
func permanentf(format string, args ...any) error {
	return apperr.E(apperr.Permanent, format, args...)
}

// setRun is the sync of one entity set in one run.
type setRun struct {
	w      *Worker
	client *dataverse.Client
	cnt    *countingTransport
	job    queue.SyncJob
	cfg    syncconfig.EntitySet
	st     store.SetState // updated as the run goes; committed at the end
	l      *lease
	// rel is what the run's sets share about related rows; nil when no
	// set has a parent.
	rel *relations
	// fullRows is true when the run read the set's rows in full.
	fullRows bool
	// filter is the set's row filter (nil: every row), with the user's
	// parameters; strip the columns read only for it or the relation;
	// mismatches counts the rows it could not judge (left out).
	filter     *rowfilter.Filter
	params     rowfilter.Params
	strip      []string
	mismatches int64
	// held are the rows a full read of a filtered or related set keeps but
	// has not written yet; sinceCheckpoint counts its pages since its last
	// checkpoint, wroteSinceCheckpoint the rows it wrote meanwhile.
	held                                  []mirror.Entry
	sinceCheckpoint, wroteSinceCheckpoint int
	// behind is true while a full read reads its pages: apply lets the
	// mirror's writes go on behind it. writing are those not yet waited
	// for; due is the checkpoint to store once the first dueAfter of them
	// are done.
	behind   bool
	writing  []pendingWrite
	due      *store.SetState
	dueAfter int
	log      *slog.Logger
	sel      []string
	res      SetResult
	// deadline is when the run's time budget is spent: a full read stops
	// at its first checkpoint after it.
	deadline time.Time
}

// prepare learns the table's primary key and whether it has change
// tracking (once: the answer is kept in syncstate), and starts over with a
// full read when the configured columns changed.
func (r *setRun) prepare(ctx context.Context, client *dataverse.Client, defs *map[string]dataverse.EntityDefinition) error {
	if r.st.Mode == "" || r.st.PrimaryKey == "" || r.st.LogicalName == "" {
		if *defs == nil {
			list, err := client.EntityDefinitions(ctx, false)
			if err != nil {
				return fmt.Errorf("read the tables' metadata: %w", err)
			}
			*defs = map[string]dataverse.EntityDefinition{}
			for _, d := range list {
				(*defs)[d.EntitySetName] = d
			}
		}
		d, ok := (*defs)[r.cfg.Name]
		if !ok {
			return permanentf("Dynamics has no entity set %q; fix SYNC_CONFIG (entity set names are plural, e.g. accounts)", r.cfg.Name)
		}
		r.st.PrimaryKey, r.st.LogicalName, r.st.Mode = strings.ToLower(d.PrimaryIDAttribute), d.LogicalName, store.ModeWatermark
		if d.ChangeTrackingEnabled {
			r.st.Mode = store.ModeChangeTracking
		}
	}
	r.res.EntitySet, r.res.Mode = r.cfg.Name, r.st.Mode
	r.sel = append([]string(nil), r.cfg.Select...)
	need := []string{r.st.PrimaryKey}
	if r.st.Mode == store.ModeWatermark {
		need = append(need, "modifiedon")
	}
	for _, c := range need {
		if !slices.Contains(r.sel, c) {
			r.sel = append(r.sel, c)
		}
	}
	// The profile: columns read only to decide it are dropped before a
	// row is stored; a change of it (or of the parameters it uses) reads
	// the set again in full, so rows now out leave and rows now in arrive.
	sel := strings.Join(r.sel, ",")
	var extra []string
	if r.filter = r.cfg.RowFilter(); r.filter != nil {
		extra = r.filter.Columns()
		sel += "|" + r.filter.String() + r.paramsUsed()
	}
	if rel := r.cfg.RelatedTo; rel != nil {
		extra = append(extra, strings.ToLower(rel.Lookup))
		sel += "|" + rel.Set + "." + rel.Lookup
	}
	if c := r.asChild(); c != nil && c.typed {
		// The notes: which sets' notes are on is part of what they hold.
		sel += "|" + strings.Join(c.parents, ",")
	}
	for _, c := range extra {
		if !slices.Contains(r.sel, c) {
			r.sel = append(r.sel, c)
			r.strip = append(r.strip, c)
		}
	}
	if sel != r.st.Select {
		if r.st.Select != "" {
			r.log.Info("the configured columns changed; the set is read again in full")
		}
		r.st.Select, r.st.DeltaLink, r.st.Watermark = sel, "", time.Time{}
		// A full read in progress reads the old columns: it is abandoned
		// (its generation stays taken, see startFull).
		r.st.FullKind, r.st.FullNextLink = "", ""
	}
	return nil
}

func (r *setRun) run(ctx context.Context) error {
	var err error
	if r.st.Mode == store.ModeChangeTracking {
		err = r.changeTracking(ctx)
	} else {
		err = r.watermark(ctx)
	}
	if err == nil && (r.st.Pending != "" || r.st.Gone != "") {
		err = r.readPending(ctx)
	}
	return err
}

// record stores the set's state: on success with the new delta link or
// watermark (in one transaction with the lease), on failure the old one
// with the error.
func (r *setRun) record(ctx context.Context, start time.Time, runErr error) error {
	now := r.w.d.Now()
	st := r.st
	st.LastRun, st.DurationMs = now, now.Sub(start).Milliseconds()
	st.Upserted, st.Deleted, st.Pages, st.Requests = r.res.Upserted, r.res.Deleted, r.res.Pages, r.res.Requests
	switch {
	case errors.Is(runErr, errBudget): // progress, not yet a success: the checkpoint is in st
	case runErr == nil:
		st.LastSuccess, st.LastError, st.LastErrorAt = now, "", time.Time{}
	default:
		if errors.Is(runErr, errLeaseLost) {
			return errLeaseLost
		}
		st = r.failed(st, runErr, now)
	}
	if ctx.Err() != nil { // record what happened even when the run's time is up
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	if r.mismatches > 0 {
		r.log.Warn("the set's filter could not judge some rows (a column of another type than the filter compares it with); they are left out", "rows", r.mismatches)
	}
	sts := []store.SetState{st}
	if r.rel != nil && runErr == nil && r.fullRows {
		// The rows that entered or left the mirror in a full read are not
		// known one by one: its children are read in full after it.
		for _, c := range r.rel.of[r.cfg.Name] {
			startOver(&c.st)
			sts = append(sts, c.st)
		}
	}
	if err := r.l.commit(ctx, sts...); err != nil {
		if errors.Is(err, errLeaseLost) {
			return errLeaseLost
		}
		return apperr.Wrap(apperr.Transient, err, "could not store the sync state")
	}
	return nil
}

// failed is the stored state after a failure: the state as the run left
// it, whose delta link, watermark and checkpoint are only ever advanced
// past what is written (never a half-read delta link), with the error.
func (r *setRun) failed(cur store.SetState, err error, now time.Time) store.SetState {
	msg := err.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "…"
	}
	cur.LastError, cur.LastErrorAt = msg, now
	return cur
}

// countingTransport counts the HTTP requests sent to Dataverse.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	next := c.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Package syncer runs the downstream sync: the scheduler that fans out one
// job per connected user, and the worker that syncs one user's configured
// entity sets from Dataverse into the mirror and change log
// (docs/architecture.md, "Downstream sync").
package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/tokens"
)

// ConnectionReader reads a user's connection.
type ConnectionReader interface {
	Get(ctx context.Context, tenant, user string) (store.Connection, error)
}

// StateStore is the syncstate table.
type StateStore interface {
	LeaseStore
	Sets(ctx context.Context, tenant, user string) (map[string]store.SetState, error)
}

// Requeuer schedules sync jobs for later.
type Requeuer interface {
	ScheduleAt(ctx context.Context, at time.Time, jobs ...queue.SyncJob) ([]int64, error)
}

var (
	_ ConnectionReader = (*store.Connections)(nil)
	_ StateStore       = (*store.SyncStates)(nil)
	_ Requeuer         = (*queue.Sender[queue.SyncJob])(nil)
)

// Deps are the worker's collaborators.
type Deps struct {
	Conns   ConnectionReader
	Vault   tokens.Issuer
	States  StateStore
	Mirror  Mirror
	Requeue Requeuer
	// Documents is the cache of notes' documents; nil caches none.
	Documents DocumentCache
	Logger    *slog.Logger
	// HTTPClient reaches Dataverse; nil means a shared default client.
	HTTPClient *http.Client
	// Retry overrides the Dataverse client's retry policy (tests).
	Retry dataverse.RetryPolicy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DocumentCache is the cache of notes' documents (internal/notefiles).
type DocumentCache interface {
	Forget(ctx context.Context, tenant, user string, ids []string) error
}

// Worker syncs one user per job. It is safe for concurrent use.
type Worker struct {
	d      Deps
	sets   []syncconfig.EntitySet
	tuning config.SyncTuning
}

// NewWorker returns a worker syncing the entity sets of cfg.
func NewWorker(cfg syncconfig.Config, tuning config.SyncTuning, d Deps) *Worker {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64 // workers for many users of one environment share connections
		d.HTTPClient = &http.Client{Transport: t}
	}
	sets := cfg.EntitySets
	if cfg.NotesOn() {
		sets = append(slices.Clip(sets), cfg.NotesEntitySet())
	}
	return &Worker{d: d, sets: sets, tuning: tuning}
}

// Outcomes of a run.
const (
	OutcomeSynced         = "synced"          // every set ran (see each set's error)
	OutcomeNotConnected   = "not_connected"   // no connection: nothing to do
	OutcomeNotActive      = "not_active"      // reauth_required or pending: parked until sign-in
	OutcomeReauthRequired = "reauth_required" // Entra refused the refresh: connection marked
	OutcomeLeaseHeld      = "lease_held"      // another worker syncs the user: retried after its lease
	OutcomeThrottled      = "throttled"       // Dataverse asked for a long pause: rescheduled
	OutcomeLeaseLost      = "lease_lost"      // this worker was too slow; the new holder goes on
	OutcomeContinued      = "continued"       // a full read spent the time budget: a continuation job goes on from its checkpoint
)

// Result is what a run did.
type Result struct {
	Outcome string
	// RetryAt is when the job was rescheduled (lease held, throttled).
	RetryAt time.Time
	Sets    []SetResult
}

// SetResult is one entity set's part of a run.
type SetResult struct {
	EntitySet string
	Mode      string
	Full      bool // a full read (first sync, resync or reconcile)
	Upserted  int64
	Deleted   int64
	Pages     int64
	Requests  int64
	// Continued is true when a full read stopped at the run's time budget
	// (checkpointed, not failed).
	Continued bool
	Err       error
}

// Run syncs the user of job. Outcomes that need no redelivery return a nil
// error (the message is completed): a rescheduled job, a parked user, a
// set that failed permanently (recorded in syncstate). A transient failure
// returns an error, so Service Bus redelivers the job.
func (w *Worker) Run(ctx context.Context, job queue.SyncJob) (Result, error) {
	deadline := w.d.Now().Add(w.tuning.TimeBudget)
	log := w.d.Logger.With("tenant", job.TenantID, "user", job.UserID, "reason", string(job.Reason), "slot", job.Slot.Format(time.RFC3339))
	conn, err := w.d.Conns.Get(ctx, job.TenantID, job.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Info("sync skipped: the user has no connection")
		return Result{Outcome: OutcomeNotConnected}, nil
	case err != nil:
		return Result{}, apperr.Wrap(apperr.Transient, err, "could not read the connection")
	case conn.Status != store.StatusActive:
		log.Info("sync skipped: the connection is not active; it resumes when the user signs in", "status", conn.Status)
		return Result{Outcome: OutcomeNotActive}, nil
	}
	// The token check before every sync.
	if _, err := w.d.Vault.TokenFor(ctx, job.TenantID, job.UserID, conn.OrgURL); err != nil {
		return w.tokenFailure(log, err)
	}
	owner := uuid.NewString()
	l, err := acquireLease(ctx, w.d.States, job.TenantID, job.UserID, owner, w.tuning.LeaseDuration, w.d.Now)
	var held *heldError
	if errors.As(err, &held) {
		at := held.Until.Add(time.Second)
		if err := w.reschedule(ctx, job, at); err != nil {
			return Result{}, err
		}
		log.Info("lease held by another worker; job rescheduled after it expires", "retryAt", at.Format(time.RFC3339))
		return Result{Outcome: OutcomeLeaseHeld, RetryAt: at}, nil
	}
	if errors.Is(err, errErasing) {
		log.Info("sync skipped: the user's data is being erased")
		return Result{Outcome: OutcomeNotConnected}, nil
	}
	if err != nil {
		return Result{}, apperr.Wrap(apperr.Transient, err, "could not take the sync lease")
	}
	// The user may have disconnected between the first read and the
	// lease: the erasure takes the lease after it marks the connection, so
	// a worker that holds the lease and still sees an active connection
	// may write until it loses the lease.
	again, err := w.d.Conns.Get(ctx, job.TenantID, job.UserID)
	if gone := errors.Is(err, store.ErrNotFound) || err == nil && again.Status == store.StatusErasing; gone || err != nil || again.Status != store.StatusActive {
		keep := context.WithoutCancel(ctx)
		if gone {
			// Nothing of the user may stay: the lease row goes too.
			err = l.drop(keep)
		} else {
			// The lease row keeps the change log's numbering: give it back.
			err = errors.Join(err, l.release(keep))
		}
		if err != nil {
			return Result{}, apperr.Wrap(apperr.Transient, err, "could not read the connection or give the sync lease back")
		}
		if gone {
			log.Info("sync skipped: the user disconnected")
			return Result{Outcome: OutcomeNotConnected}, nil
		}
		log.Info("sync skipped: the connection is not active; it resumes when the user signs in", "status", again.Status)
		return Result{Outcome: OutcomeNotActive}, nil
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go l.keepAlive(runCtx, cancel)

	res, runErr := w.runSets(runCtx, log, job, conn, l, deadline)
	if runErr == nil && res.Outcome == OutcomeSynced {
		w.trimLog(runCtx, log, job, l)
	}
	cancel(nil)
	if errors.Is(runErr, errLeaseLost) || errors.Is(context.Cause(runCtx), errLeaseLost) {
		log.Warn("sync stopped: the lease was taken over by another worker")
		return Result{Outcome: OutcomeLeaseLost, Sets: res.Sets}, nil
	}
	relCtx, relCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer relCancel()
	if err := l.release(relCtx); err != nil {
		log.Warn("could not release the sync lease; it expires by itself", "error", err.Error())
	}
	if runErr != nil {
		return res, runErr
	}
	switch res.Outcome {
	case OutcomeThrottled:
		if err := w.reschedule(ctx, job, res.RetryAt); err != nil {
			return res, err
		}
	case OutcomeContinued:
		// Sent after the lease is released, so the continuation can start
		// at once. If the send fails, the job is redelivered and resumes
		// from the same checkpoint.
		next := job.Continue()
		if _, err := w.d.Requeue.ScheduleAt(ctx, w.d.Now(), next); err != nil {
			return res, apperr.Wrap(apperr.Transient, err, "could not queue the continuation of the sync")
		}
		res.RetryAt = w.d.Now()
	}
	w.logResult(log, res)
	return res, nil
}

// tokenFailure turns a failed token check into the run's outcome.
func (w *Worker) tokenFailure(log *slog.Logger, err error) (Result, error) {
	var reauth *tokens.ReauthRequiredError
	if errors.As(err, &reauth) {
		log.Warn("sync stopped: the user must sign in again; nothing is retried until they do", "reason", reauth.Reason)
		return Result{Outcome: OutcomeReauthRequired}, nil
	}
	if k := apperr.KindOf(err); k == apperr.NotFound {
		log.Info("sync skipped: the user has no connection")
		return Result{Outcome: OutcomeNotConnected}, nil
	}
	return Result{}, fmt.Errorf("token check: %w", err)
}

func (w *Worker) reschedule(ctx context.Context, job queue.SyncJob, at time.Time) error {
	if _, err := w.d.Requeue.ScheduleAt(ctx, at, job.Retry(at)); err != nil {
		return apperr.Wrap(apperr.Transient, err, "could not reschedule the sync job")
	}
	return nil
}

func (w *Worker) logResult(log *slog.Logger, res Result) {
	for _, s := range res.Sets {
		attrs := []any{"entitySet", s.EntitySet, "mode", s.Mode, "full", s.Full, "upserted", s.Upserted, "deleted", s.Deleted, "pages", s.Pages, "requests", s.Requests}
		if s.Continued {
			log.Info("entity set partly synced; its full read continues", attrs...)
			continue
		}
		if s.Err != nil {
			log.Warn("entity set not synced", append(attrs, "error", s.Err.Error())...)
			continue
		}
		log.Info("entity set synced", attrs...)
	}
	switch res.Outcome {
	case OutcomeThrottled:
		log.Warn("Dataverse throttled the sync; job rescheduled", "retryAt", res.RetryAt.Format(time.RFC3339))
	case OutcomeReauthRequired:
		log.Warn("sync stopped: the user must sign in again; nothing is retried until they do")
	case OutcomeContinued:
		log.Info("a full read reached the run's time budget; a continuation job goes on from its checkpoint")
	}
}

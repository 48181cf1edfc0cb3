package syncer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// DueConnections finds and advances the connections due for a sync.
type DueConnections interface {
	ListDue(ctx context.Context, now time.Time, max int, fn func([]store.Due) (bool, error)) error
	SetNextSync(ctx context.Context, tenant string, users []string, at time.Time) error
}

// JobSender sends sync jobs now.
type JobSender interface {
	Send(ctx context.Context, jobs ...queue.SyncJob) error
}

var (
	_ DueConnections = (*store.Connections)(nil)
	_ JobSender      = (*queue.Sender[queue.SyncJob])(nil)
)

// Scheduler fans out one sync job per connected user who is due.
type Scheduler struct {
	Conns  DueConnections
	Jobs   JobSender
	Tuning config.SyncTuning
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ScheduleResult is what one scheduler run did.
type ScheduleResult struct {
	Enqueued int
	// Capped is true when SchedulerMaxJobs stopped the run; the users left
	// are still due and go at the next occurrence.
	Capped bool
}

// Run enqueues a job for each active connection due for a sync, at most
// SchedulerMaxJobs, and moves each one's next sync an Interval ahead. Jobs
// are sent before the connections are moved, so a failure in between only
// sends the same jobs again at the next occurrence; their MessageId (user
// and slot, the time truncated to the Interval) makes Service Bus drop the
// copies, so overlapping or past-due occurrences are harmless.
func (s *Scheduler) Run(ctx context.Context, pastDue bool) (ScheduleResult, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	slot := now.UTC().Truncate(s.Tuning.Interval)
	next := now.Add(s.Tuning.Interval)
	if pastDue {
		s.Logger.Info("the timer is past due (the host was down or busy); syncing who is due now", "slot", slot.Format(time.RFC3339))
	}
	var res ScheduleResult
	err := s.Conns.ListDue(ctx, now, s.Tuning.SchedulerMaxJobs, func(due []store.Due) (bool, error) {
		jobs := make([]queue.SyncJob, len(due))
		byTenant := map[string][]string{}
		for i, d := range due {
			jobs[i] = queue.NewSyncJob(d.TenantID, d.UserID, queue.ReasonScheduled, slot)
			byTenant[d.TenantID] = append(byTenant[d.TenantID], d.UserID)
		}
		if err := s.Jobs.Send(ctx, jobs...); err != nil {
			return false, fmt.Errorf("send %d sync jobs: %w", len(jobs), err)
		}
		for tenant, users := range byTenant {
			if err := s.Conns.SetNextSync(ctx, tenant, users, next); err != nil {
				return false, fmt.Errorf("move the next sync of %d users: %w", len(users), err)
			}
		}
		res.Enqueued += len(jobs)
		return ctx.Err() == nil, nil
	})
	res.Capped = res.Enqueued >= s.Tuning.SchedulerMaxJobs
	if err != nil {
		return res, apperr.Wrap(apperr.Transient, err, "the scheduler stopped part way; the users left are due at the next run")
	}
	s.Logger.Info("sync jobs enqueued", "jobs", res.Enqueued, "capped", res.Capped, "slot", slot.Format(time.RFC3339))
	return res, nil
}

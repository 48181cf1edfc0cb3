package handlers

import (
	"context"
	"log/slog"

	"github.com/pitcher/connector/internal/funcwire"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/syncer"
)

// Scheduling fans out the sync jobs (internal/syncer.Scheduler).
type Scheduling interface {
	Run(ctx context.Context, pastDue bool) (syncer.ScheduleResult, error)
}

// SyncRunner syncs one user (internal/syncer.Worker).
type SyncRunner interface {
	Run(ctx context.Context, job queue.SyncJob) (syncer.Result, error)
}

var (
	_ Scheduling = (*syncer.Scheduler)(nil)
	_ SyncRunner = (*syncer.Worker)(nil)
)

// syncScheduler is the SyncScheduler timer function: one job per user due.
func syncScheduler(s Scheduling) invocationFunc {
	return func(ctx context.Context, inv *Invocation) error {
		timer, err := funcwire.DecodeTimer(inv.Request, "timer")
		if err != nil {
			return err
		}
		res, err := s.Run(ctx, timer.IsPastDue)
		if err != nil {
			return err
		}
		inv.Logf("enqueued %d sync jobs (capped: %v, past due: %v)", res.Enqueued, res.Capped, timer.IsPastDue)
		return nil
	}
}

// syncWorker is the SyncWorker Service Bus function. A message that is not
// a valid sync job is completed and logged: redelivering it could never
// make it valid (a poison message). Transient failures fail the
// invocation, so Service Bus redelivers the job.
func syncWorker(logger *slog.Logger, w SyncRunner) invocationFunc {
	return func(ctx context.Context, inv *Invocation) error {
		msg, err := funcwire.DecodeServiceBus(inv.Request, "job")
		if err != nil {
			return err
		}
		job, err := queue.DecodeSyncJob(msg.Body)
		if err != nil {
			logger.Error("poison sync job completed without running", "function", inv.Function, "invocationId", inv.ID,
				"messageId", msg.MessageID, "deliveryCount", msg.DeliveryCount, "error", err.Error())
			inv.Logf("message %s is not a valid sync job and was dropped: %v", msg.MessageID, err)
			return nil
		}
		obs.SetUser(ctx, job.TenantID, job.UserID)
		res, err := w.Run(ctx, job)
		if err != nil {
			return err
		}
		obs.SetOutcome(ctx, res.Outcome)
		countRows(ctx, logger, res)
		inv.Logf("sync job %s (tenant %s): %s", msg.MessageID, job.TenantID, res.Outcome)
		return nil
	}
}

// countRows logs the rows each entity set of a run wrote into the mirror
// (obs.MetricRowsSynced); sets that failed before writing count nothing.
func countRows(ctx context.Context, logger *slog.Logger, res syncer.Result) {
	for _, s := range res.Sets {
		if s.Err != nil && s.Upserted+s.Deleted == 0 {
			continue
		}
		obs.Count(ctx, logger, obs.MetricRowsSynced, s.Upserted+s.Deleted, slog.String("entitySet", s.EntitySet),
			slog.Int64("upserted", s.Upserted), slog.Int64("deleted", s.Deleted), slog.Bool("full", s.Full))
	}
}

func schedulerOr501(s Scheduling) invocationFunc {
	if s == nil {
		return notImplementedInvocation
	}
	return syncScheduler(s)
}

func syncWorkerOr501(logger *slog.Logger, w SyncRunner) invocationFunc {
	if w == nil {
		return notImplementedInvocation
	}
	return syncWorker(logger, w)
}

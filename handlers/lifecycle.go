package handlers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/funcwire"
	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// lifecycleBudget bounds one LifecycleWorker pass, well inside the
// 10-minute functionTimeout; the rest goes on in a continuation.
const lifecycleBudget = 8 * time.Minute

// lifecycleWorker is the LifecycleWorker Service Bus function: it goes on
// with a user's erasure or offboards a tenant. What is not done is
// scheduled again (the next attempt's message) and the message completed;
// a failure fails the invocation, so Service Bus redelivers it, and a
// message that can never be valid ends in the dead-letter queue, where
// an operator sees it.
func lifecycleWorker(logger *slog.Logger, d LifecycleDeps) invocationFunc {
	return func(ctx context.Context, inv *Invocation) error {
		m, err := funcwire.DecodeServiceBus(inv.Request, "lifecycle")
		if err != nil {
			return err
		}
		msg, err := queue.DecodeLifecycle(m.Body)
		if err != nil {
			return err
		}
		work, cancel := context.WithTimeout(ctx, lifecycleBudget)
		defer cancel()
		var res lifecycle.Result
		switch msg.Op {
		case queue.OpEraseUser:
			obs.SetUser(ctx, msg.TenantID, msg.UserID)
			res, err = d.Eraser.EraseUser(work, msg.TenantID, msg.UserID, lifecycle.Request{Kind: store.ErasureOperator, By: "operator", Continue: msg.Continuation})
		case queue.OpOffboardTenant:
			if msg.Continuation {
				res, err = d.Eraser.ContinueOffboarding(work, msg.TenantID)
			} else {
				res, err = d.Eraser.OffboardTenant(work, msg.TenantID, "operator")
			}
			if apperr.KindOf(err) == apperr.NotFound {
				logger.Warn("offboarding of an unknown tenant: nothing to do", "function", inv.Function, "tenant", msg.TenantID)
				inv.Logf("tenant %s: nothing to offboard", msg.TenantID)
				return nil
			}
		}
		at := res.RetryAt
		switch {
		case err != nil && work.Err() == nil:
			return err
		case err != nil:
			at = time.Now() // the pass spent its budget: the next one goes on at once
		case res.Done:
			inv.Logf("%s for tenant %s done: %s", msg.Op, msg.TenantID, res.Counts)
			return nil
		}
		if _, err := d.Queue.ScheduleAt(ctx, at, msg.ContinueAt(at)); err != nil {
			return apperr.Wrap(apperr.Transient, err, "could not schedule the erasure's next pass")
		}
		inv.Logf("%s for tenant %s goes on at %s: %s", msg.Op, msg.TenantID, at.UTC().Format(time.RFC3339), res.Waiting)
		return nil
	}
}

// retention is the Retention timer function (RETENTION_SCHEDULE).
func retention(d LifecycleDeps) invocationFunc {
	return func(ctx context.Context, inv *Invocation) error {
		if _, err := funcwire.DecodeTimer(inv.Request, "timer"); err != nil {
			return err
		}
		work, cancel := context.WithTimeout(ctx, lifecycleBudget)
		defer cancel()
		rep, err := d.Eraser.Retain(work, d.Retention)
		for _, u := range rep.Unfinished {
			if _, qerr := d.Queue.ScheduleAt(ctx, u.At, queue.EraseUser(u.TenantID, u.UserID).ContinueAt(u.At)); qerr != nil {
				err = errors.Join(err, apperr.Wrap(apperr.Transient, qerr, "could not schedule an erasure's next pass; the next retention run goes on with it"))
			}
		}
		inv.Logf("retention: %d unfinished erasures continued, %d inactive connections erased, %d uploads and %d sign-in flows deleted (more: %v)",
			rep.Continued, rep.Inactive, rep.Uploads, rep.AuthFlows, rep.More)
		return err
	}
}

package uploader

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// minRetryDelay is the shortest delay of a scheduled retry.
const minRetryDelay = time.Second

// settle records the outcome of an attempt and decides the message's fate
// (the table in outcome.go).
func (s *Service) settle(ctx context.Context, row *store.Upload, m queue.Upload, delivery int, connectedAt time.Time, o outcome, log *slog.Logger) (string, error) {
	now := s.now().UTC()
	row.UpdatedAt = now
	if o.err != nil {
		log = log.With("error", o.err.Error())
	}
	switch o.kind {
	case outcomeDone:
		row.Status, row.CompletedAt = store.UploadDone, now
		setError(row, nil)
		if err := s.save(ctx, row); err != nil {
			return "", err
		}
		// The report is in Dynamics now: its blobs need not be kept twice.
		if err := s.Blobs.Delete(ctx, o.blobs...); err != nil {
			log.Warn("could not delete the finished upload's blobs", "deleteError", err.Error())
		}
		log.Info("upload written to Dynamics", "attempts", row.Attempts)
		counted(ctx, log, store.UploadDone)
		return "done", nil

	case outcomeThrottled:
		at := now.Add(max(o.retryAfter, minRetryDelay))
		retry := m
		retry.Attempt = max(m.Attempt, row.RetryAttempt) + 1
		if _, err := s.Queue.ScheduleAt(ctx, at, retry); err != nil {
			log.Warn("throttled, and the retry could not be scheduled; the message will be delivered again", "scheduleError", err.Error())
			return "", apperr.Wrap(apperr.Transient, err, "could not schedule the retry")
		}
		row.Status, row.RetryAttempt, row.NextAttemptAt = store.UploadRetrying, retry.Attempt, at
		setError(row, o.last)
		if err := s.save(ctx, row); err != nil {
			return "", err
		}
		log.Info("throttled by Dynamics; retry scheduled", "retryAt", at, "retryAttempt", retry.Attempt)
		counted(ctx, log, "throttled")
		return "throttled; retry " + retry.MessageID() + " at " + at.Format(time.RFC3339), nil

	case outcomeParked:
		row.Status = store.UploadParked
		setError(row, o.last)
		if err := s.save(ctx, row); err != nil {
			return "", err
		}
		log.Warn("upload parked until the user signs in again")
		counted(ctx, log, store.UploadParked)
		// A sign-in between reading the connection and parking would have
		// found nothing parked: look once more, and re-queue if so.
		if conn, err := s.Connections.Get(ctx, row.TenantID, row.UserID); err == nil &&
			conn.Status == store.StatusActive && conn.ConnectedAt.After(connectedAt) {
			if err := s.requeue(ctx, row); err != nil {
				log.Warn("the user signed in meanwhile, but the upload could not be re-queued", "requeueError", err.Error())
			}
			return "parked, and re-queued after a new sign-in", nil
		}
		return "parked", nil

	case outcomeCancelled:
		row.Status, row.CompletedAt = store.UploadCancelled, now
		setError(row, o.last)
		if err := s.save(ctx, row); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return "", err // the erasure's own write (or deletion) of the row wins
		}
		log.Info("upload cancelled: the user disconnected before it was written")
		counted(ctx, log, store.UploadCancelled)
		return "cancelled", nil

	case outcomeConflict:
		row.Status, row.CompletedAt = store.UploadConflict, now
		setError(row, o.last)
		if err := s.save(ctx, row); err != nil {
			return "", err
		}
		log.Info("upload not written: rows it updates changed in Dynamics", "conflicts", len(conflicts(*row)))
		counted(ctx, log, store.UploadConflict)
		return "conflict", nil

	case outcomeFailed:
		row.Status, row.CompletedAt = store.UploadFailed, now
		if !row.BatchDone {
			setConflicts(row, nil) // nothing of the report was written over
		}
		setError(row, o.last)
		if err := s.save(ctx, row); err != nil {
			return "", err
		}
		log.Warn("Dynamics refused the upload", "code", o.last.Code, "status", o.last.HTTPStatus, "item", o.last.Item)
		counted(ctx, log, store.UploadFailed)
		return "failed: " + o.last.Message, nil
	}

	row.Status = store.UploadRetrying
	if delivery >= s.cfg.MaxDeliveryCount {
		row.Status = store.UploadDeadLettered
	}
	setError(row, o.last)
	if err := s.save(ctx, row); err != nil {
		log.Warn("could not record the failure", "saveError", err.Error())
	}
	log.Warn("upload attempt failed; Service Bus delivers it again", "status", row.Status)
	counted(ctx, log, row.Status)
	return "", apperr.Wrap(apperr.Transient, o.err, "the upload failed for now: "+o.last.Message)
}

// counted records what an attempt came to: the invocation's outcome and
// one obs.MetricUploads.
func counted(ctx context.Context, log *slog.Logger, outcome string) {
	obs.SetOutcome(ctx, outcome)
	obs.Count(ctx, log, obs.MetricUploads, 1, slog.String("outcome", outcome))
}

package uploader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// ResumeParked re-queues every parked upload of user in tenant, after they
// signed in again (signin calls it). Each gets a message of its own
// (attempt n+1, so duplicate detection keeps it) and is queued again.
func (s *Service) ResumeParked(ctx context.Context, tenant, user string) error {
	rows, err := s.Rows.ListByStatus(ctx, tenant, user, store.UploadParked)
	if err != nil {
		return fmt.Errorf("list parked uploads: %w", err)
	}
	var errs []error
	for i := range rows {
		if err := s.requeue(ctx, &rows[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(rows) > 0 {
		s.Logger.Info("parked uploads re-queued", "tenant", tenant, "user", user, "count", len(rows)-len(errs))
	}
	return errors.Join(errs...)
}

// requeue sends row again and marks it queued. If the row changed
// meanwhile, the newer state stands (the message then finds it superseded
// or finished).
func (s *Service) requeue(ctx context.Context, row *store.Upload) error {
	m := queue.NewUpload(row.TenantID, row.UserID, row.UploadID)
	m.Attempt = row.RetryAttempt + 1
	if err := s.Queue.Send(ctx, m); err != nil {
		return fmt.Errorf("re-queue upload %s: %w", row.UploadID, err)
	}
	row.Status, row.RetryAttempt, row.UpdatedAt, row.NextAttemptAt = store.UploadQueued, m.Attempt, s.now().UTC(), time.Time{}
	if _, err := s.Rows.Update(ctx, *row); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("mark upload %s queued: %w", row.UploadID, err)
	}
	return nil
}

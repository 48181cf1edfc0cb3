package syncer

import (
	"context"
	"log/slog"
	"time"

	"github.com/pitcher/connector/internal/queue"
)

// The change log is trimmed at most once a day per user, after a run that
// synced, under the lease (so nothing is appended meanwhile): entries older
// than SYNC_CHANGES_RETENTION go, at most trimLimit a day. The lease row
// remembers when, so a run that finds nothing to do costs no request.
const (
	trimEvery = 24 * time.Hour
	trimLimit = 20000
)

// trimLog trims the user's change log when it is due. A failure is logged
// and tried again next run: the sync itself succeeded. A zero retention
// (a SyncTuning not made by config.Load) keeps everything.
func (w *Worker) trimLog(ctx context.Context, log *slog.Logger, job queue.SyncJob, l *lease) {
	now := w.d.Now()
	if w.tuning.ChangesRetention <= 0 || now.Sub(l.trimmedAt()) < trimEvery {
		return
	}
	n, more, err := w.d.Mirror.TrimChanges(ctx, job.TenantID, job.UserID, now.Add(-w.tuning.ChangesRetention), trimLimit)
	if err != nil {
		log.Warn("could not trim the change log; the next run tries again", "error", err.Error())
		return
	}
	if n > 0 {
		log.Info("change log trimmed", "entries", n, "more", more)
	}
	if !more {
		l.markTrimmed(now)
	}
}

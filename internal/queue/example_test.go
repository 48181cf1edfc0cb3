package queue_test

import (
	"context"
	"time"

	"github.com/pitcher/connector/internal/queue"
)

// firstSyncQueuer is how a consumer, such as the sign-in flow, declares
// what it needs: queue the first sync of a user who just signed in.
type firstSyncQueuer func(ctx context.Context, tenantID, userID string, connectedAt time.Time) error

// A *queue.Sender[queue.SyncJob] fits it with a one-line adapter.
func Example_firstSyncAdapter() {
	var syncJobs *queue.Sender[queue.SyncJob] // from queue.NewSender[queue.SyncJob](client, cfg.SyncQueue)
	var queueFirstSync firstSyncQueuer = func(ctx context.Context, tenantID, userID string, connectedAt time.Time) error {
		return syncJobs.Send(ctx, queue.InitialSync(tenantID, userID, connectedAt))
	}
	_ = queueFirstSync
	// Output:
}

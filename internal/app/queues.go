package app

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/queue"
)

// Queues are the app's Service Bus senders, sharing one client (one AMQP
// connection, opened on the first send).
type Queues struct {
	client   *azservicebus.Client
	SyncJobs *queue.Sender[queue.SyncJob]
	Uploads  *queue.Sender[queue.Upload]
	// Lifecycle carries erasures that go on in the background.
	Lifecycle *queue.Sender[queue.Lifecycle]
}

// newQueues builds the senders of the sync-jobs, uploads and lifecycle queues over
// client, which Close closes. It contacts nothing.
func newQueues(client *azservicebus.Client, syncQueue, uploadQueue, lifecycleQueue string) (*Queues, error) {
	syncJobs, err := queue.NewSender[queue.SyncJob](client, syncQueue)
	if err != nil {
		return nil, err
	}
	uploads, err := queue.NewSender[queue.Upload](client, uploadQueue)
	if err != nil {
		return nil, err
	}
	lifecycle, err := queue.NewSender[queue.Lifecycle](client, lifecycleQueue)
	if err != nil {
		return nil, err
	}
	return &Queues{client: client, SyncJobs: syncJobs, Uploads: uploads, Lifecycle: lifecycle}, nil
}

// EnqueueFirstSync queues the first sync of a user who has just signed in
// (signin.FirstSyncQueue).
func (q *Queues) EnqueueFirstSync(ctx context.Context, tenantID, userID string, connectedAt time.Time) error {
	return q.SyncJobs.Send(ctx, queue.InitialSync(tenantID, userID, connectedAt))
}

// Close closes the senders and the connection.
func (q *Queues) Close(ctx context.Context) error {
	return errors.Join(q.SyncJobs.Close(ctx), q.Uploads.Close(ctx), q.Lifecycle.Close(ctx), q.client.Close(ctx))
}

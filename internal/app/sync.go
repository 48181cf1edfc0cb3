package app

import (
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
)

// addSync builds the downstream sync: the scheduler, the worker and the
// mirror whose change log the Changes API reads.
func (a *App) addSync(blobs *azblob.Client, conns *store.Connections, logger *slog.Logger) {
	s := a.Settings
	a.Mirror = mirror.New(a.DB, mirror.NewAzureBlobs(blobs))
	a.Scheduler = &syncer.Scheduler{Conns: conns, Jobs: a.Queues.SyncJobs, Tuning: s.SyncTuning, Logger: logger.With("function", "SyncScheduler")}
	a.SyncWorker = syncer.NewWorker(s.Sync, s.SyncTuning, syncer.Deps{Conns: conns, Vault: a.Vault, States: store.NewSyncStates(a.DB),
		Mirror: a.Mirror, Requeue: a.Queues.SyncJobs, Logger: logger.With("function", "SyncWorker"), HTTPClient: dataverseHTTP(logger)})
}

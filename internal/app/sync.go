package app

import (
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/notefiles"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/internal/tokens"
)

// addSync builds the downstream sync: the scheduler, the worker (writing
// the mirror whose change log the Changes API reads), and the notes'
// documents the Documents API serves.
func (a *App) addSync(blobs *azblob.Client, conns *store.Connections, logger *slog.Logger) {
	s := a.Settings
	hc := dataverseHTTP(logger)
	a.NoteFiles = notefiles.New(a.Mirror, blobs.ServiceClient().NewContainerClient(notefiles.Container), func(o notefiles.Owner) (*dataverse.Client, error) {
		return dataverse.New(o.OrgURL, tokens.Source{Issuer: a.Vault, TenantID: o.TenantID, UserID: o.UserID, Resource: o.OrgURL},
			&dataverse.Options{Retry: downloadRetry, HTTPClient: hc})
	}, s.Sync.Notes.MaxFileSize)
	a.Scheduler = &syncer.Scheduler{Conns: conns, Index: store.NewDueIndex(a.DB), Jobs: a.Queues.SyncJobs, Tuning: s.SyncTuning, Logger: logger.With("function", "SyncScheduler")}
	a.SyncWorker = syncer.NewWorker(s.Sync, s.SyncTuning, syncer.Deps{Conns: conns, Vault: a.Vault, States: store.NewSyncStates(a.DB),
		Mirror: a.Mirror, Documents: a.NoteFiles, Requeue: a.Queues.SyncJobs, Logger: logger.With("function", "SyncWorker"), HTTPClient: hc})
}

// downloadRetry is the retry policy of a document download: the app is
// waiting, so a long Retry-After is passed on to it (503) rather than
// waited out.
var downloadRetry = dataverse.RetryPolicy{MaxAttempts: 3, BaseDelay: 500 * time.Millisecond, MaxDelay: 2 * time.Second, MaxRetryAfter: 2 * time.Second}

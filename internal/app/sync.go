package app

import (
	"log/slog"
	"net/http"

	"github.com/pitcher/connector/handlers"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/internal/tokens"
)

// addSync builds the downstream sync: the scheduler, the worker and the
// change log the Changes API reads.
func addSync(d *handlers.Deps, cfg config.Config, db *store.DB, conns *store.Connections, vault *tokens.Vault, queues *Queues, logger *slog.Logger) error {
	blobs, err := mirror.NewAzureBlobs(cfg.Storage)
	if err != nil {
		return err
	}
	m := mirror.New(db, blobs)
	d.Changes = m
	d.Scheduler = &syncer.Scheduler{Conns: conns, Jobs: queues.SyncJobs, Tuning: cfg.SyncTuning, Logger: logger.With("function", "SyncScheduler")}
	d.SyncWorker = syncer.NewWorker(cfg.Sync, cfg.SyncTuning, syncer.Deps{Conns: conns, Vault: vault, States: store.NewSyncStates(db),
		Mirror: m, Requeue: queues.SyncJobs, Logger: logger.With("function", "SyncWorker"), HTTPClient: dataverseHTTP(logger)})
	return nil
}

// dataverseHTTP is the HTTP client of the engines' Dataverse requests: the
// client's tuned transport, with every 429 counted (obs.MetricThrottleWaits).
func dataverseHTTP(logger *slog.Logger) *http.Client {
	return &http.Client{Transport: obs.ObserveThrottling(dataverse.NewTransport(), logger)}
}

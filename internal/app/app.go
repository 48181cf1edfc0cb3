// Package app is the connector's composition root: the one place that turns
// settings into parts. It makes the Azure SDK clients (one credential per
// managed identity), the Table Storage tables, the Entra client and
// verifier, the token vault, the sign-in flows, the API authenticator, the
// sync and upload engines and the diagnostics, and wires them together.
// The HTTP server (package handlers) is built over these parts by
// cmd/handler; connectorctl uses them without it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/notefiles"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/signin"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/internal/uploader"
)

// Options are the parts a caller may supply; nil means the default.
type Options struct {
	// Queue queues first syncs; nil means the sync-jobs queue.
	Queue signin.FirstSyncQueue
	// Dynamics reaches Global Discovery and WhoAmI; nil means over HTTP.
	Dynamics signin.Dynamics
}

// App is the built object graph.
type App struct {
	Settings Settings
	DB       *store.DB
	Vault    *tokens.Vault
	Queues   *Queues
	// Documents is the Blob Storage container of uploads.
	Documents *documents.Store

	// SignIn runs the consent and sign-in flows; Auth checks the app's
	// device tokens.
	SignIn *signin.Service
	Auth   *apiauth.Authenticator
	// Uploads runs the upload pipeline (UploadIntake, UploadStatus, UploadWorker).
	Uploads *uploader.Service
	// Scheduler and SyncWorker run the downstream sync; Mirror holds what it
	// copied and serves the change log.
	Scheduler  *syncer.Scheduler
	SyncWorker *syncer.Worker
	Mirror     *mirror.Store
	// NoteFiles serves and caches the documents of synced notes.
	NoteFiles *notefiles.Service
	// Doctor runs the diagnostics (connectorctl doctor); Diagnostics shares
	// its reports between concurrent GET /api/diagnostics requests.
	Doctor      *diagnose.Doctor
	Diagnostics *diagnose.Shared
	// Eraser erases users and tenants (disconnect, offboarding, retention).
	Eraser *lifecycle.Eraser

	probeSB *azservicebus.Client
}

// Tables are the tables this package's parts use.
var Tables = []string{store.TenantsTable, store.ConnectionsTable, store.AuthFlowsTable,
	store.SyncStateTable, store.SyncDueTable, mirror.RecordsTable, mirror.ChangesTable, store.UploadsTable, store.ErasuresTable}

// New builds the app. It contacts nothing; EnsureTables does.
func New(s Settings, logger *slog.Logger, opts Options) (*App, error) {
	var clients Clients
	tables, err := clients.Tables(s.Storage, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.SettingStorage, err)
	}
	blobs, err := clients.Blobs(s.Storage, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.SettingStorage, err)
	}
	sb, err := clients.ServiceBus(s.ServiceBus, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.SettingServiceBus, err)
	}
	a := &App{Settings: s, DB: store.NewDB(tables, s.Storage.TablePrefix),
		Documents: documents.New(blobs.ServiceClient().NewContainerClient(s.Uploads.Container))}
	a.Queues, err = newQueues(sb, s.SyncQueue, s.UploadQueue, s.Lifecycle.Queue)
	if err != nil {
		return nil, err
	}
	e := s.Entra
	authority, err := entra.NewAuthority(e.AuthorityHost)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.SettingAuthorityHost, err)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	client := entra.NewClient(authority, e.ClientID, e.ClientSecret, hc)
	verifier := entra.NewVerifier(authority, entra.NewKeySet(authority.JWKSURL(), hc), e.ClientID, e.AppIDURI)
	keys := make([]tokens.Key, len(e.TokenKeys))
	for i, k := range e.TokenKeys {
		keys[i] = tokens.Key{ID: k.ID, Secret: k.Secret}
	}
	ring, err := tokens.NewKeyRing(e.ActiveTokenKey, keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.SettingTokenKeys, err)
	}
	returnTo, err := signin.NewReturnToPolicy(e.ReturnToAllowlist)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.SettingReturnToAllowlist, err)
	}
	tenants, conns, flows := store.NewTenants(a.DB), store.NewConnections(a.DB), store.NewAuthFlows(a.DB)
	a.Vault = tokens.NewVault(conns, client, ring, logger)
	firstSync := opts.Queue
	if firstSync == nil {
		firstSync = a.Queues
	}
	dyn := opts.Dynamics
	if dyn == nil {
		dyn = signin.DataverseDynamics{}
	}
	a.Mirror = mirror.New(a.DB, mirror.NewAzureBlobs(blobs))
	u := s.Uploads
	uploadRetry := dataverse.DefaultRetry
	uploadRetry.MaxRetryAfter = uploader.InlineRetryAfter
	a.Uploads = uploader.New(uploader.Config{Allow: s.Allow, MaxBodyBytes: u.MaxBodyBytes, MaxDocuments: u.MaxDocuments,
		InlineDocumentBytes: u.InlineDocumentBytes, MaxDeliveryCount: u.MaxDeliveryCount,
		Dataverse: &dataverse.Options{Retry: uploadRetry, HTTPClient: dataverseHTTP(logger)}},
		uploader.Deps{Rows: store.NewUploads(a.DB), Blobs: a.Documents, Queue: a.Queues.Uploads, Connections: conns, Tokens: a.Vault, Versions: a.Mirror, Logger: logger})
	a.SignIn = signin.New(signin.Config{ConsentRedirectURI: e.ConsentRedirectURI, LoginRedirectURI: e.LoginRedirectURI,
		DiscoveryURL: e.DiscoveryURL, ReturnTo: returnTo},
		signin.Deps{Entra: client, IDs: verifier, Flows: flows, Tenants: tenants, Conns: conns, Vault: a.Vault, Keys: ring,
			Dynamics: dyn, Queue: firstSync, Parked: a.Uploads, Logger: logger})
	a.Auth = &apiauth.Authenticator{Verifier: verifier, Tenants: tenants, Connections: conns, Scope: e.APIScope, Clients: e.APIAllowedClientIDs}
	a.addSync(blobs, conns, logger)
	svc := blobs.ServiceClient()
	a.Eraser = lifecycle.New(lifecycle.Deps{DB: a.DB, Conns: conns, Tenants: tenants, Uploads: store.NewUploads(a.DB),
		States: store.NewSyncStates(a.DB), Flows: flows, Audit: store.NewErasures(a.DB), Pseudo: obs.NewPseudonyms(s.Ops.PseudonymKey),
		Logger: logger, LeaseDuration: s.SyncTuning.LeaseDuration, Forget: a.Vault.ForgetUser,
		Blobs: []lifecycle.Container{{Name: s.Uploads.Container, Client: svc.NewContainerClient(s.Uploads.Container), Uploads: true},
			{Name: mirror.OverflowContainer, Client: svc.NewContainerClient(mirror.OverflowContainer)},
			{Name: notefiles.Container, Client: svc.NewContainerClient(notefiles.Container)}},
		DeadLetters: map[string]lifecycle.DeadLetterQueue{s.SyncQueue: queue.NewDeadLetters(sb, s.SyncQueue),
			s.UploadQueue: queue.NewDeadLetters(sb, s.UploadQueue), s.Lifecycle.Queue: queue.NewDeadLetters(sb, s.Lifecycle.Queue)}})
	if err := a.addDoctor(&clients, client); err != nil {
		return nil, err
	}
	return a, nil
}

// Close releases the app's connections.
func (a *App) Close(ctx context.Context) error {
	return errors.Join(a.Queues.Close(ctx), a.probeSB.Close(ctx))
}

// EnsureTables creates the app's tables and the documents container,
// retrying until it succeeds or ctx ends, so a handler that starts before
// Storage is reachable recovers.
func (a *App) EnsureTables(ctx context.Context, logger *slog.Logger) error {
	wait := time.Second
	for {
		err := a.DB.CreateTables(ctx, Tables...)
		if err == nil {
			err = a.Documents.EnsureContainer(ctx)
		}
		if err == nil {
			return nil
		}
		logger.Warn("could not create the tables; retrying", "error", err.Error(), "retryIn", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// dataverseHTTP is the HTTP client of the engines' Dataverse requests: the
// client's tuned transport, with every 429 counted (obs.MetricThrottleWaits).
func dataverseHTTP(logger *slog.Logger) *http.Client {
	return &http.Client{Transport: obs.ObserveThrottling(dataverse.NewTransport(), logger)}
}

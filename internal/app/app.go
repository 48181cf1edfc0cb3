// Package app builds the handler's object graph from its configuration:
// the Table Storage tables, the Entra client and verifier, the token vault,
// the sign-in flows and the API authenticator.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/handlers"
	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/signin"
	"github.com/pitcher/connector/internal/store"
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
	Deps   handlers.Deps
	Vault  *tokens.Vault
	Queues *Queues
	DB     *store.DB
	// Documents is the Blob Storage container of uploads.
	Documents *documents.Store
	// Doctor runs the diagnostics (GET /api/diagnostics, connectorctl doctor).
	Doctor *diagnose.Doctor

	probeSB *azservicebus.Client
}

// Tables are the tables this package's parts use.
var Tables = []string{store.TenantsTable, store.ConnectionsTable, store.AuthFlowsTable,
	store.SyncStateTable, mirror.RecordsTable, mirror.ChangesTable, store.UploadsTable}

// New builds the app. It contacts nothing; EnsureTables does.
func New(cfg config.Config, logger *slog.Logger, opts Options) (*App, error) {
	db, err := store.Open(cfg.Storage)
	if err != nil {
		return nil, err
	}
	e := cfg.Entra
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
	tenants, conns, flows := store.NewTenants(db), store.NewConnections(db), store.NewAuthFlows(db)
	vault := tokens.NewVault(conns, client, ring, logger)
	queues, err := NewQueues(cfg)
	if err != nil {
		return nil, err
	}
	firstSync := opts.Queue
	if firstSync == nil {
		firstSync = queues
	}
	dyn := opts.Dynamics
	if dyn == nil {
		dyn = signin.DataverseDynamics{}
	}
	docs, err := documents.Open(cfg.Storage, cfg.Uploads.Container)
	if err != nil {
		return nil, err
	}
	u := cfg.Uploads
	uploadRetry := dataverse.DefaultRetry
	uploadRetry.MaxRetryAfter = uploader.InlineRetryAfter
	uploads := uploader.New(uploader.Config{Allow: u.Allow, MaxBodyBytes: u.MaxBodyBytes, MaxDocuments: u.MaxDocuments,
		InlineDocumentBytes: u.InlineDocumentBytes, MaxDeliveryCount: u.MaxDeliveryCount,
		Dataverse: &dataverse.Options{Retry: uploadRetry, HTTPClient: dataverseHTTP(logger)}},
		uploader.Deps{Rows: store.NewUploads(db), Blobs: docs, Queue: queues.Uploads, Connections: conns, Tokens: vault, Logger: logger})
	flowsSvc := signin.New(signin.Config{ConsentRedirectURI: e.ConsentRedirectURI, LoginRedirectURI: e.LoginRedirectURI,
		DiscoveryURL: e.DiscoveryURL, ReturnTo: returnTo},
		signin.Deps{Entra: client, IDs: verifier, Flows: flows, Tenants: tenants, Conns: conns, Vault: vault, Keys: ring,
			Dynamics: dyn, Queue: firstSync, Parked: uploads, Logger: logger})
	auth := &apiauth.Authenticator{Verifier: verifier, Tenants: tenants, Connections: conns, Scope: e.APIScope}
	deps := handlers.Deps{SignIn: flowsSvc, Auth: auth, Uploads: uploads, PublicBaseURL: e.PublicBaseURL}
	if err := addSync(&deps, cfg, db, conns, vault, queues, logger); err != nil {
		return nil, err
	}
	doctor, probeSB, err := newDoctor(cfg, client, db, vault)
	if err != nil {
		return nil, err
	}
	deps.Diagnostics = &diagnose.Shared{Runner: doctor, TTL: diagnosticsTTL}
	deps.DiagnosticsKey = cfg.Ops.DiagnosticsKey
	return &App{Deps: deps, Vault: vault, Queues: queues, DB: db, Documents: docs, Doctor: doctor, probeSB: probeSB}, nil
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

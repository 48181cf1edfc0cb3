package app

import (
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/identity"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
)

// probeRetry: the diagnostics' own Storage and Service Bus clients retry
// once, quickly, so that a dead link is reported in seconds.
var probeRetry = policy.RetryOptions{MaxRetries: 1, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: time.Second}

// diagnosticsTTL is how long GET /api/diagnostics answers a target with
// the same report (diagnose.Shared).
const diagnosticsTTL = 10 * time.Second

// newDoctor builds the diagnostics over the app's parts, with Storage and
// Service Bus clients of their own that give up quickly. It contacts
// nothing.
func newDoctor(cfg config.Config, client *entra.Client, db *store.DB, vault *tokens.Vault) (*diagnose.Doctor, *azservicebus.Client, error) {
	tables, blobs, err := probeStorage(cfg.Storage)
	if err != nil {
		return nil, nil, err
	}
	sb, err := queue.NewClientWithOptions(cfg.ServiceBus, &azservicebus.ClientOptions{RetryOptions: azservicebus.RetryOptions{
		MaxRetries: 1, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: time.Second}})
	if err != nil {
		return nil, nil, err
	}
	probeDB := store.NewDB(tables, cfg.Storage.TablePrefix)
	d := &diagnose.Doctor{
		Entra: client, Tenants: store.NewTenants(db), Connections: store.NewConnections(db), Tokens: vault,
		SyncStates: store.NewSyncStates(db), Uploads: store.NewUploads(db),
		Storage:      &diagnose.AzureStorage{DB: probeDB, Blobs: blobs, Account: cfg.Storage.String()},
		Queues:       &diagnose.ServiceBusQueues{Client: sb, Namespace: cfg.ServiceBus.String()},
		ConsentScope: cfg.Entra.DiscoveryURL + "/.default", PublicBaseURL: cfg.Entra.PublicBaseURL,
		Sets: cfg.Sync.EntitySets, SyncInterval: cfg.SyncTuning.Interval,
		Tables:     Tables,
		Containers: []diagnose.Container{{Name: cfg.Uploads.Container}, {Name: mirror.OverflowContainer, CreatedOnDemand: true}},
		QueueList: []diagnose.Queue{{Role: "sync", Name: cfg.SyncQueue, Setting: config.SettingSyncQueue},
			{Role: "uploads", Name: cfg.UploadQueue, Setting: config.SettingUploadQueue}},
		DataverseHTTP: &http.Client{Timeout: 30 * time.Second},
	}
	return d, sb, nil
}

// probeStorage returns Table and Blob clients of the account with
// probeRetry.
func probeStorage(s config.Storage) (*aztables.ServiceClient, *azblob.Client, error) {
	co := azcore.ClientOptions{Retry: probeRetry}
	if s.ConnectionString != "" {
		t, err := aztables.NewServiceClientFromConnectionString(s.ConnectionString, &aztables.ClientOptions{ClientOptions: co})
		if err != nil {
			return nil, nil, fmt.Errorf("diagnostics: table client: %w", err)
		}
		b, err := azblob.NewClientFromConnectionString(s.ConnectionString, &azblob.ClientOptions{ClientOptions: co})
		if err != nil {
			return nil, nil, fmt.Errorf("diagnostics: blob client: %w", err)
		}
		return t, b, nil
	}
	cred, err := identity.Credential(s.ClientID)
	if err != nil {
		return nil, nil, fmt.Errorf("diagnostics: %w", err)
	}
	t, err := aztables.NewServiceClient(s.TableServiceURL, cred, &aztables.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, nil, fmt.Errorf("diagnostics: table client for %s: %w", s.TableServiceURL, err)
	}
	b, err := azblob.NewClient(s.BlobServiceURL, cred, &azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, nil, fmt.Errorf("diagnostics: blob client for %s: %w", s.BlobServiceURL, err)
	}
	return t, b, nil
}

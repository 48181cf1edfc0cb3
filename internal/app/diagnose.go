package app

import (
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/notefiles"
	"github.com/pitcher/connector/internal/store"
)

// probeRetry: the diagnostics' own Storage and Service Bus clients retry
// once, quickly, so that a dead link is reported in seconds.
var probeRetry = policy.RetryOptions{MaxRetries: 1, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: time.Second}

// diagnosticsTTL is how long GET /api/diagnostics answers a target with
// the same full report (the diagnostics key; diagnose.Shared); a user's
// own report is reused for diagnose.OwnReportTTL.
const diagnosticsTTL = 10 * time.Second

// addDoctor builds the diagnostics over the app's parts, with Storage and
// Service Bus clients of their own that give up quickly. It contacts
// nothing.
func (a *App) addDoctor(clients *Clients, client *entra.Client) error {
	s := a.Settings
	probe := &azcore.ClientOptions{Retry: probeRetry}
	tables, err := clients.Tables(s.Storage, probe)
	if err != nil {
		return err
	}
	blobs, err := clients.Blobs(s.Storage, probe)
	if err != nil {
		return err
	}
	a.probeSB, err = clients.ServiceBus(s.ServiceBus, &azservicebus.ClientOptions{RetryOptions: azservicebus.RetryOptions{
		MaxRetries: probeRetry.MaxRetries, RetryDelay: probeRetry.RetryDelay, MaxRetryDelay: probeRetry.MaxRetryDelay}})
	if err != nil {
		return err
	}
	a.Doctor = &diagnose.Doctor{
		Entra: client, Tenants: store.NewTenants(a.DB), Connections: store.NewConnections(a.DB), Tokens: a.Vault,
		SyncStates: store.NewSyncStates(a.DB), Uploads: store.NewUploads(a.DB),
		Storage:      &diagnose.AzureStorage{DB: store.NewDB(tables, s.Storage.TablePrefix), Blobs: blobs, Account: s.Storage.String()},
		Queues:       &diagnose.ServiceBusQueues{Client: a.probeSB, Namespace: s.ServiceBus.String()},
		ConsentScope: s.Entra.DiscoveryURL + "/.default", PublicBaseURL: s.Entra.PublicBaseURL,
		Sets: s.Sync.EntitySets, SyncInterval: s.SyncTuning.Interval, RetentionInactive: s.Lifecycle.Inactive,
		Tables:     Tables,
		Containers: []diagnose.Container{{Name: s.Uploads.Container}, {Name: mirror.OverflowContainer, CreatedOnDemand: true}, {Name: notefiles.Container, CreatedOnDemand: true}},
		QueueList: []diagnose.Queue{{Role: "sync", Name: s.SyncQueue, Setting: config.SettingSyncQueue},
			{Role: "uploads", Name: s.UploadQueue, Setting: config.SettingUploadQueue},
			{Role: "lifecycle", Name: s.Lifecycle.Queue, Setting: config.SettingLifecycleQueue}},
		DataverseHTTP: &http.Client{Timeout: 30 * time.Second},
	}
	a.Diagnostics = &diagnose.Shared{Runner: a.Doctor, TTL: diagnosticsTTL, OwnTTL: diagnose.OwnReportTTL}
	return nil
}

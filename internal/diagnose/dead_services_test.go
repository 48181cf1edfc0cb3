package diagnose_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestDoctorWhenStorageOrServiceBusDies: with an Azurite and a Service Bus
// fake of its own, the Storage and Service Bus checks pass; when Azurite's
// process is killed the Storage checks fail, naming the unreachable
// endpoint, within the per-check timeout; when the fake's is killed, the
// queue checks fail the same way. No other check changes.
func TestDoctorWhenStorageOrServiceBusDies(t *testing.T) {
	storage, azurite := testenv.PrivateAzurite(t)
	sb, fake := testenv.PrivateServiceBus(t)
	syncQ := sb.NewQueue(t, testenv.QueueProperties{MaxDeliveryCount: 5})
	uploadQ := sb.NewQueue(t, testenv.QueueProperties{MaxDeliveryCount: 10})
	lifecycleQ := sb.NewQueue(t, testenv.QueueProperties{MaxDeliveryCount: 10})
	ctx := context.Background()
	prepareStorage(t, storage)

	settings := map[string]string{
		"AzureWebJobsStorage":         storage,
		"ServiceBusConnection":        sb.ConnectionString,
		"SYNC_QUEUE":                  syncQ,
		"UPLOAD_QUEUE":                uploadQ,
		"LIFECYCLE_QUEUE":             lifecycleQ,
		"ENTRA_AUTHORITY_HOST":        "http://127.0.0.1:1",
		"ENTRA_CLIENT_ID":             testworld.ConnectorClientID,
		"ENTRA_CLIENT_SECRET":         testworld.ConnectorSecret,
		"ENTRA_APP_ID_URI":            "api://" + testworld.ConnectorClientID,
		"PUBLIC_BASE_URL":             "http://127.0.0.1:7071",
		"TOKEN_ENCRYPTION_KEYS":       "k1:" + testworld.EncryptionKey,
		"TOKEN_ENCRYPTION_ACTIVE_KEY": "k1",
		"LOG_PSEUDONYM_KEY":           testworld.PseudonymKey,
		"RETURN_TO_ALLOWLIST":         "http://127.0.0.1:7071/done",
	}
	d := doctor(t, settings)
	d.Timeout = 5 * time.Second
	infra := []string{diagnose.IDStorageTab, diagnose.IDStorageBlob, diagnose.IDQueue("sync"), diagnose.IDQueue("uploads"),
		diagnose.IDQueue("lifecycle"), diagnose.IDDeadLetters("sync"), diagnose.IDDeadLetters("uploads"), diagnose.IDDeadLetters("lifecycle")}

	rep := d.Run(ctx, diagnose.Target{})
	for _, id := range infra {
		expect(t, rep, id, diagnose.Pass)
	}
	// No Entra ID is reachable at port 1: the metadata check says so, and
	// the checks that need a tenant or a user are skipped.
	expect(t, rep, diagnose.IDMetadata, diagnose.Fail, "127.0.0.1:1", "ENTRA_AUTHORITY_HOST")
	expect(t, rep, diagnose.IDRefresh, diagnose.Skip, "needs a tenant")
	onlyFailures(t, rep, diagnose.IDMetadata)

	azurite.Stop()
	start := time.Now()
	rep = d.Run(ctx, diagnose.Target{})
	expect(t, rep, diagnose.IDStorageTab, diagnose.Fail, "did not answer", "refused", "AzureWebJobsStorage")
	expect(t, rep, diagnose.IDStorageBlob, diagnose.Fail, "did not answer", "refused")
	for _, id := range infra[2:] {
		expect(t, rep, id, diagnose.Pass)
	}
	onlyFailures(t, rep, diagnose.IDMetadata, diagnose.IDStorageTab, diagnose.IDStorageBlob)
	for _, id := range infra[:2] {
		c, _ := rep.Check(id)
		t.Logf("with Azurite down, %s failed after %d ms", id, c.DurationMs)
	}
	if took := time.Since(start); took > 4*d.Timeout {
		t.Errorf("the run with Storage down took %s; want each check bounded by %s", took, d.Timeout)
	}

	fake.Stop()
	rep = d.Run(ctx, diagnose.Target{})
	expect(t, rep, diagnose.IDQueue("sync"), diagnose.Fail, "did not answer", "ServiceBusConnection")
	expect(t, rep, diagnose.IDQueue("uploads"), diagnose.Fail, "did not answer")
	expect(t, rep, diagnose.IDDeadLetters("uploads"), diagnose.Skip, "did not pass")
	c, _ := rep.Check(diagnose.IDQueue("sync"))
	t.Logf("with the Service Bus fake down, %s failed after %d ms", c.ID, c.DurationMs)
}

// prepareStorage creates the app's tables and its documents container,
// as the handler does when it starts.
func prepareStorage(t *testing.T, cs string) {
	t.Helper()
	ctx := context.Background()
	svc, err := aztables.NewServiceClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.NewDB(svc, "").CreateTables(ctx, app.Tables...); err != nil {
		t.Fatal(err)
	}
	b, err := azblob.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateContainer(ctx, "documents", nil); err != nil {
		t.Fatal(err)
	}
}

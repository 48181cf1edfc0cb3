package app_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestSignInEndToEnd is the sign-in story through the real parts (a
// testworld: funchost runs the handler, which uses Azurite, the Entra and
// Dataverse simulators and the Service Bus fake). The first user of an
// unapproved organisation is sent to approval; a non-administrator cannot
// approve; an administrator approves; the user
// signs in, the connection is stored with its refresh token sealed, the
// token is refreshed for the environment, and the first sync is queued.
// The app's API then accepts that user's device token and refuses others.
// No log line carries a token, code, state, secret or key.
func TestSignInEndToEnd(t *testing.T) {
	// The workers are not this test's subject: the first sync job stays on its queue.
	w := testworld.Start(t, testworld.Options{Settings: []string{"AzureWebJobs.SyncWorker.Disabled=true", "AzureWebJobs.UploadWorker.Disabled=true"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := w.URL
	fabrikam := w.User(t, "dave@fabrikam.example").TenantID
	daveOID := w.User(t, "dave@fabrikam.example").OID
	adminOID := w.User(t, "admin@fabrikam.example").OID

	dave := testworld.NewBrowser()
	// 1. Dave, the first user of Fabrikam, signs in: Fabrikam has not approved the app.
	status, page := dave.Get(t, base+"/api/login?login_hint=dave@fabrikam.example")
	if status != http.StatusForbidden || !strings.Contains(page, "has not approved Pitcher yet") {
		t.Fatalf("first sign-in of an unapproved tenant = %d\n%s\nwant 403 and the way to approval", status, page)
	}
	consentLink := html(regexp.MustCompile(`href="([^"]*/api/consent/start[^"]*)"`).FindStringSubmatch(page))
	// 2. Dave follows the approval link himself, but he is no administrator.
	status, page = dave.Get(t, consentLink)
	if status != http.StatusOK || !strings.Contains(page, "was not approved") || !strings.Contains(page, "AADSTS90094") || !strings.Contains(page, "Global Administrator") {
		t.Fatalf("approval by a non-administrator = %d\n%s\nwant the refusal page naming AADSTS90094 and who may approve", status, page)
	}
	// 3. Fabrikam's administrator opens the link, picks their account, approves.
	admin := testworld.NewBrowser()
	status, page = admin.Get(t, consentLink)
	pick := html(regexp.MustCompile(`href="([^"]*login_hint=admin%40fabrikam.example[^"]*)"`).FindStringSubmatch(page))
	if status != http.StatusOK || pick == "" {
		t.Fatalf("the simulator's account picker = %d\n%s", status, page)
	}
	status, page = admin.Get(t, w.EntraURL+pick)
	if status != http.StatusOK || !strings.Contains(page, "Pitcher is approved for your organisation") || !strings.Contains(page, "Approved by <b>Fabrikam Admin</b>") {
		t.Fatalf("approval by the administrator = %d\n%s\nwant the approval page naming the approver", status, page)
	}
	tenant, err := store.NewTenants(w.DB).Get(ctx, fabrikam)
	if err != nil || !tenant.Consented() || tenant.ConsentedByOID != adminOID {
		t.Fatalf("tenants/%s = %+v, %v; want consented by Fabrikam's administrator", fabrikam, tenant, err)
	}
	// 4. Dave signs in again and is connected.
	status, page = dave.Get(t, base+"/api/login?login_hint=dave@fabrikam.example")
	if status != http.StatusOK || !strings.Contains(page, "Dynamics 365 is connected") || !strings.Contains(page, w.DataverseURL) {
		t.Fatalf("sign-in after approval = %d\n%s\nwant the connected page naming %s", status, page, w.DataverseURL)
	}
	conn, err := store.NewConnections(w.DB).Get(ctx, fabrikam, daveOID)
	if err != nil {
		t.Fatalf("connection of Dave: %v", err)
	}
	if conn.Status != store.StatusActive || conn.OrgURL != w.DataverseURL || conn.DataverseUserID != dataversesim.UserID(fabrikam, daveOID) ||
		conn.KeyID != "world-1" || len(conn.RefreshToken) < 40 || conn.NextSyncAt.IsZero() {
		t.Errorf("connections/%s/%s = %+v; want active at %s, Dataverse user %s, a sealed token under world-1, due for sync",
			fabrikam, daveOID, conn, w.DataverseURL, dataversesim.UserID(fabrikam, daveOID))
	}
	if n := w.Dataverse.Requests(); n != 2 {
		t.Errorf("requests to Dataverse = %d, want 2 (Global Discovery, then WhoAmI)", n)
	}
	stats := w.Entra.Stats()
	if stats.Refreshes["dave@fabrikam.example"] != 1 {
		t.Errorf("refreshes for Dave = %d, want 1 (the environment's token)", stats.Refreshes["dave@fabrikam.example"])
	}
	job := receiveSyncJob(t, w.ServiceBus.ConnectionString, w.SyncQueue)
	if job.TenantID != fabrikam || job.UserID != daveOID || job.Reason != queue.ReasonInitial {
		t.Errorf("sync job on %s = %+v, want the initial sync of %s/%s", w.SyncQueue, job, fabrikam, daveOID)
	}

	// 5. The Pitcher app calls the API with Dave's token for the connector.
	daveToken := w.DeviceToken(t, "dave@fabrikam.example")
	if code, hdr := api(t, base+"/api/changes", daveToken); code != http.StatusOK {
		t.Errorf("GET /api/changes with Dave's token = %d (%s), want 200 (authenticated)", code, hdr)
	}
	if code, hdr := api(t, base+"/api/changes", ""); code != http.StatusUnauthorized || !strings.HasPrefix(hdr, "Bearer") {
		t.Errorf("GET /api/changes without a token = %d %q, want 401 with a Bearer challenge", code, hdr)
	}
	alice := w.DeviceToken(t, "alice@contoso.example")
	if code, hdr := api(t, base+"/api/changes", alice); code != http.StatusForbidden || !strings.Contains(hdr, "insufficient_scope") {
		t.Errorf("GET /api/changes from a tenant that never approved here = %d %q, want 403 insufficient_scope", code, hdr)
	}

	// 6. Nothing secret reached the logs.
	w.AssertNoSecrets(t, append(dave.Secrets(), admin.Secrets()...)...)
	if !strings.Contains(w.Logs(), `"connection active"`) {
		t.Errorf("the handler's log lines were not captured:\n%.2000s", w.Logs())
	}
}

// html unescapes the first submatch of an href found in a page.
func html(m []string) string {
	if len(m) < 2 {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

func api(t *testing.T, u, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// receiveSyncJob takes the one message the sign-in put on queueName.
func receiveSyncJob(t *testing.T, connectionString, queueName string) queue.SyncJob {
	t.Helper()
	client, err := azservicebus.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	r, err := client.NewReceiverForQueue(queueName, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := r.ReceiveMessages(ctx, 1, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("no first sync was queued on %s: %v", queueName, err)
	}
	if err := r.CompleteMessage(ctx, msgs[0], nil); err != nil {
		t.Fatal(err)
	}
	job, err := queue.DecodeSyncJob(msgs[0].Body)
	if err != nil {
		t.Fatalf("the first sync message does not decode: %v", err)
	}
	return job
}

package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/dataversesim"
	"github.com/pitcher/connector/internal/entrasim"
	"github.com/pitcher/connector/internal/funchost"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/testenv"
)

const (
	connectorClient = "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70"
	connectorSecret = "local-entra-sim-secret"
	appClient       = "0d9e8f7a-6b5c-4d3e-8f21-a0b1c2d3e4f5"
	fabrikam        = "22222222-2222-4222-8222-222222222222"
	daveOID         = "bbbbbbbb-0000-4000-8000-000000000002"
	encryptionKey   = "ZTJlLXRlc3Qta2V5LTMyLWJ5dGVzLWxvbmctISEhISE=" // "e2e-test-key-32-bytes-long-!!!!!"
)

// TestSignInEndToEnd is the story through the real parts: funchost
// runs the handler, which uses Azurite, the Entra simulator and a Dynamics
// simulator, and queues on the Service Bus fake. The first user of an unapproved organisation is sent to approval; a
// non-administrator cannot approve; an administrator approves; the user
// signs in, the connection is stored with its refresh token sealed, the
// token is refreshed for the environment, and the first sync is queued.
// The app's API then accepts that user's device token and refuses others.
// No log line carries a token, code, state, secret or key.
func TestSignInEndToEnd(t *testing.T) {
	storage := testenv.Storage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc, err := aztables.NewServiceClientFromConnectionString(storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.TablePrefix(t)
	db := store.NewDB(svc, prefix)
	if err := db.CreateTables(ctx, app.Tables...); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	seed := entrasim.DefaultSeed()
	seed.Clients[0].RedirectURIs = []string{base + "/api/consent/callback", base + "/api/auth/callback"}
	sim, err := entrasim.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	sim.SetBaseURL(simSrv.URL)
	// The Dataverse simulator serves Global Discovery and, on another URL
	// as in Azure, the environment; it accepts only RS256 tokens from
	// entra-sim's keys whose aud is the URL it was reached at.
	var dv *dataversesim.Sim
	org := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { dv.ServeHTTP(w, r) }))
	t.Cleanup(org.Close)
	dv = dataversesim.New(dataversesim.Options{Seed: 5, EnvironmentURL: org.URL,
		Auth: dataversesim.AuthOptions{JWKSURL: simSrv.URL + "/common/discovery/v2.0/keys"}})
	disco := httptest.NewServer(dv)
	t.Cleanup(disco.Close)
	sb := testenv.ServiceBus(t)
	syncQueue := sb.NewQueue(t, testenv.QueueProperties{RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: "PT10M"})
	uploadQueue := sb.NewQueue(t, testenv.QueueProperties{})

	bin := filepath.Join(t.TempDir(), "handler")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/handler").CombinedOutput(); err != nil {
		t.Fatalf("build the handler: %v\n%s", err, out)
	}
	logs := &syncBuffer{}
	h, err := funchost.New(funchost.Options{Root: "../..", Addr: "127.0.0.1:" + strconv.Itoa(port), StateDir: t.TempDir(), Out: logs,
		Environ: []string{
			"AzureFunctionsJobHost__customHandler__description__defaultExecutablePath=" + bin,
			"FUNCTIONS_WORKER_RUNTIME=custom",
			"AzureWebJobsStorage=" + storage,
			"STORAGE_TABLE_PREFIX=" + prefix,
			"ENTRA_AUTHORITY_HOST=" + simSrv.URL,
			"ENTRA_CLIENT_ID=" + connectorClient,
			"ENTRA_CLIENT_SECRET=" + connectorSecret,
			"ENTRA_APP_ID_URI=api://" + connectorClient,
			"PUBLIC_BASE_URL=" + base,
			"TOKEN_ENCRYPTION_KEYS=e2e-1:" + encryptionKey,
			"TOKEN_ENCRYPTION_ACTIVE_KEY=e2e-1",
			"RETURN_TO_ALLOWLIST=" + base + "/done",
			"DYNAMICS_DISCOVERY_URL=" + disco.URL,
			"ServiceBusConnection=" + sb.ConnectionString,
			"SYNC_QUEUE=" + syncQueue,
			"UPLOAD_QUEUE=" + uploadQueue,
			// The workers are not this test's subject: the first sync job stays on its queue.
			"AzureWebJobs.SyncWorker.Disabled=true",
			"AzureWebJobs.UploadWorker.Disabled=true",
			"LOG_LEVEL=debug",
		}})
	if err != nil {
		t.Fatal(err)
	}
	hostCtx, stopHost := context.WithCancel(context.Background())
	hostDone := make(chan error, 1)
	go func() { hostDone <- h.Run(hostCtx) }()
	t.Cleanup(func() { stopHost(); <-hostDone })
	waitFor(t, "the handler behind funchost", func() bool {
		resp, err := http.Get(base + "/api/diagnostics")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusUnauthorized
	})

	dave := newBrowser()
	// 1. Dave, the first user of Fabrikam, signs in: Fabrikam has not approved the app.
	status, page := dave.get(t, base+"/api/login?login_hint=dave@fabrikam.example")
	if status != http.StatusForbidden || !strings.Contains(page, "has not approved Pitcher yet") {
		t.Fatalf("first sign-in of an unapproved tenant = %d\n%s\nwant 403 and the way to approval", status, page)
	}
	consentLink := html(regexp.MustCompile(`href="([^"]*/api/consent/start[^"]*)"`).FindStringSubmatch(page))
	// 2. Dave follows the approval link himself, but he is no administrator.
	status, page = dave.get(t, consentLink)
	if status != http.StatusOK || !strings.Contains(page, "was not approved") || !strings.Contains(page, "AADSTS90094") || !strings.Contains(page, "Global Administrator") {
		t.Fatalf("approval by a non-administrator = %d\n%s\nwant the refusal page naming AADSTS90094 and who may approve", status, page)
	}
	// 3. Fabrikam's administrator opens the link, picks their account, approves.
	admin := newBrowser()
	status, page = admin.get(t, consentLink)
	pick := html(regexp.MustCompile(`href="([^"]*login_hint=admin%40fabrikam.example[^"]*)"`).FindStringSubmatch(page))
	if status != http.StatusOK || pick == "" {
		t.Fatalf("the simulator's account picker = %d\n%s", status, page)
	}
	status, page = admin.get(t, simSrv.URL+pick)
	if status != http.StatusOK || !strings.Contains(page, "Pitcher is approved for your organisation") || !strings.Contains(page, "Approved by <b>Fabrikam Admin</b>") {
		t.Fatalf("approval by the administrator = %d\n%s\nwant the approval page naming the approver", status, page)
	}
	tenant, err := store.NewTenants(db).Get(ctx, fabrikam)
	if err != nil || !tenant.Consented() || tenant.ConsentedByOID != "bbbbbbbb-0000-4000-8000-000000000001" {
		t.Fatalf("tenants/%s = %+v, %v; want consented by Fabrikam's administrator", fabrikam, tenant, err)
	}
	// 4. Dave signs in again and is connected.
	status, page = dave.get(t, base+"/api/login?login_hint=dave@fabrikam.example")
	if status != http.StatusOK || !strings.Contains(page, "Dynamics 365 is connected") || !strings.Contains(page, org.URL) {
		t.Fatalf("sign-in after approval = %d\n%s\nwant the connected page naming %s", status, page, org.URL)
	}
	conn, err := store.NewConnections(db).Get(ctx, fabrikam, daveOID)
	if err != nil {
		t.Fatalf("connection of Dave: %v", err)
	}
	if conn.Status != store.StatusActive || conn.OrgURL != org.URL || conn.DataverseUserID != dataversesim.UserID(fabrikam, daveOID) ||
		conn.KeyID != "e2e-1" || len(conn.RefreshToken) < 40 || conn.NextSyncAt.IsZero() {
		t.Errorf("connections/%s/%s = %+v; want active at %s, Dataverse user %s, a sealed token under e2e-1, due for sync",
			fabrikam, daveOID, conn, org.URL, dataversesim.UserID(fabrikam, daveOID))
	}
	if n := dv.Requests(); n != 2 {
		t.Errorf("requests to Dataverse = %d, want 2 (Global Discovery, then WhoAmI)", n)
	}
	stats := simStats(t, simSrv.URL)
	if stats.Refreshes["dave@fabrikam.example"] != 1 {
		t.Errorf("refreshes for Dave = %d, want 1 (the environment's token)", stats.Refreshes["dave@fabrikam.example"])
	}
	job := receiveSyncJob(t, sb.ConnectionString, syncQueue)
	if job.TenantID != fabrikam || job.UserID != daveOID || job.Reason != queue.ReasonInitial {
		t.Errorf("sync job on %s = %+v, want the initial sync of %s/%s", syncQueue, job, fabrikam, daveOID)
	}

	// 5. The Pitcher app calls the API with Dave's token for the connector.
	daveToken := mint(t, simSrv.URL, "dave@fabrikam.example", "api://"+connectorClient+"/access_as_user")
	if code, hdr := api(t, base+"/api/changes", daveToken); code != http.StatusNotImplemented {
		t.Errorf("GET /api/changes with Dave's token = %d (%s), want 501 (authenticated; Changes is not built yet)", code, hdr)
	}
	if code, hdr := api(t, base+"/api/changes", ""); code != http.StatusUnauthorized || !strings.HasPrefix(hdr, "Bearer") {
		t.Errorf("GET /api/changes without a token = %d %q, want 401 with a Bearer challenge", code, hdr)
	}
	alice := mint(t, simSrv.URL, "alice@contoso.example", "api://"+connectorClient+"/access_as_user")
	if code, hdr := api(t, base+"/api/changes", alice); code != http.StatusForbidden || !strings.Contains(hdr, "insufficient_scope") {
		t.Errorf("GET /api/changes from a tenant that never approved here = %d %q, want 403 insufficient_scope", code, hdr)
	}

	// 6. Nothing secret reached the logs.
	secrets := append([]string{connectorSecret, encryptionKey, "eyJ"}, dave.secrets()...)
	secrets = append(secrets, admin.secrets()...)
	for _, s := range secrets {
		if s != "" && strings.Contains(logs.String(), s) {
			t.Errorf("the logs contain a secret value %.12q…", s)
		}
	}
	if !strings.Contains(logs.String(), `"connection active"`) {
		t.Errorf("the handler's log lines were not captured:\n%.2000s", logs.String())
	}
}

// browser follows redirects with a cookie jar, like a person's browser,
// and remembers the codes, states and PKCE challenges it carried.
type browser struct {
	client *http.Client
	mu     sync.Mutex
	seen   []string
}

func newBrowser() *browser {
	b := &browser{}
	jar, _ := cookiejar.New(nil)
	b.client = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		b.remember(r.URL)
		if len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *browser) remember(u *url.URL) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := u.Query()
	for _, k := range []string{"code", "state", "code_challenge", "nonce"} {
		if v := q.Get(k); v != "" {
			b.seen = append(b.seen, v)
		}
	}
}

func (b *browser) secrets() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

func (b *browser) get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// html unescapes the first submatch of an href found in a page.
func html(m []string) string {
	if len(m) < 2 {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

func mint(t *testing.T, sim, upn, scope string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"upn": upn, "clientId": appClient, "scope": scope})
	resp, err := http.Post(sim+"/_sim/tokens", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("mint a token for %s: %d %v", upn, resp.StatusCode, err)
	}
	return out.AccessToken
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

func simStats(t *testing.T, sim string) entrasim.Stats {
	t.Helper()
	resp, err := http.Get(sim + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s entrasim.Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or 30 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
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

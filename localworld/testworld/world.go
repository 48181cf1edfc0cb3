// Package testworld runs the whole connector for end-to-end tests: funchost
// with the real handler binary, the Entra and Dataverse simulators in
// process, and the Azurite and Service Bus fake that `make test` starts.
//
// Every World is isolated from the others running at the same time (the
// packages' tests run at once): it has its own table prefix, its own queues,
// its own simulators and fresh tenant and user ids, so a scheduler in one
// never sees another's users.
package testworld

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/entrasim"
	"github.com/pitcher/connector/localworld/funchost"
	"github.com/pitcher/connector/localworld/testenv"
)

// The local world's app registrations (localworld/entrasim/seed.json).
const (
	ConnectorClientID = "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70"
	ConnectorSecret   = "local-entra-sim-secret"
	AppClientID       = "0d9e8f7a-6b5c-4d3e-8f21-a0b1c2d3e4f5"
	// OtherAppClientID is an app that is not Pitcher's: the simulator
	// issues it tokens for the connector's API like any app a user
	// consented to, and the connector must refuse them.
	OtherAppClientID = "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
	// APIScope is what the Pitcher app's device tokens carry.
	APIScope = "api://" + ConnectorClientID + "/access_as_user"
	// EncryptionKey seals refresh tokens (32 bytes, base64).
	EncryptionKey = "ZTJlLXRlc3Qta2V5LTMyLWJ5dGVzLWxvbmctISEhISE="
	// PseudonymKey makes the logs' user pseudonyms (32 bytes, base64).
	PseudonymKey = "d29ybGQtcHNldWRvbnltLWtleS0zMi1ieXRlcy0hISE="
	// DiagnosticsKey opens every organisation's diagnostics.
	DiagnosticsKey = "world-diagnostics-key-0123456789abcdef"
)

// Options shape a World; the zero value is a working world.
type Options struct {
	// Dataverse configures the Dataverse simulator; its Seed (rows per
	// table) defaults to 5. Auth and EnvironmentURL are set by the World.
	Dataverse dataversesim.Options
	// Settings are extra app settings, KEY=VALUE, layered over the World's
	// (e.g. SYNC_CONFIG=..., AzureWebJobs.SyncScheduler.Disabled=true).
	Settings []string
	// DataverseHook, if set, sees every request to the Dataverse
	// environment before the simulator answers it (it may block, e.g. to
	// kill the handler between two pages).
	DataverseHook func(r *http.Request)
	// CountStorage puts counting proxies between the handler and Storage
	// (Table and Blob), read with StorageRequests; for benchmarks.
	CountStorage bool
	// MaxHandlerRestarts raises funchost's handler restart limit (0: the
	// host's 3), for campaigns that kill the handler often.
	MaxHandlerRestarts int
	// Organisations are tenants added to Entra's seed, for fleet runs.
	Organisations []Organisation
	// CPUProfile, if set, builds the handler with its CPU profiler
	// (-tags cpuprofile); StopCPUProfile writes the profile there.
	CPUProfile string
}

// Organisation is a tenant a World adds to Entra's seed: an administrator,
// admin@<Domain>, and Users people, user<i>@<Domain> (i from 1).
type Organisation struct {
	Domain string
	Users  int
}

// Pseudonyms are the ones the handler logs users by (LOG_PSEUDONYM_KEY is
// PseudonymKey): a test finds a user's lines with Pseudonyms().User.
func Pseudonyms() obs.Pseudonyms {
	key, err := base64.StdEncoding.DecodeString(PseudonymKey)
	if err != nil {
		panic(err)
	}
	return obs.NewPseudonyms(key)
}

// User is a seeded Entra user with the ids this World gave them.
type User struct {
	UPN, Name, TenantID, OID string
	Admin                    bool
}

// World is a running connector. Its fields are for assertions and for
// building clients of the same services.
type World struct {
	// URL is funchost's base URL (the app's public URL).
	URL string
	// Entra is the Entra simulator at EntraURL.
	Entra    *entrasim.Sim
	EntraURL string
	// Dataverse is the Dataverse simulator: the environment at
	// DataverseURL, Global Discovery at DiscoveryURL.
	Dataverse                  *dataversesim.Sim
	DataverseURL, DiscoveryURL string
	// DB holds this World's tables; Storage is Azurite's connection string.
	DB      *store.DB
	Storage string
	// ServiceBus is the fake; SyncQueue, UploadQueue and LifecycleQueue are this World's.
	ServiceBus                             testenv.ServiceBusEnv
	SyncQueue, UploadQueue, LifecycleQueue string
	// Settings are the app settings funchost gives the handler.
	Settings map[string]string
	// Host is the running funchost.
	Host *funchost.Host

	logs    *testenv.Buffer
	users   map[string]User // by lower-case UPN
	mu      sync.Mutex
	secrets []string // one-time values handed out, never to be logged
	hook    func(rw http.ResponseWriter, r *http.Request, sim http.Handler)
	storage *storageCounter // nil unless Options.CountStorage
	// cpuProfile is Options.CPUProfile.
	cpuProfile string
}

// Start runs a World until the test ends. It fails the test if any part
// cannot start.
func Start(t testing.TB, opts Options) *World {
	t.Helper()
	w := &World{Storage: testenv.Storage(t), ServiceBus: testenv.ServiceBus(t), logs: &testenv.Buffer{}, users: map[string]User{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	svc, err := aztables.NewServiceClientFromConnectionString(w.Storage, store.ClientOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.TablePrefix(t)
	w.DB = store.NewDB(svc, prefix)
	if err := w.DB.CreateTables(ctx, app.Tables...); err != nil {
		t.Fatal(err)
	}
	docs, err := container.NewClientFromConnectionString(w.Storage, "documents", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := documents.New(docs).EnsureContainer(ctx); err != nil {
		t.Fatal(err)
	}

	port := testenv.FreePort(t)
	w.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	w.startEntra(t, opts.Organisations)
	w.startDataverse(t, opts.Dataverse, opts.DataverseHook)
	w.SyncQueue = w.ServiceBus.NewQueue(t, repoQueue(t, "sync-jobs"))
	w.UploadQueue = w.ServiceBus.NewQueue(t, repoQueue(t, "uploads"))
	w.LifecycleQueue = w.ServiceBus.NewQueue(t, repoQueue(t, "lifecycle"))

	bin := filepath.Join(t.TempDir(), "handler")
	build := []string{"build", "-o", bin}
	if opts.CPUProfile != "" {
		build = append(build, "-tags", "cpuprofile")
	}
	if out, err := exec.Command("go", append(build, filepath.Join(RepoRoot(t), "cmd", "handler"))...).CombinedOutput(); err != nil {
		t.Fatalf("build the handler: %v\n%s", err, out)
	}
	w.Settings = map[string]string{
		"AzureFunctionsJobHost__customHandler__description__defaultExecutablePath": bin,
		"FUNCTIONS_WORKER_RUNTIME":    "custom",
		"AzureWebJobsStorage":         w.Storage,
		"STORAGE_TABLE_PREFIX":        prefix,
		"ServiceBusConnection":        w.ServiceBus.ConnectionString,
		"SYNC_QUEUE":                  w.SyncQueue,
		"UPLOAD_QUEUE":                w.UploadQueue,
		"LIFECYCLE_QUEUE":             w.LifecycleQueue,
		"RETENTION_SCHEDULE":          "0 30 3 * * *",
		"ENTRA_AUTHORITY_HOST":        w.EntraURL,
		"ENTRA_CLIENT_ID":             ConnectorClientID,
		"ENTRA_CLIENT_SECRET":         ConnectorSecret,
		"ENTRA_APP_ID_URI":            "api://" + ConnectorClientID,
		"API_ALLOWED_CLIENT_IDS":      AppClientID,
		"PUBLIC_BASE_URL":             w.URL,
		"TOKEN_ENCRYPTION_KEYS":       "world-1:" + EncryptionKey,
		"TOKEN_ENCRYPTION_ACTIVE_KEY": "world-1",
		"LOG_PSEUDONYM_KEY":           PseudonymKey,
		"DIAGNOSTICS_KEY":             DiagnosticsKey,
		"RETURN_TO_ALLOWLIST":         w.URL + "/done",
		"DYNAMICS_DISCOVERY_URL":      w.DiscoveryURL,
		"LOG_LEVEL":                   "debug",
	}
	if opts.CPUProfile != "" {
		w.Settings["HANDLER_CPU_PROFILE"] = opts.CPUProfile
		w.cpuProfile = opts.CPUProfile
	}
	if opts.CountStorage {
		w.Settings["AzureWebJobsStorage"] = w.countStorage(t, w.Storage)
	}
	for _, kv := range opts.Settings {
		k, v, _ := strings.Cut(kv, "=")
		w.Settings[k] = v
	}
	var environ []string
	for k, v := range w.Settings {
		environ = append(environ, k+"="+v)
	}
	h, err := funchost.New(funchost.Options{Root: RepoRoot(t), Addr: "127.0.0.1:" + strconv.Itoa(port), StateDir: t.TempDir(), Out: w.logs, Environ: environ,
		MaxRestarts: opts.MaxHandlerRestarts})
	if err != nil {
		t.Fatal(err)
	}
	w.Host = h
	hostCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(hostCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("funchost: %v", err)
		}
	})
	w.waitReady(t, done)
	t.Cleanup(func() { w.AssertNoSecrets(t) }) // no secret and no person in any World's logs
	return w
}

func (w *World) startEntra(t testing.TB, orgs []Organisation) {
	t.Helper()
	seed := entrasim.DefaultSeed()
	for _, o := range orgs {
		tn := &entrasim.Tenant{Domain: o.Domain, Name: o.Domain, AdminConsent: []string{AppClientID}, Users: []*entrasim.User{{UPN: "admin@" + o.Domain, Name: "Admin of " + o.Domain, Admin: true}}}
		for i := 1; i <= o.Users; i++ {
			tn.Users = append(tn.Users, &entrasim.User{UPN: fmt.Sprintf("user%d@%s", i, o.Domain), Name: fmt.Sprintf("User %d of %s", i, o.Domain)})
		}
		seed.Tenants = append(seed.Tenants, tn)
	}
	for _, c := range seed.Clients {
		if c.ClientID == ConnectorClientID {
			c.RedirectURIs = []string{w.URL + "/api/consent/callback", w.URL + "/api/auth/callback"}
		}
	}
	for _, tn := range seed.Tenants {
		tn.ID = uuid.NewString()
		for _, u := range tn.Users {
			u.ObjectID = uuid.NewString()
			w.users[strings.ToLower(u.UPN)] = User{UPN: u.UPN, Name: u.Name, TenantID: tn.ID, OID: u.ObjectID, Admin: u.Admin}
		}
	}
	sim, srv := entrasim.Start(t, seed)
	w.Entra, w.EntraURL = sim, srv.URL
}

func (w *World) startDataverse(t testing.TB, opts dataversesim.Options, hook func(*http.Request)) {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 5
	}
	// Global Discovery and the environment on different URLs, as in Azure;
	// both accept only RS256 tokens from the Entra simulator's keys, with
	// aud = the URL they were reached at.
	var sim *dataversesim.Sim
	env := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if hook != nil {
			hook(r)
		}
		w.mu.Lock()
		wrap := w.hook
		w.mu.Unlock()
		if wrap != nil {
			wrap(rw, r, sim)
			return
		}
		sim.ServeHTTP(rw, r)
	}))
	t.Cleanup(env.Close)
	opts.EnvironmentURL = env.URL
	opts.Auth = dataversesim.AuthOptions{JWKSURL: w.EntraURL + "/common/discovery/v2.0/keys"}
	sim = dataversesim.New(opts)
	disco := httptest.NewServer(sim)
	t.Cleanup(disco.Close)
	w.Dataverse, w.DataverseURL, w.DiscoveryURL = sim, env.URL, disco.URL
}

// SetDataverseHook puts hook in front of the Dataverse environment: it
// receives every request to it, with the simulator to pass it to (or not).
// nil removes it. Tests use it to act at an exact moment, e.g. to kill the
// handler while Dataverse runs its $batch.
func (w *World) SetDataverseHook(hook func(rw http.ResponseWriter, r *http.Request, sim http.Handler)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hook = hook
}

// waitReady waits until funchost runs the handler.
func (w *World) waitReady(t testing.TB, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(w.URL + "/admin/host/status")
		if err == nil {
			var st struct{ State string }
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.State == "Running" {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("funchost stopped while starting: %v\n%s", err, w.Logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("the handler did not start within a minute:\n%s", w.Logs())
}

// User returns the seeded user upn with this World's ids.
func (w *World) User(t testing.TB, upn string) User {
	t.Helper()
	u, ok := w.users[strings.ToLower(upn)]
	if !ok {
		t.Fatalf("no seeded user %s", upn)
	}
	return u
}

// Logs is everything funchost and the handler printed so far.
func (w *World) Logs() string { return w.logs.String() }

// RepoRoot is the repository's root (where go.mod is).
func RepoRoot(t testing.TB) string { return testenv.RepoRoot(t) }

// repoQueue reads a queue's properties from the Service Bus fake's
// config.json, which matches Azure's (go test ./infra checks it).
func repoQueue(t testing.TB, name string) testenv.QueueProperties {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "localworld", "servicebus-fake", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		UserConfig struct {
			Namespaces []struct {
				Queues []struct {
					Name       string
					Properties testenv.QueueProperties
				}
			}
		}
	}
	if err := json.Unmarshal(b, &cfg); err != nil || len(cfg.UserConfig.Namespaces) == 0 {
		t.Fatalf("localworld/servicebus-fake/config.json: %v", err)
	}
	for _, q := range cfg.UserConfig.Namespaces[0].Queues {
		if q.Name == name {
			return q.Properties
		}
	}
	t.Fatalf("localworld/servicebus-fake/config.json declares no queue %s", name)
	return testenv.QueueProperties{}
}

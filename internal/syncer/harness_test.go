package syncer_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
)

// harness runs the worker in process against the Dataverse simulator and
// Azurite, for one user.
type harness struct {
	sim            *dataversesim.Sim
	wrap           func(syncer.Mirror) syncer.Mirror
	url            string
	db             *store.DB
	mirror         *mirror.Store
	states         *store.SyncStates
	requeue        *requeue
	worker         *syncer.Worker
	tenant, user   string
	tuning         config.SyncTuning
	cfg            syncconfig.Config
	storageConnStr string
	documents      syncer.DocumentCache
	dataverseUser  string
}

type harnessOptions struct {
	seed   int
	cfg    string // SYNC_CONFIG; "" for the defaults
	wrap   func(syncer.Mirror) syncer.Mirror
	tuning func(*config.SyncTuning)
	sim    func(*dataversesim.Options)
	client *aztables.ClientOptions
	// front sees every request before the simulator does.
	front func(*http.Request)
	// documents is the notes' document cache the worker tells.
	documents syncer.DocumentCache
	// dataverseUser is the connection's Dataverse user (@me).
	dataverseUser string
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{tenant: uuid.NewString(), user: uuid.NewString(), requeue: &requeue{}}
	so := dataversesim.Options{Seed: o.seed, Auth: dataversesim.AuthOptions{InsecureAnyToken: true}}
	if o.sim != nil {
		o.sim(&so)
	}
	h.sim = dataversesim.New(so)
	var handler http.Handler = h.sim
	if o.front != nil {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { o.front(r); h.sim.ServeHTTP(w, r) })
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	h.storageConnStr = testenv.Storage(t)
	opts := store.ClientOptions(nil)
	if o.client != nil {
		opts = store.ClientOptions(&o.client.ClientOptions)
	}
	svc, err := aztables.NewServiceClientFromConnectionString(h.storageConnStr, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.db = store.NewDB(svc, testenv.TablePrefix(t))
	if err := h.db.CreateTables(context.Background(), append([]string{store.SyncStateTable}, mirror.Tables...)...); err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientFromConnectionString(h.storageConnStr, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.mirror, h.states, h.wrap, h.documents = mirror.New(h.db, mirror.NewAzureBlobs(client)), store.NewSyncStates(h.db), o.wrap, o.documents
	h.dataverseUser = o.dataverseUser
	if h.cfg, err = syncconfig.Parse(o.cfg); err != nil {
		t.Fatal(err)
	}
	h.tuning = config.SyncTuning{Interval: 5 * time.Minute, SchedulerMaxJobs: 100, LeaseDuration: 30 * time.Second, WatermarkOverlap: time.Minute, ReconcileInterval: 24 * time.Hour, ChangesRetention: 30 * 24 * time.Hour, TimeBudget: time.Hour}
	if o.tuning != nil {
		o.tuning(&h.tuning)
	}
	h.worker = h.newWorker()
	return h
}

func (h *harness) newWorker() *syncer.Worker {
	conns := connFunc(func(tenant, user string) (store.Connection, error) {
		return store.Connection{TenantID: tenant, UserID: user, Status: store.StatusActive, OrgURL: h.url, DataverseUserID: h.dataverseUser}, nil
	})
	var m syncer.Mirror = h.mirror
	if h.wrap != nil {
		m = h.wrap(m)
	}
	return syncer.NewWorker(h.cfg, h.tuning, syncer.Deps{
		Conns: conns, Vault: anyToken{}, States: h.states, Mirror: m, Requeue: h.requeue, Documents: h.documents,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Retry:  dataverse.RetryPolicy{MaxAttempts: 6, BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond, MaxRetryAfter: 5 * time.Second},
	})
}

func (h *harness) job() queue.SyncJob {
	return queue.NewSyncJob(h.tenant, h.user, queue.ReasonScheduled, time.Now())
}

// run runs one sync and fails the test unless it completes with want.
func (h *harness) run(t testing.TB, want string) syncer.Result {
	t.Helper()
	res, err := h.worker.Run(context.Background(), h.job())
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if res.Outcome != want {
		t.Fatalf("Run outcome = %s, want %s (sets %+v)", res.Outcome, want, res.Sets)
	}
	return res
}

// state returns the stored state of set.
func (h *harness) state(t testing.TB, set string) store.SetState {
	t.Helper()
	sets, err := h.states.Sets(context.Background(), h.tenant, h.user)
	if err != nil {
		t.Fatal(err)
	}
	return sets[set]
}

// mirrorOf returns the mirror's rows of set by id.
func (h *harness) mirrorOf(t testing.TB, set string) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	if err := h.mirror.EachRecord(context.Background(), h.tenant, h.user, set, func(id string, d json.RawMessage) error {
		out[id] = d
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// replay reads the user's mirror from the start through the Changes
// reader (the log, or a snapshot and the log once it was trimmed) and
// applies it in order, as the app would; it returns the rows per set.
func (h *harness) replay(t testing.TB) map[string]map[string]json.RawMessage {
	t.Helper()
	out := map[string]map[string]json.RawMessage{}
	var c mirror.Cursor
	for {
		page, next, more, err := h.mirror.Read(context.Background(), h.tenant, h.user, c, mirror.MaxChangesPage)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page {
			if out[ch.EntitySet] == nil {
				out[ch.EntitySet] = map[string]json.RawMessage{}
			}
			if ch.Op == mirror.OpDelete {
				delete(out[ch.EntitySet], ch.ID)
			} else {
				out[ch.EntitySet][ch.ID] = ch.Data
			}
		}
		if c = next; !more {
			return out
		}
	}
}

// simIDs returns the ids of every row of set in the simulator.
func (h *harness) simIDs(t testing.TB, set string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, id := range h.sim.IDs(set) {
		out[id] = true
	}
	return out
}

type connFunc func(tenant, user string) (store.Connection, error)

func (f connFunc) Get(_ context.Context, tenant, user string) (store.Connection, error) {
	return f(tenant, user)
}

type anyToken struct{}

func (anyToken) TokenFor(context.Context, string, string, string) (tokens.AccessToken, error) {
	return tokens.AccessToken{Token: "test-token", ExpiresAt: time.Now().Add(time.Hour)}, nil
}
func (anyToken) Forget(string, string, string) {}

type requeue struct {
	mu   sync.Mutex
	jobs []queue.SyncJob
	at   []time.Time
}

func (r *requeue) ScheduleAt(_ context.Context, at time.Time, jobs ...queue.SyncJob) ([]int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, jobs...)
	for range jobs {
		r.at = append(r.at, at)
	}
	return make([]int64, len(jobs)), nil
}

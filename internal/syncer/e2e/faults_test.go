package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestHandlerKilledBetweenPages: the handler dies while it reads the
// third page. Service Bus redelivers the job to the restarted handler,
// which waits for the dead worker's lease to expire and then syncs; the
// app's view converges, duplicates in the log notwithstanding.
func TestHandlerKilledBetweenPages(t *testing.T) {
	var w *testworld.World
	var pages atomic.Int32
	var killed atomic.Bool
	hook := func(r *http.Request) {
		if strings.Contains(r.URL.Path, "/accounts") && strings.Contains(r.URL.RawQuery, "skiptoken") && pages.Add(1) == 2 {
			// Pages 1 and 2 are in the mirror; the handler dies asking for page 3.
			if err := w.Host.KillHandler(); err != nil {
				t.Errorf("kill the handler: %v", err)
			}
			killed.Store(true)
		}
	}
	w = testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 2500}, DataverseHook: hook,
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", syncConfig("accounts:500", "contacts:500"), "SYNC_LEASE_DURATION=4s"}})
	start := time.Now()
	u := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, u, start, 2*time.Minute, "accounts", "contacts")
	if !killed.Load() || !strings.Contains(w.Logs(), "Restarting it") {
		t.Fatalf("the handler was not killed and restarted during the sync")
	}
	if !strings.Contains(w.Logs(), "lease held by another worker") {
		// Only when the restart took longer than the lease.
		t.Logf("the redelivered job found the dead worker's lease already expired")
	}
	changes, _ := w.Changes(t, w.DeviceToken(t, u.UPN), "", 1000)
	if len(changes) <= 5000 {
		t.Logf("the log holds %d changes (the killed run's pages and the full run)", len(changes))
	}
	assertAppConverged(t, changes, ids(t, w, "accounts", "contacts"))
	c := w.ServiceBus.Counts(t, w.SyncQueue)
	if c.DeadLetter != 0 {
		t.Errorf("sync queue after the crash: %+v; want nothing dead-lettered", c)
	}
}

// TestTwoWorkersForOneUser: two jobs for the same user run at once;
// exactly one reads Dynamics, the other is rescheduled after the lease.
func TestTwoWorkersForOneUser(t *testing.T) {
	var w *testworld.World
	var once sync.Once
	hook := func(r *http.Request) {
		if strings.Contains(r.URL.Path, "/accounts") || strings.Contains(r.URL.Path, "EntityDefinitions") {
			// Hold the first worker until the second has given up.
			once.Do(func() {
				w.WaitFor(t, "the second worker to find the lease held", 30*time.Second, func() bool {
					return strings.Contains(w.Logs(), "lease held by another worker")
				})
			})
		}
	}
	w = testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 1200}, DataverseHook: hook,
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", syncConfig("accounts:500"), "SYNC_LEASE_DURATION=2m"}})
	start := time.Now()
	u := w.Connect(t, "dave@fabrikam.example")     // the first job
	w.SendSyncJob(t, u, time.Now().Add(time.Hour)) // the second, another slot
	st := w.WaitSynced(t, u, start, time.Minute, "accounts")
	if s := st["accounts"]; s.Upserted != 1200 || s.Pages != 3 {
		t.Errorf("the sync = %+v; want one full read of 1,200 rows", s)
	}
	changes, _ := w.Changes(t, w.DeviceToken(t, u.UPN), "", 1000)
	if len(changes) != 1200 {
		t.Errorf("the log holds %d changes, want 1,200: exactly one worker read Dynamics", len(changes))
	}
	w.ServiceBus.WaitCounts(t, w.SyncQueue, 10*time.Second, func(c testenv.QueueCounts) bool { return c.Scheduled == 1 && c.Active == 0 })
}

// TestReauthorizationNeededMidSync: Dataverse rejects the token while the
// contacts are read and Entra then refuses the refresh: the sync stops
// cleanly, the connection is marked, nothing is retried; after the user
// signs in again the sync resumes.
func TestReauthorizationNeededMidSync(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 300},
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", syncConfig("accounts:100", "contacts:100")}})
	start := time.Now()
	u := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, u, start, time.Minute, "accounts", "contacts")
	w.WaitIdle(t, u, time.Minute) // the first sync's notes, too

	entra(t, w, "/_sim/users/"+u.UPN+"/revoke")
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusUnauthorized, Path: "/contacts"})
	w.SendSyncJob(t, u, time.Now())
	conns := store.NewConnections(w.DB)
	w.WaitFor(t, "the connection to need reauthorization", time.Minute, func() bool {
		c, err := conns.Get(context.Background(), u.TenantID, u.OID)
		return err == nil && c.Status == store.StatusReauthRequired
	})
	w.WaitFor(t, "the sync to stop", 30*time.Second, func() bool {
		return strings.Contains(w.Logs(), "the user must sign in again")
	})
	c := w.ServiceBus.WaitCounts(t, w.SyncQueue, 10*time.Second, func(c testenv.QueueCounts) bool { return c.Active == 0 && c.Locked == 0 })
	if c.Scheduled != 0 || c.DeadLetter != 0 {
		t.Errorf("sync queue after reauthorization was needed: %+v; want no retry and nothing dead-lettered", c)
	}
	if st := w.SyncStates(t, u)["contacts"]; !strings.Contains(st.LastError, "sign in again") {
		t.Errorf("syncstate of contacts = %q, want the reason", st.LastError)
	}

	if err := w.Dataverse.UpdateRow("contacts", dataversesim.SeedID("contacts", 3), map[string]any{"jobtitle": "Head of Buying"}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	w.SignIn(t, u.UPN)
	if c, _ := conns.Get(context.Background(), u.TenantID, u.OID); c.Status != store.StatusActive || c.NextSyncAt.After(time.Now()) {
		t.Fatalf("after signing in again the connection is %+v; want active and due", c)
	}
	// The sign-in queued a job, but within the minute of the first sign-in
	// it has the same MessageId and Service Bus drops it; the scheduler
	// finds the user due at its next run. Stand in for it:
	w.SendSyncJob(t, u, time.Now().Add(time.Second))
	st := w.WaitSynced(t, u, start, time.Minute, "accounts", "contacts")
	if st["contacts"].Upserted != 1 {
		t.Errorf("the sync after signing in again = %+v, want the one edited contact", st["contacts"])
	}
}

// TestThrottleStorm: Dataverse allows 5 requests per 2 seconds; the first
// sync of three sets waits out every Retry-After and completes.
func TestThrottleStorm(t *testing.T) {
	w := testworld.Start(t, testworld.Options{
		Dataverse: dataversesim.Options{Seed: 1500, Throttle: dataversesim.Throttle{Requests: 5, Window: 2 * time.Second}},
		Settings:  []string{"AzureWebJobs.SyncScheduler.Disabled=true", syncConfig("accounts:250", "contacts:250", "appointments:250")}})
	start := time.Now()
	u := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, u, start, 2*time.Minute, "accounts", "contacts", "appointments")
	changes, _ := w.Changes(t, w.DeviceToken(t, u.UPN), "", 1000)
	assertAppConverged(t, changes, ids(t, w, "accounts", "contacts", "appointments"))
}

// TestChangesAreTheCallersOnly: a user reads only their own change log;
// another user of the same tenant or of another tenant never sees it,
// whatever cursor they send.
func TestChangesAreTheCallersOnly(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 20},
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", syncConfig("accounts:100")}})
	start := time.Now()
	alice, bob := w.Connect(t, "alice@contoso.example"), w.SignIn(t, "bob@contoso.example")
	dave := w.Connect(t, "dave@fabrikam.example")
	for _, u := range []testworld.User{alice, bob, dave} {
		w.WaitSynced(t, u, start, time.Minute, "accounts")
	}
	tokens := map[string]string{}
	cursors := map[string]string{}
	for _, u := range []testworld.User{alice, bob, dave} {
		tokens[u.UPN] = w.DeviceToken(t, u.UPN)
		_, cursors[u.UPN] = w.Changes(t, tokens[u.UPN], "", 1000)
	}
	id, err := w.Dataverse.CreateRow("accounts", map[string]any{"name": "Only for Alice's sync"})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	w.SendSyncJob(t, alice, time.Now())
	w.WaitSynced(t, alice, start, time.Minute, "accounts")
	got, _ := w.Changes(t, tokens[alice.UPN], cursors[alice.UPN], 100)
	if len(got) != 1 || got[0].ID != strings.ToLower(id) {
		t.Fatalf("alice's new changes = %+v, want the new account", got)
	}
	for _, u := range []testworld.User{bob, dave} {
		for _, cursor := range []string{"", cursors[u.UPN], cursors[alice.UPN], "0"} {
			// Alice's cursor names no entry of another user's log: it is
			// answered 410 (start again), or reads the caller's own log;
			// never Alice's.
			status, _, body := w.API(t, http.MethodGet, "/api/changes?limit=1000&cursor="+cursor, tokens[u.UPN], nil)
			if status != http.StatusOK && !(status == http.StatusGone && cursor == cursors[alice.UPN]) {
				t.Errorf("%s with cursor %q: %d %s", u.UPN, cursor, status, body)
			}
			if bytes.Contains(body, []byte(strings.ToLower(id))) {
				t.Errorf("%s reads alice's change with cursor %q", u.UPN, cursor)
			}
		}
	}
	if status, _, body := w.API(t, http.MethodGet, "/api/changes?cursor=abc&limit=5000", tokens[bob.UPN], nil); status != http.StatusBadRequest ||
		!bytes.Contains(body, []byte(`"field":"cursor"`)) || !bytes.Contains(body, []byte(`"field":"limit"`)) {
		t.Errorf("a bad cursor and limit = %d %s, want 400 naming both", status, body)
	}
	if status, _, _ := w.API(t, http.MethodGet, "/api/changes", "", nil); status != http.StatusUnauthorized {
		t.Errorf("GET /api/changes without a token = %d, want 401", status)
	}
}

// entra calls the Entra simulator's test API.
func entra(t testing.TB, w *testworld.World, path string) {
	t.Helper()
	resp, err := http.Post(w.EntraURL+path, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s = %d", path, resp.StatusCode)
	}
}

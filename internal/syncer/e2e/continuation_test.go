package e2e

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestFullReadInContinuationsSurvivesKill: with a time budget every page
// overruns, the first sync of 5 pages of accounts runs as a chain of
// continuation jobs through Service Bus, one page each. The handler is
// killed while a continuation reads the third page; the redelivered job
// waits for the dead worker's lease, resumes from the checkpoint after the
// second page and finishes: only the third page is read twice.
func TestFullReadInContinuationsSurvivesKill(t *testing.T) {
	var w *testworld.World
	var pages atomic.Int32
	hook := func(r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/accounts") && pages.Add(1) == 3 {
			if err := w.Host.KillHandler(); err != nil {
				t.Errorf("kill the handler: %v", err)
			}
		}
	}
	w = testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 2500}, DataverseHook: hook,
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", syncConfig("accounts:500"), "SYNC_LEASE_DURATION=4s", "SYNC_TIME_BUDGET=1ms"}})
	start := time.Now()
	u := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, u, start, 2*time.Minute, "accounts")
	logs := w.Logs()
	if !strings.Contains(logs, "Restarting it") {
		t.Fatal("the handler was not killed and restarted during the sync")
	}
	if n := strings.Count(logs, "a continuation job goes on from its checkpoint"); n < 3 {
		t.Errorf("%d runs handed over to a continuation, want at least 3 (one page each)", n)
	}
	if !strings.Contains(logs, "the full read continues from its checkpoint") {
		t.Error("no run resumed the full read from its checkpoint")
	}
	if got := pages.Load(); got != 6 {
		t.Errorf("Dataverse served %d pages of accounts, want 6: 5, and the one the killed run was reading", got)
	}
	changes, _ := w.Changes(t, w.DeviceToken(t, u.UPN), "", 1000)
	if len(changes) > 3000 {
		t.Errorf("the log holds %d changes; want at most 3,000 (2,500 and the page read twice)", len(changes))
	}
	assertAppConverged(t, changes, ids(t, w, "accounts"))
	if st := w.SyncStates(t, u)["accounts"]; st.FullKind != "" || st.DeltaLink == "" {
		t.Errorf("state after the sync = %+v, want a delta link and no checkpoint", st)
	}
	c := w.ServiceBus.Counts(t, w.SyncQueue)
	if c.DeadLetter != 0 {
		t.Errorf("sync queue: %+v; want nothing dead-lettered", c)
	}
	w.ServiceBus.WaitCounts(t, w.SyncQueue, 10*time.Second, func(c testenv.QueueCounts) bool { return c.Active == 0 && c.Locked == 0 })
	w.AssertNoSecrets(t)
}

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// These tests run the whole connector (funchost, the handler binary,
// Service Bus fake, Azurite, entra-sim, dataverse-sim) and look at it as
// the app does: through the Changes API.

func syncConfig(sets ...string) string {
	cols := map[string]string{
		"accounts":     `{"name":"accounts","select":["name","accountnumber","modifiedon"],"pageSize":%d}`,
		"contacts":     `{"name":"contacts","select":["fullname","emailaddress1"],"pageSize":%d}`,
		"appointments": `{"name":"appointments","select":["subject","scheduledstart"],"pageSize":%d}`,
	}
	var parts []string
	for _, s := range sets {
		name, size, _ := strings.Cut(s, ":")
		parts = append(parts, strings.Replace(cols[name], "%d", size, 1))
	}
	return "SYNC_CONFIG={\"entitySets\":[" + strings.Join(parts, ",") + "]}"
}

// assertAppConverged checks that the app's view (the change log replayed)
// holds exactly want's ids for each set.
func assertAppConverged(t testing.TB, changes []testworld.Change, want map[string]map[string]bool) {
	t.Helper()
	got := testworld.Replay(changes)
	for set, ids := range want {
		if len(got[set]) != len(ids) {
			t.Errorf("%s: the app holds %d rows, Dynamics %d", set, len(got[set]), len(ids))
		}
		for id := range ids {
			if _, ok := got[set][id]; !ok {
				t.Errorf("%s: the app lacks row %s", set, id)
				break
			}
		}
	}
}

func ids(t testing.TB, w *testworld.World, sets ...string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, s := range sets {
		out[s] = allIDs(t, w, s)
	}
	return out
}

// allIDs lists the ids of set in the simulator.
func allIDs(t testing.TB, w *testworld.World, set string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, id := range w.Dataverse.IDs(set) {
		out[id] = true
	}
	return out
}

// TestSyncEndToEnd: 10,000 rows per set reach the app through the first
// sync; edits, creates and deletes in Dynamics arrive as exactly those
// changes; after the delta token expires the app converges again.
func TestSyncEndToEnd(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 10000},
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true"}})
	start := time.Now()
	u := w.Connect(t, "dave@fabrikam.example") // the sign-in queues the first sync
	st := w.WaitSynced(t, u, start, 4*time.Minute, "accounts", "contacts", "appointments", "annotations")
	for _, set := range []string{"accounts", "contacts", "appointments"} {
		if s := st[set]; s.Upserted != 10000 || s.Pages != 10 || s.Requests < 10 {
			t.Errorf("first sync of %s: %+v; want 10,000 rows in 10 pages", set, s)
		}
	}
	token := w.DeviceToken(t, u.UPN)
	changes, cursor := w.Changes(t, token, "", 1000)
	assertAppConverged(t, changes, ids(t, w, "accounts", "contacts", "appointments", "annotations"))

	// A person edits, creates and deletes in Dynamics.
	edited := dataversesim.SeedID("accounts", 42)
	if err := w.Dataverse.UpdateRow("accounts", edited, map[string]any{"name": "Fabrikam Renamed"}); err != nil {
		t.Fatal(err)
	}
	created, err := w.Dataverse.CreateRow("contacts", map[string]any{"firstname": "Nina", "lastname": "New"})
	if err != nil {
		t.Fatal(err)
	}
	deleted := dataversesim.SeedID("appointments", 7)
	if err := w.Dataverse.DeleteRow("appointments", deleted); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	w.SendSyncJob(t, u, time.Now())
	st = w.WaitSynced(t, u, start, time.Minute, "accounts", "contacts", "appointments", "annotations")
	for _, set := range []string{"accounts", "contacts", "appointments"} {
		if st[set].Requests != 1 {
			t.Errorf("incremental sync of %s took %d requests, want 1", set, st[set].Requests)
		}
	}
	delta, cursor := w.Changes(t, token, cursor, 100)
	want := map[string]string{"accounts/" + edited: "upsert", "contacts/" + strings.ToLower(created): "upsert", "appointments/" + deleted: "delete"}
	if len(delta) != len(want) {
		t.Errorf("changes after the edits = %d: %+v; want exactly %v", len(delta), delta, want)
	}
	for _, c := range delta {
		if want[c.EntitySet+"/"+c.ID] != c.Op {
			t.Errorf("unexpected change %s %s/%s", c.Op, c.EntitySet, c.ID)
		}
		if c.ID == edited && !strings.Contains(string(c.Data), "Fabrikam Renamed") {
			t.Errorf("the edited account arrives as %s", c.Data)
		}
	}

	// Nothing changed: one request per set and one for the notes, nothing
	// new for the app.
	before := w.Dataverse.Requests()
	start = time.Now()
	w.SendSyncJob(t, u, time.Now().Add(time.Second))
	w.WaitSynced(t, u, start, time.Minute, "accounts", "contacts", "appointments", "annotations")
	if n := w.Dataverse.Requests() - before; n != 4 {
		t.Errorf("a sync with nothing changed sent %d requests to Dataverse, want 4 (one per set, one for the notes)", n)
	}
	if more, _ := w.Changes(t, token, cursor, 100); len(more) != 0 {
		t.Errorf("a sync with nothing changed logged %d changes", len(more))
	}

	// The delta token expires while rows are deleted: a full read, and the
	// deleted rows leave the app.
	for i := 100; i < 110; i++ {
		if err := w.Dataverse.DeleteRow("accounts", dataversesim.SeedID("accounts", i)); err != nil {
			t.Fatal(err)
		}
	}
	w.Dataverse.ExpireDeltaTokens()
	start = time.Now()
	w.SendSyncJob(t, u, time.Now().Add(2*time.Second))
	w.WaitSynced(t, u, start, 2*time.Minute, "accounts", "contacts", "appointments", "annotations")
	all, _ := w.Changes(t, token, "", 1000)
	assertAppConverged(t, all, ids(t, w, "accounts", "contacts", "appointments", "annotations"))
	w.AssertNoSecrets(t)
}

package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestProfileEndToEnd: with the profile "my active accounts and their
// contacts", an account assigned to Dave in Dynamics reaches his app with
// its contacts; reassigned to a colleague, both leave it as deletes;
// deactivated after he got it back, it leaves again. Through the whole
// connector, as the app sees it.
func TestProfileEndToEnd(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 20},
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", `SYNC_CONFIG={"entitySets":[` +
			`{"name":"accounts","select":["name"],"filter":"_ownerid_value eq @me and statecode eq 0","notes":false},` +
			`{"name":"contacts","select":["fullname"],"notes":false,"relatedTo":{"set":"accounts","lookup":"_parentcustomerid_value"}}]}`}})
	start := time.Now()
	u := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, u, start, time.Minute, "accounts", "contacts")
	token := w.DeviceToken(t, u.UPN)
	changes, cursor := w.Changes(t, token, "", 1000)
	if len(changes) != 0 {
		t.Fatalf("Dave owns nothing yet, but his app got %d changes", len(changes))
	}
	dave := dataversesim.UserID(u.TenantID, u.OID)
	account, contact := dataversesim.SeedID("accounts", 4), dataversesim.SeedID("contacts", 4)
	jobs := 0
	step := func(what string, edit func() error, want map[string]string) {
		t.Helper()
		if err := edit(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		jobs++ // a job's id names its slot: one slot per step, or Service Bus drops it as a duplicate
		w.SendSyncJob(t, u, start.Add(time.Duration(jobs)*time.Hour))
		w.WaitSynced(t, u, start, time.Minute, "accounts", "contacts")
		var delta []testworld.Change
		delta, cursor = w.Changes(t, token, cursor, 1000)
		got := map[string]string{}
		for _, c := range delta {
			got[c.EntitySet+"/"+c.ID] = c.Op
		}
		if len(got) != len(want) || len(delta) != len(want) {
			t.Errorf("%s: the app got %v, want exactly %v", what, got, want)
		}
		for k, op := range want {
			if got[k] != op {
				t.Errorf("%s: %s is %q, want %q", what, k, got[k], op)
			}
		}
	}
	in := map[string]string{"accounts/" + account: "upsert", "contacts/" + contact: "upsert"}
	out := map[string]string{"accounts/" + account: "delete", "contacts/" + contact: "delete"}
	step("assigned to Dave", func() error { return w.Dataverse.AssignRow("accounts", account, "systemusers", dave) }, in)
	step("reassigned to a colleague", func() error {
		return w.Dataverse.AssignRow("accounts", account, "systemusers", dataversesim.SeedUserID(2))
	}, out)
	step("given back", func() error { return w.Dataverse.AssignRow("accounts", account, "systemusers", dave) }, in)
	step("deactivated", func() error { return w.Dataverse.UpdateRow("accounts", account, map[string]any{"statecode": 1}) }, out)
	if app := testworld.Replay(mustChanges(t, w, token)); len(app["accounts"]) != 0 || len(app["contacts"]) != 0 {
		t.Errorf("the app holds %v, want nothing", slices.Collect(func(yield func(string) bool) {
			for set, rows := range app {
				for id := range rows {
					if !yield(set + "/" + id) {
						return
					}
				}
			}
		}))
	}
}

func mustChanges(t *testing.T, w *testworld.World, token string) []testworld.Change {
	t.Helper()
	all, _ := w.Changes(t, token, "", 1000)
	return all
}

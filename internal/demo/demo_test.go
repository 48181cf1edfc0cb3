// Package demo holds the runnable story of the downstream sync (`make
// demo`): the whole connector on a local world, driven as a person would,
// printing what each step did and failing when a step does not do what it
// says. `make test` runs it too, quietly.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/dataversesim"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/testworld"
)

func say(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }

func TestDemo(t *testing.T) {
	say("== Starting a local world: funchost + the handler, Azurite, the Service Bus fake, entra-sim, dataverse-sim (25 rows per table)")
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 25},
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true"}})
	say("   the app is at %s, Dynamics at %s", w.URL, w.DataverseURL)

	say("\n== 1. admin@fabrikam.example approves Pitcher for Fabrikam (admin consent)")
	w.Approve(t, "admin@fabrikam.example")
	say("   approved")

	say("\n== 2. dave@fabrikam.example signs in; the sign-in queues his first sync")
	start := time.Now()
	dave := w.SignIn(t, "dave@fabrikam.example")
	c, err := store.NewConnections(w.DB).Get(context.Background(), dave.TenantID, dave.OID)
	if err != nil || c.Status != store.StatusActive {
		t.Fatalf("dave's connection = %+v, %v; want active", c, err)
	}
	say("   connection %s, Dynamics %s", c.Status, c.OrgURL)

	say("\n== 3. SyncWorker runs the first sync (Service Bus → funchost → handler)")
	sets := []string{"accounts", "contacts", "appointments"}
	st := w.WaitSynced(t, dave, start, time.Minute, sets...)
	for _, s := range sets {
		say("   %-13s %-15s %3d rows in %d page(s), %d request(s) to Dynamics", s, st[s].Mode, st[s].Upserted, st[s].Pages, st[s].Requests)
		if st[s].Upserted != 25 {
			t.Errorf("%s: %d rows synced, want 25", s, st[s].Upserted)
		}
	}

	say("\n== 4. The Pitcher app pulls its changes: GET /api/changes (device token)")
	token := w.DeviceToken(t, dave.UPN)
	all, cursor := w.Changes(t, token, "", 50)
	counts := map[string]int{}
	for _, ch := range all {
		counts[ch.EntitySet+" "+ch.Op]++
	}
	say("   %d changes, cursor %s: %v", len(all), cursor, counts)
	if len(all) != 75 {
		t.Errorf("the app got %d changes, want 75", len(all))
	}
	say("   e.g. %s", first(all, "accounts"))

	say("\n== 5. Someone works in Dynamics: renames an account, adds a contact, deletes an appointment")
	renamed := dataversesim.SeedID("accounts", 3)
	if err := w.Dataverse.UpdateRow("accounts", renamed, map[string]any{"name": "Fabrikam Coffee (renamed)"}); err != nil {
		t.Fatal(err)
	}
	added, err := w.Dataverse.CreateRow("contacts", map[string]any{"firstname": "Nina", "lastname": "Novak", "emailaddress1": "nina@fabrikam.example"})
	if err != nil {
		t.Fatal(err)
	}
	deleted := dataversesim.SeedID("appointments", 5)
	if err := w.Dataverse.DeleteRow("appointments", deleted); err != nil {
		t.Fatal(err)
	}
	say("   renamed account %s, added contact %s, deleted appointment %s", renamed, strings.ToLower(added), deleted)

	say("\n== 6. The next sync (a job on sync-jobs, as SyncScheduler sends when dave is due) reads only the changes")
	start = time.Now()
	w.SendSyncJob(t, dave, time.Now())
	st = w.WaitSynced(t, dave, start, time.Minute, sets...)
	for _, s := range sets {
		say("   %-13s %d upserted, %d deleted, %d request(s)", s, st[s].Upserted, st[s].Deleted, st[s].Requests)
		if st[s].Requests != 1 {
			t.Errorf("%s: the incremental sync took %d requests, want 1", s, st[s].Requests)
		}
	}

	say("\n== 7. The app pulls again from its cursor %s", cursor)
	status, _, body := w.API(t, http.MethodGet, "/api/changes?cursor="+cursor, token, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /api/changes = %d %s", status, body)
	}
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, body, "   ", "  ")
	say("   %s", pretty.String())
	var page struct {
		Changes []testworld.Change `json:"changes"`
	}
	_ = json.Unmarshal(body, &page)
	want := map[string]string{"accounts/" + renamed: "upsert", "contacts/" + strings.ToLower(added): "upsert", "appointments/" + deleted: "delete"}
	if len(page.Changes) != len(want) {
		t.Errorf("the app got %d changes, want exactly %v", len(page.Changes), want)
	}
	for _, ch := range page.Changes {
		if want[ch.EntitySet+"/"+ch.ID] != ch.Op {
			t.Errorf("unexpected change %s %s/%s", ch.Op, ch.EntitySet, ch.ID)
		}
	}
	say("\n== The story held: every step did what it said.")
}

func first(changes []testworld.Change, set string) string {
	for _, c := range changes {
		if c.EntitySet == set {
			b, _ := json.Marshal(c)
			return string(b)
		}
	}
	return "(none)"
}

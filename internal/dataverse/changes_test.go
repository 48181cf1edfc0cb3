package dataverse_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

var contactChanges = &dataverse.ChangesOptions{Select: []string{"firstname", "lastname"}, MaxPageSize: 2, PrimaryKey: "contactid"}

// initialLoad reads contacts with change tracking and returns the rows and
// the delta link, checking that the link comes only with the last page.
func initialLoad(t *testing.T, e *env) ([]dataverse.Row, string) {
	t.Helper()
	p := e.c.NewChangesPager("contacts", contactChanges)
	var rows []dataverse.Row
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if p.More() != (page.DeltaLink == "") {
			t.Fatalf("deltaLink %q on a page with more=%v", page.DeltaLink, p.More())
		}
		rows = append(rows, page.Rows...)
	}
	if p.DeltaLink() == "" {
		t.Fatal("no delta link after the last page")
	}
	return rows, p.DeltaLink()
}

func delta(t *testing.T, e *env, link string) ([]dataverse.Row, string) {
	t.Helper()
	p, err := e.c.ResumeChangesPager(link, contactChanges)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := readAll(t, p)
	return rows, p.DeltaLink()
}

func TestChangeTrackingInitialThenDelta(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 5})
	rows, link := initialLoad(t, e)
	if len(rows) != 5 {
		t.Fatalf("initial load: %d rows, want 5", len(rows))
	}
	updated, deleted := dataversesim.SeedID("contacts", 1), dataversesim.SeedID("contacts", 3)
	if err := e.sim.UpdateRow("contacts", updated, map[string]any{"lastname": "Changed"}); err != nil {
		t.Fatal(err)
	}
	created, err := e.sim.CreateRow("contacts", map[string]any{"firstname": "New", "lastname": "Person"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.DeleteRow("contacts", deleted); err != nil {
		t.Fatal(err)
	}
	changes, next := delta(t, e, link)
	want := []dataverse.Row{{ID: updated}, {ID: created}, {ID: deleted, Deleted: true}}
	if len(changes) != len(want) {
		t.Fatalf("delta: %d changes %v, want %v", len(changes), ids(changes), want)
	}
	for i, w := range want {
		if changes[i].ID != w.ID || changes[i].Deleted != w.Deleted {
			t.Errorf("change %d = {%s deleted=%v}, want {%s deleted=%v}", i, changes[i].ID, changes[i].Deleted, w.ID, w.Deleted)
		}
	}
	var c struct{ Lastname string }
	_ = json.Unmarshal(changes[0].Data, &c)
	if c.Lastname != "Changed" {
		t.Errorf("updated row carries lastname %q, want its latest state", c.Lastname)
	}
	if again, _ := delta(t, e, next); len(again) != 0 {
		t.Errorf("delta after no change: %d changes, want 0", len(again))
	}
}

func TestRowChangedBetweenPagesIsNotLost(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 6})
	p := e.c.NewChangesPager("contacts", contactChanges)
	first, err := p.NextPage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A person edits a row already read and one not read yet.
	readID := first.Rows[0].ID
	var unread string
	for i := range 6 {
		if id := dataversesim.SeedID("contacts", i); id != readID && id != first.Rows[1].ID {
			unread = id
		}
	}
	for _, id := range []string{readID, unread} {
		if err := e.sim.UpdateRow("contacts", id, map[string]any{"jobtitle": "Edited"}); err != nil {
			t.Fatal(err)
		}
	}
	rest, _ := readAll(t, p)
	if got := len(first.Rows) + len(rest); got != 6 {
		t.Fatalf("initial load read %d rows, want 6 (no row skipped or repeated)", got)
	}
	changes, _ := delta(t, e, p.DeltaLink())
	got := ids(changes)
	slices.Sort(got)
	want := []string{readID, unread}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("next delta = %v, want both edited rows %v", got, want)
	}
}

func TestDeleteAndRecreateInOneDelta(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 2})
	_, link := initialLoad(t, e)
	id := dataversesim.SeedID("contacts", 0)
	if err := e.sim.DeleteRow("contacts", id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.CreateRow("contacts", map[string]any{"contactid": id, "lastname": "Back"}); err != nil {
		t.Fatal(err)
	}
	changes, _ := delta(t, e, link)
	// Upserts come first, tombstones after
	// (docs/reference/dataverse-webapi.md §3.2): the same id appears as a row
	// and then as a tombstone. The row exists, so consumers must let an
	// upsert win over a tombstone of the same delta.
	if len(changes) != 2 || changes[0].ID != id || changes[0].Deleted || changes[1].ID != id || !changes[1].Deleted {
		t.Fatalf("delta = %+v, want row %s then its tombstone", changes, id)
	}
}

func TestTombstoneForNeverSeenID(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 2})
	_, link := initialLoad(t, e)
	id, err := e.sim.CreateRow("contacts", map[string]any{"lastname": "Brief"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.DeleteRow("contacts", id); err != nil {
		t.Fatal(err)
	}
	changes, _ := delta(t, e, link)
	if len(changes) != 1 || changes[0].ID != id || !changes[0].Deleted {
		t.Fatalf("delta = %+v, want only a tombstone for %s", changes, id)
	}
}

func TestExpiredDeltaTokenSignalsFullResync(t *testing.T) {
	tests := []struct {
		name   string
		expire func(e *env)
	}{
		{"expired by the admin", func(e *env) { e.sim.ExpireDeltaTokens() }},
		{"older than expirechangetrackingindays", func(e *env) {
			if err := e.sim.UpdateRow("organizations", dataversesim.OrganizationID.String(), map[string]any{"expirechangetrackingindays": 1}); err != nil {
				panic(err)
			}
			e.sim.Advance(25 * time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, dataversesim.Options{Seed: 3})
			_, link := initialLoad(t, e)
			tt.expire(e)
			p, err := e.c.ResumeChangesPager(link, contactChanges)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.NextPage(context.Background())
			if !dataverse.IsExpiredDeltaToken(err) {
				t.Fatalf("err = %v, want an expired delta token", err)
			}
			if !strings.Contains(err.Error(), "Please perform a full sync") {
				t.Errorf("message %q does not carry Dataverse's advice", err)
			}
			rows, _ := initialLoad(t, e)
			if len(rows) != 3 {
				t.Errorf("full resync read %d rows, want 3", len(rows))
			}
		})
	}
}

func TestChangeTrackingRefusedOnUntrackedTable(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 1})
	_, err := e.c.NewChangesPager("leads", nil).NextPage(context.Background())
	if de, ok := err.(*dataverse.Error); !ok || de.StatusCode != 400 || !strings.Contains(de.Message, "isn't enabled for change tracking") {
		t.Fatalf("err = %v, want 400 not enabled for change tracking", err)
	}
}

func TestResumeRefusesForeignOrBadLinks(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	for _, link := range []string{"https://evil.example.com/api/data/v9.2/contacts?$deltatoken=1!x", e.srv.URL + "/api/data/v9.2/contacts?$select=x"} {
		if _, err := e.c.ResumeChangesPager(link, nil); err == nil {
			t.Errorf("ResumeChangesPager(%q) accepted it", link)
		}
	}
}

// TestQuietDeltaAnsweredWithEmptyJSON: Microsoft documents that a delta read
// of a table without changes "contains empty JSON"
// (docs/reference/dataverse-webapi.md §3.2). That is a page without rows, not
// a failed sync, and the link to resume from next time is the one this read
// started from.
func TestQuietDeltaAnsweredWithEmptyJSON(t *testing.T) {
	for _, body := range []string{`{}`, `{"@odata.context":"x/$delta","value":[]}`, ` {"value":null} `} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
			_, _ = io.WriteString(w, body)
		}))
		c, _ := dataverse.New(srv.URL, dataverse.StaticToken("t"), nil)
		link := srv.URL + "/api/data/v9.2/accounts?$select=name&$deltatoken=919042%2108%2f22%2f2017"
		p, err := c.ResumeChangesPager(link, nil)
		if err != nil {
			t.Fatal(err)
		}
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Errorf("answer %s: the quiet table's delta read fails: %v", body, err)
		} else if len(page.Rows) != 0 || p.More() || p.DeltaLink() != link {
			t.Errorf("answer %s: %d rows, more %v, delta link %q; want none, no more, and the link it resumed from", body, len(page.Rows), p.More(), p.DeltaLink())
		}
		srv.Close()
	}
}

// TestPageThatIsNotAnObjectIsRefused: only an object can be a page.
func TestPageThatIsNotAnObjectIsRefused(t *testing.T) {
	for _, body := range []string{`null`, `[]`, `"value"`, ``} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
			_, _ = io.WriteString(w, body)
		}))
		c, _ := dataverse.New(srv.URL, dataverse.StaticToken("t"), nil)
		if _, err := c.NewListPager("accounts", nil, nil).NextPage(context.Background()); err == nil {
			t.Errorf("answer %q was read as a page", body)
		}
		srv.Close()
	}
}

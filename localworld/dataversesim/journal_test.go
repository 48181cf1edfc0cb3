package dataversesim

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// versionOf is the number in a weak ETag W/"<n>".
func versionOf(t *testing.T, etag string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(etag, `W/"`), `"`), 10, 64)
	if err != nil {
		t.Fatalf("ETag %q: %v", etag, err)
	}
	return v
}

// TestJournal: once on, the journal lists a row's committed writes in
// commit order, each with the version it produced and the columns it set:
// Web API updates, a colleague's edit through the controls, a delete; a
// change set that failed leaves no entry. Seeding is not journaled.
func TestJournal(t *testing.T) {
	const api = "/api/data/v9.2/"
	s, srv := newTestServer(t, Options{Seed: 2})
	acc0, acc1 := SeedID("accounts", 0), SeedID("accounts", 1)
	path := api + "accounts(" + acc0 + ")"
	s.EnableJournal()
	if j := s.Journal("accounts", acc0); j == nil || len(j) != 0 {
		t.Fatalf("journal of a seeded, unwritten row = %#v, want empty", j)
	}

	// 1. An update by the Web API.
	r := send(t, srv, "PATCH", path, `{"telephone1":"+1 555 0100"}`, "Content-Type", "application/json", "Prefer", "return=representation", "If-Match", "*")
	if r.status != http.StatusOK {
		t.Fatalf("PATCH = %d %s", r.status, r.body)
	}
	v1 := versionOf(t, r.header.Get("ETag"))
	// 2. A colleague's edit in Dynamics.
	if err := s.UpdateRow("accounts", acc0, map[string]any{"name": "Renamed in Dynamics", "websiteurl": nil}); err != nil {
		t.Fatal(err)
	}
	v2 := versionOf(t, etagOf(t, srv, path))
	// 3. A change set that updates the row and then fails: no entry.
	failed := changeSetBatch(
		batchReq{method: "PATCH", url: "accounts(" + acc0 + ")", body: `{"telephone1":"never kept"}`},
		batchReq{method: "DELETE", url: "accounts(" + acc1 + ")"},
		batchReq{method: "PATCH", url: "accounts(" + acc1 + ")", body: `{"name":"x"}`, header: []string{"If-Match", `W/"1"`}},
	)
	if r := send(t, srv, "POST", api+"$batch", failed, "Content-Type", "multipart/mixed; boundary=batch_b"); r.status != http.StatusNotFound {
		// the delete before it went, so the conditional update finds no row
		t.Fatalf("failing change set = %d %s", r.status, r.body)
	}
	// 4. A delete.
	if r := send(t, srv, "DELETE", path, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", r.status, r.body)
	}

	got := s.Journal("accounts", strings.ToUpper(acc0)) // ids compare as GUIDs
	want := []JournalEntry{
		{Version: v1, Values: map[string]any{"telephone1": "+1 555 0100"}},
		{Version: v2, Values: map[string]any{"name": "Renamed in Dynamics", "websiteurl": nil}},
		{Version: got[len(got)-1].Version, Deleted: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("journal = %#v\nwant      %#v", got, want)
	}
	if got[2].Version <= v2 {
		t.Errorf("the delete's version %d is not after the update's %d", got[2].Version, v2)
	}
	if j := s.Journal("accounts", acc1); len(j) != 0 {
		t.Errorf("journal of the row the failed change set deleted = %v, want none", j)
	}

	// A create lists the columns it set, the caller as owner among them,
	// but not the ones the system keeps.
	r = send(t, srv, "POST", api+"accounts", `{"name":"New","creditonhold":true,"numberofemployees":7}`, "Content-Type", "application/json", "Prefer", "return=representation")
	var row Row
	if err := json.Unmarshal([]byte(r.body), &row); err != nil || r.status != http.StatusCreated {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	id := row["accountid"].(string)
	j := s.Journal("accounts", id)
	if len(j) != 1 || j[0].Deleted || j[0].Version != versionOf(t, r.header.Get("ETag")) {
		t.Fatalf("journal of a created row = %#v", j)
	}
	wantValues := map[string]any{"accountid": id, "name": "New", "creditonhold": true, "numberofemployees": float64(7), "_ownerid_value": row["_ownerid_value"]}
	if !reflect.DeepEqual(j[0].Values, wantValues) {
		t.Errorf("created values = %#v, want %#v", j[0].Values, wantValues)
	}

	// Over the admin API.
	r = send(t, srv, "GET", "/_sim/journal/accounts/"+acc0, "")
	var out struct{ Entries []JournalEntry }
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != http.StatusOK || !reflect.DeepEqual(out.Entries, got) {
		t.Errorf("GET /_sim/journal = %d %s, want %v", r.status, r.body, got)
	}
	if r := send(t, srv, "GET", "/_sim/journal/accounts/"+SeedID("accounts", 9), ""); r.status != http.StatusOK || !strings.Contains(r.body, `"entries":[]`) {
		t.Errorf("GET /_sim/journal of an unwritten row = %d %s, want no entries", r.status, r.body)
	}
	if r := send(t, srv, "GET", "/_sim/journal/nothing/"+acc0, ""); r.status != http.StatusNotFound {
		t.Errorf("GET /_sim/journal of an unknown set = %d, want 404", r.status)
	}
}

// TestJournalOff: the journal is off unless enabled; the admin API says so
// rather than answer an empty history, and turns it on.
func TestJournalOff(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 1})
	acc := SeedID("accounts", 0)
	if err := s.UpdateRow("accounts", acc, map[string]any{"name": "before"}); err != nil {
		t.Fatal(err)
	}
	if j := s.Journal("accounts", acc); j != nil {
		t.Errorf("journal while off = %v, want nil", j)
	}
	if r := send(t, srv, "GET", "/_sim/journal/accounts/"+acc, ""); r.status != http.StatusConflict {
		t.Errorf("GET /_sim/journal while off = %d %s, want 409", r.status, r.body)
	}
	if r := send(t, srv, "POST", "/_sim/journal/enable", ""); r.status != http.StatusNoContent {
		t.Fatalf("POST /_sim/journal/enable = %d %s", r.status, r.body)
	}
	if err := s.UpdateRow("accounts", acc, map[string]any{"name": "after"}); err != nil {
		t.Fatal(err)
	}
	if j := s.Journal("accounts", acc); len(j) != 1 || j[0].Values["name"] != "after" {
		t.Errorf("journal = %v, want only the write after it was enabled", j)
	}
}

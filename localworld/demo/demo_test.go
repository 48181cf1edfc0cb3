// Package demo holds the runnable story of the connector (`make demo`):
// sign-in, the downstream sync, a meeting report going up, a file coming
// down, and an offline edit meeting a colleague's change, on the whole
// connector in a local world, driven as a person would,
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

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
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
	say("\n== 8. Dave uploads a meeting report: a new account, the meeting about it, a note and a document")
	report := map[string]any{
		"uploadId": "demo-report-1",
		"meeting": map[string]any{"subject": "Quarterly review", "start": "2026-03-02T09:30:00+01:00", "end": "2026-03-02T10:30:00+01:00",
			"location": "Fabrikam HQ", "regarding": map[string]any{"customer": 0}},
		"customers": []any{map[string]any{"entitySet": "accounts", "key": map[string]any{"accountnumber": "AN-DEMO-1"},
			"fields": map[string]any{"name": "Fabrikam Roastery"}}},
		"notes":     []any{map[string]any{"subject": "Next steps", "text": "Send the offer by Friday."}},
		"documents": []any{map[string]any{"name": "offer.txt", "mimeType": "text/plain", "content": "T2ZmZXI6IDEwMCBiYWdzIGF0IDEyIEVVUi4="}},
	}
	status, _, body = w.API(t, http.MethodPost, "/api/uploads", token, report)
	if status != http.StatusAccepted {
		t.Fatalf("POST /api/uploads = %d %s, want 202", status, body)
	}
	say("   202 Accepted: %s", body)
	status, _, _ = w.API(t, http.MethodPost, "/api/uploads", token, report)
	say("   sent again (the app was offline and is not sure): %d, nothing queued twice", status)
	if status != http.StatusOK {
		t.Errorf("the same report again = %d, want 200", status)
	}

	say("\n== 9. UploadWorker writes it into Dynamics in one $batch; the app follows GET /api/uploads/demo-report-1")
	var up struct {
		Status  string `json:"status"`
		Records []struct{ Item, EntitySet, ID string }
	}
	w.WaitFor(t, "the upload to be done", time.Minute, func() bool {
		_, _, b := w.API(t, http.MethodGet, "/api/uploads/demo-report-1", token, nil)
		_ = json.Unmarshal(b, &up)
		return up.Status == "done" || up.Status == "failed" || up.Status == "parked"
	})
	if up.Status != "done" {
		t.Fatalf("the upload ended %s, want done", up.Status)
	}
	var meeting string
	for _, r := range up.Records {
		row, ok := w.Dataverse.GetRow(r.EntitySet, r.ID)
		say("   %-12s %-13s %s  in Dynamics: %v", r.Item, r.EntitySet, r.ID, ok)
		if !ok {
			t.Errorf("record %s %s/%s is not in Dynamics", r.Item, r.EntitySet, r.ID)
		}
		if r.EntitySet == "appointments" {
			meeting = r.ID
			say("                 subject %q", row["subject"])
		}
	}
	if meeting == "" {
		t.Fatal("the upload wrote no appointment")
	}

	say("\n== 10. The next sync brings the meeting back to every device of Dave's")
	start = time.Now()
	w.SendSyncJob(t, dave, time.Now().Add(time.Minute))
	w.WaitSynced(t, dave, start, time.Minute, sets...)
	changes, _ := w.Changes(t, token, cursor, 50)
	found := false
	for _, ch := range changes {
		found = found || ch.EntitySet == "appointments" && ch.ID == meeting && ch.Op == "upsert"
	}
	say("   %d changes since cursor %s; the uploaded meeting among them: %v", len(changes), cursor, found)
	if !found {
		t.Errorf("the uploaded meeting %s did not come back through /api/changes", meeting)
	}

	say("\n== 11. Someone attaches a file to account %s in Dynamics; the next sync brings the note, not the file", renamed)
	file := bytes.Repeat([]byte("Fabrikam price list 2026: 100 bags at 12 EUR.\n"), 40000)
	note, err := w.Dataverse.AttachFile("accounts", renamed, dataversesim.Attachment{Subject: "Price list", FileName: "Preisliste März.txt", MimeType: "text/plain", Content: file})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	w.SendSyncJob(t, dave, time.Now().Add(2*time.Minute))
	w.WaitSynced(t, dave, start, time.Minute, append(sets, "annotations")...)
	changes, _ = w.Changes(t, token, cursor, 50)
	var noteRow map[string]any
	for _, ch := range changes {
		if ch.EntitySet == "annotations" && ch.ID == note && ch.Op == "upsert" {
			_ = json.Unmarshal(ch.Data, &noteRow)
		}
	}
	say("   the note in /api/changes: %s", compact(noteRow))
	if noteRow == nil || noteRow["filename"] != "Preisliste März.txt" || noteRow["filesize"] != float64(len(file)) || noteRow["documentbody"] != nil {
		t.Fatalf("the note %s is not in /api/changes with its file's name and size (and without the file): %v", note, noteRow)
	}

	say("\n== 12. The app downloads the file: GET /api/documents/%s, then again with If-None-Match", note)
	before := w.Dataverse.Requests()
	status, h, body := w.API(t, http.MethodGet, "/api/documents/"+note, token, nil)
	say("   %d, %s bytes, %s, %s, ETag %s; identical to the attached file: %v", status, h.Get("Content-Length"), h.Get("Content-Type"), h.Get("Content-Disposition"), h.Get("ETag"), bytes.Equal(body, file))
	if status != http.StatusOK || !bytes.Equal(body, file) {
		t.Fatalf("GET /api/documents/%s = %d with %d bytes, want 200 and the %d bytes attached", note, status, len(body), len(file))
	}
	say("   %d request(s) to Dynamics: the file, read once into the cache (and the organisation's file size limit)", w.Dataverse.Requests()-before)
	req, _ := http.NewRequest(http.MethodGet, w.URL+"/api/documents/"+note, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("If-None-Match", h.Get("ETag"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	say("   again with If-None-Match: %d", resp.StatusCode)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("a download with the ETag the app has = %d, want 304", resp.StatusCode)
	}
	before = w.Dataverse.Requests()
	status, _, body = w.API(t, http.MethodGet, "/api/documents/"+note, token, nil)
	say("   on a new device (no ETag): %d, identical: %v, %d request(s) to Dynamics (the cache)", status, bytes.Equal(body, file), w.Dataverse.Requests()-before)
	if status != http.StatusOK || !bytes.Equal(body, file) || w.Dataverse.Requests() != before {
		t.Errorf("the second download = %d, identical %v, %d Dataverse requests; want 200, the file, none", status, bytes.Equal(body, file), w.Dataverse.Requests()-before)
	}

	say("\n== 13. Dave edits account %s offline while a colleague changes it in Dynamics (UPLOAD_CONFIG conflicts: merge)", renamed)
	all, _ = w.Changes(t, token, "", 1000)
	var copy map[string]any
	_ = json.Unmarshal(testworld.Replay(all)["accounts"][renamed], &copy)
	if err := w.Dataverse.UpdateRow("accounts", renamed, map[string]any{"telephone1": "+41 44 555 01 01"}); err != nil {
		t.Fatal(err)
	}
	edit := func(id string, changes map[string]any) (string, []map[string]any) {
		fields := map[string]any{"name": copy["name"], "telephone1": copy["telephone1"], "websiteurl": copy["websiteurl"]}
		for k, v := range changes {
			fields[k] = v
		}
		rep := map[string]any{"uploadId": id,
			"meeting":   map[string]any{"subject": "Visit", "start": "2026-03-03T09:00:00Z", "end": "2026-03-03T10:00:00Z", "regarding": map[string]any{"customer": 0}},
			"customers": []any{map[string]any{"entitySet": "accounts", "id": renamed, "ifMatch": copy["@odata.etag"], "fields": fields}}}
		if status, _, b := w.API(t, http.MethodPost, "/api/uploads", token, rep); status != http.StatusAccepted {
			t.Fatalf("POST /api/uploads = %d %s", status, b)
		}
		var st struct {
			Status    string           `json:"status"`
			Conflicts []map[string]any `json:"conflicts"`
		}
		w.WaitFor(t, "upload "+id+" to end", time.Minute, func() bool {
			_, _, b := w.API(t, http.MethodGet, "/api/uploads/"+id, token, nil)
			_ = json.Unmarshal(b, &st)
			return st.Status == "done" || st.Status == "conflict" || st.Status == "failed"
		})
		return st.Status, st.Conflicts
	}
	outcome, clashes := edit("demo-edit-1", map[string]any{"websiteurl": "https://fabrikam.example"})
	row, _ := w.Dataverse.GetRow("accounts", renamed)
	say("   the colleague set the phone, Dave the website (based on %v): %s; in Dynamics phone %v, website %v", copy["@odata.etag"], outcome, row["telephone1"], row["websiteurl"])
	if outcome != "done" || len(clashes) != 0 || row["telephone1"] != "+41 44 555 01 01" || row["websiteurl"] != "https://fabrikam.example" {
		t.Errorf("a merge of different fields = %s %v, account %v; want done, both changes kept", outcome, clashes, row)
	}
	outcome, clashes = edit("demo-edit-2", map[string]any{"telephone1": "+41 44 555 02 02"})
	row, _ = w.Dataverse.GetRow("accounts", renamed)
	say("   Dave also changes the phone, from the same old copy: %s, clashing %v; Dynamics keeps %v, nothing of the report written", outcome, fieldsOf(clashes), row["telephone1"])
	if outcome != "conflict" || len(clashes) != 1 || row["telephone1"] != "+41 44 555 01 01" {
		t.Errorf("a clash on the phone = %s %v, account %v; want conflict, the colleague's phone kept", outcome, clashes, row)
	}
	say("\n== The story held: every step did what it said.")
}

// fieldsOf lists the clashing fields of an upload's conflicts.
func fieldsOf(conflicts []map[string]any) []any {
	var out []any
	for _, c := range conflicts {
		fields, _ := c["fields"].([]any)
		out = append(out, fields...)
	}
	return out
}

// compact renders a row on one line.
func compact(row map[string]any) string {
	b, _ := json.Marshal(row)
	return string(b)
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

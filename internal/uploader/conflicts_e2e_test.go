package uploader_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/report"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/uploadconfig"
	"github.com/pitcher/connector/internal/uploader"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// A rep edits an account offline while a colleague changes it in
// Dynamics: these tests play both through the local world, one world per
// conflict policy of accounts.

// conflictWorld starts a world whose accounts have the conflict policy,
// connects a user and waits for their first sync.
func conflictWorld(t *testing.T, policy string) *client {
	t.Helper()
	cfg := uploadconfig.Default()
	cfg.EntitySets[0].Conflicts = policy
	start := time.Now()
	w := testworld.Start(t, testworld.Options{Settings: []string{"UPLOAD_CONFIG=" + cfg.String()}, Dataverse: dataversesim.Options{Journal: true}})
	c := connect(t, w, "dave@fabrikam.example")
	w.WaitSynced(t, c.user, start, 2*time.Minute, "accounts")
	w.WaitIdle(t, c.user, time.Minute)
	return c
}

// appCopy is the app's copy of an account, from the Changes API.
func (c *client) appCopy(t *testing.T, id string) map[string]any {
	t.Helper()
	changes, _ := c.w.Changes(t, c.token, "", 1000)
	raw, ok := testworld.Replay(changes)["accounts"][id]
	if !ok {
		t.Fatalf("the app has no account %s", id)
	}
	var row map[string]any
	if err := json.Unmarshal(raw, &row); err != nil {
		t.Fatal(err)
	}
	return row
}

// syncNow runs a sync of the user and waits for it to end.
func (c *client) syncNow(t *testing.T) {
	t.Helper()
	start := time.Now()
	c.w.SendSyncJob(t, c.user, start)
	c.w.WaitSynced(t, c.user, start, time.Minute, "accounts")
	c.w.WaitIdle(t, c.user, time.Minute)
}

// edit is a report updating account id as the app edited it: its copy's
// fields (those reports may write) with changes applied, with ifMatch.
func edit(uploadID string, copy map[string]any, changes map[string]any) rep {
	fields := map[string]any{}
	for _, f := range []string{"name", "telephone1", "websiteurl", "address1_city"} {
		fields[f] = copy[f]
	}
	for k, v := range changes {
		fields[k] = v
	}
	return rep{
		"uploadId": uploadID,
		"meeting": map[string]any{"subject": "Visit " + uploadID, "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z",
			"regarding": map[string]any{"customer": 0}},
		"customers": []any{map[string]any{"entitySet": "accounts", "id": copy["accountid"], "ifMatch": copy["@odata.etag"], "fields": fields}},
		"notes":     []any{map[string]any{"subject": "Visit " + uploadID, "text": "Talked about the renewal."}},
	}
}

// send posts r and waits for the upload to end.
func (c *client) send(t *testing.T, r rep) uploader.Status {
	t.Helper()
	id := r["uploadId"].(string)
	if status, _, b := c.post(t, r); status != http.StatusAccepted {
		t.Fatalf("POST %s = %d %s", id, status, b)
	}
	c.waitStatus(t, id, time.Minute, store.UploadDone, store.UploadConflict, store.UploadFailed, store.UploadDeadLettered)
	_, st := c.status(t, id)
	return st
}

// notWritten checks that nothing of upload id is in Dynamics: no meeting,
// no note.
func (c *client) notWritten(t *testing.T, id string, annotationsBefore int) {
	t.Helper()
	meeting := report.RecordID(c.user.TenantID, c.user.OID, id, report.ItemMeeting)
	if _, ok := c.w.Dataverse.GetRow("appointments", meeting); ok {
		t.Errorf("the meeting of %s is in Dynamics; nothing of a conflicting report may be written", id)
	}
	if got := c.w.Dataverse.Count("annotations"); got != annotationsBefore {
		t.Errorf("annotations went from %d to %d; the report's note must not be written", annotationsBefore, got)
	}
}

func (c *client) account(t *testing.T, id string) dataversesim.Row {
	t.Helper()
	row, ok := c.w.Dataverse.GetRow("accounts", id)
	if !ok {
		t.Fatalf("account %s is not in Dynamics", id)
	}
	return row
}

func someAccount(t *testing.T, c *client, n int) string {
	t.Helper()
	ids := c.w.Dataverse.IDs("accounts")
	if len(ids) <= n {
		t.Fatalf("the simulator has %d accounts", len(ids))
	}
	return ids[n]
}

// TestConflictServerWins: under server-wins, a report updating a row that
// changed in Dynamics since the app's copy is not written at all (not the
// row, not the meeting, not its note); the upload ends conflict with the
// row as Dynamics has it. The next sync brings that row to the app, and a
// report based on it is written.
func TestConflictServerWins(t *testing.T) {
	c := conflictWorld(t, uploadconfig.ConflictsServerWins)
	id := someAccount(t, c, 0)
	copy := c.appCopy(t, id)
	// The colleague changes a column the app does not write: under
	// server-wins any change of the row is a conflict.
	if err := c.w.Dataverse.UpdateRow("accounts", id, map[string]any{"description": "Changed by a colleague"}); err != nil {
		t.Fatal(err)
	}
	notes := c.w.Dataverse.Count("annotations")
	refused := countBatches(c.w)
	st := c.send(t, edit("sw-1", copy, map[string]any{"telephone1": "+41 44 111 11 11"}))
	if n := refused.Load(); n != 2 {
		t.Errorf("%d $batch requests, want 2: the write that met the change and one read", n)
	}

	if st.Status != store.UploadConflict || len(st.Conflicts) != 1 || st.LastError == nil || st.LastError.Code != "conflict" {
		t.Fatalf("status = %+v, want conflict with one conflicting row", st)
	}
	f := st.Conflicts[0]
	now := c.account(t, id)
	if f.Item != "customers[0]" || f.ID != id || f.IfMatch != copy["@odata.etag"] || f.ETag != now["@odata.etag"] || f.Written || f.Deleted {
		t.Errorf("conflict = %+v, want customers[0] %s from %v to %v, not written", f, id, copy["@odata.etag"], now["@odata.etag"])
	}
	if len(f.Fields) != 0 {
		t.Errorf("clashing fields = %v; the colleague changed none the app changed", f.Fields)
	}
	if f.Current["description"] != "Changed by a colleague" || f.Current["telephone1"] != copy["telephone1"] {
		t.Errorf("current = %v, want Dynamics' row (the colleague's description, the old phone)", f.Current)
	}
	for k := range f.Current {
		if !uploadconfig.Default().EntitySets[0].AllowsField(k) {
			t.Errorf("current has %s, a column outside the set's fields (only those are shown)", k)
		}
	}
	if now["telephone1"] != copy["telephone1"] {
		t.Errorf("telephone1 = %v; a conflicting report must not be written", now["telephone1"])
	}
	c.notWritten(t, "sw-1", notes)
	if len(st.Records) != 0 {
		t.Errorf("records = %+v, want none", st.Records)
	}

	// The next sync brings Dynamics' row; a report based on it is written.
	c.syncNow(t)
	fresh := c.appCopy(t, id)
	if fresh["@odata.etag"] != now["@odata.etag"] {
		t.Fatalf("after a sync the app has %v of the account, Dynamics %v", fresh["@odata.etag"], now["@odata.etag"])
	}
	batches := countBatches(c.w)
	st = c.send(t, edit("sw-2", fresh, map[string]any{"telephone1": "+41 44 111 11 11"}))
	if st.Status != store.UploadDone || len(st.Conflicts) != 0 {
		t.Fatalf("status = %+v, want done without conflicts", st)
	}
	if n := batches.Load(); n != 1 {
		t.Errorf("%d $batch requests for a report without conflict, want 1", n)
	}
	after := c.account(t, id)
	if after["telephone1"] != "+41 44 111 11 11" || after["description"] != "Changed by a colleague" {
		t.Errorf("account = %v, want the app's phone and the colleague's description", after)
	}
	if st.Records[0].ETag != after["@odata.etag"] {
		t.Errorf("records[0].etag = %q, want the row's version after the write %v", st.Records[0].ETag, after["@odata.etag"])
	}
}

// TestConflictMerge: under merge, the fields the app changed are written
// when nobody changed them in Dynamics (even after the sync has read the
// colleague's change, so the app's version comes from the change log); a
// field both changed to different values is a conflict and nothing is
// written; one both changed to the same value is none; a row deleted in
// Dynamics is a conflict.
func TestConflictMerge(t *testing.T) {
	c := conflictWorld(t, uploadconfig.ConflictsMerge)
	id := someAccount(t, c, 0)
	copy := c.appCopy(t, id)

	t.Run("different fields", func(t *testing.T) {
		if err := c.w.Dataverse.UpdateRow("accounts", id, map[string]any{"telephone1": "+41 44 222 22 22"}); err != nil {
			t.Fatal(err)
		}
		c.syncNow(t) // the mirror moves past the app's version
		batches := countBatches(c.w)
		st := c.send(t, edit("merge-1", copy, map[string]any{"websiteurl": "https://contoso.example"}))
		if st.Status != store.UploadDone || len(st.Conflicts) != 0 {
			t.Fatalf("status = %+v, want done without conflicts", st)
		}
		// The write that met the change, one read, the write again.
		if n := batches.Load(); n != 3 {
			t.Errorf("%d $batch requests, want 3", n)
		}
		now := c.account(t, id)
		if now["telephone1"] != "+41 44 222 22 22" || now["websiteurl"] != "https://contoso.example" {
			t.Errorf("account = %v, want the colleague's phone and the app's website", now)
		}
		// The row now holds the colleague's phone, which the app's copy
		// lacks: its version is no base for the app's next edit.
		if st.Records[0].ETag != "" {
			t.Errorf("records[0].etag = %q after a merge; want none (the app's copy is not that version)", st.Records[0].ETag)
		}
		// Only the field the app changed was sent.
		j := c.w.Dataverse.Journal("accounts", id)
		if last := j[len(j)-1].Values; len(last) != 1 || last["websiteurl"] == nil {
			t.Errorf("the app's write set %v, want websiteurl alone", last)
		}
	})

	t.Run("same field", func(t *testing.T) {
		copy := c.appCopy(t, id)
		if err := c.w.Dataverse.UpdateRow("accounts", id, map[string]any{"telephone1": "+41 44 333 33 33", "address1_city": "Basel"}); err != nil {
			t.Fatal(err)
		}
		notes := c.w.Dataverse.Count("annotations")
		st := c.send(t, edit("merge-2", copy, map[string]any{"telephone1": "+41 44 444 44 44", "address1_city": "Basel"}))
		if st.Status != store.UploadConflict || len(st.Conflicts) != 1 {
			t.Fatalf("status = %+v, want conflict", st)
		}
		if f := st.Conflicts[0]; !slices.Equal(f.Fields, []string{"telephone1"}) || f.Current["telephone1"] != "+41 44 333 33 33" || f.Written {
			t.Errorf("conflict = %+v, want telephone1 clashing (the city was changed to the same value on both sides)", f)
		}
		if now := c.account(t, id); now["telephone1"] != "+41 44 333 33 33" {
			t.Errorf("telephone1 = %v, want the colleague's", now["telephone1"])
		}
		c.notWritten(t, "merge-2", notes)
	})

	t.Run("same value", func(t *testing.T) {
		copy := c.appCopy(t, id)
		if err := c.w.Dataverse.UpdateRow("accounts", id, map[string]any{"address1_city": "Bern"}); err != nil {
			t.Fatal(err)
		}
		st := c.send(t, edit("merge-3", copy, map[string]any{"address1_city": "Bern", "name": "Contoso (Bern)"}))
		if st.Status != store.UploadDone || len(st.Conflicts) != 0 {
			t.Fatalf("status = %+v, want done", st)
		}
		if now := c.account(t, id); now["address1_city"] != "Bern" || now["name"] != "Contoso (Bern)" {
			t.Errorf("account = %v", now)
		}
	})

	t.Run("deleted", func(t *testing.T) {
		other := someAccount(t, c, 1)
		copy := c.appCopy(t, other)
		if err := c.w.Dataverse.DeleteRow("accounts", other); err != nil {
			t.Fatal(err)
		}
		notes := c.w.Dataverse.Count("annotations")
		st := c.send(t, edit("merge-4", copy, map[string]any{"telephone1": "+41 44 555 55 55"}))
		if st.Status != store.UploadConflict || len(st.Conflicts) != 1 || !st.Conflicts[0].Deleted || st.Conflicts[0].Current != nil {
			t.Fatalf("status = %+v, want a conflict with the deleted row", st)
		}
		if _, ok := c.w.Dataverse.GetRow("accounts", other); ok {
			t.Error("the deleted account is back; merge must not create it again")
		}
		c.notWritten(t, "merge-4", notes)
	})
}

// TestConflictClientWins: under client-wins the app's changes are written
// over the colleague's, and the upload, done, records the conflict; a
// field only the colleague changed keeps the colleague's value.
func TestConflictClientWins(t *testing.T) {
	c := conflictWorld(t, uploadconfig.ConflictsClientWins)
	id := someAccount(t, c, 0)
	copy := c.appCopy(t, id)
	if err := c.w.Dataverse.UpdateRow("accounts", id, map[string]any{"telephone1": "+41 44 666 66 66", "websiteurl": "https://colleague.example"}); err != nil {
		t.Fatal(err)
	}
	st := c.send(t, edit("cw-1", copy, map[string]any{"telephone1": "+41 44 777 77 77"}))
	if st.Status != store.UploadDone || len(st.Conflicts) != 1 {
		t.Fatalf("status = %+v, want done with one conflict", st)
	}
	f := st.Conflicts[0]
	if !f.Written || !slices.Equal(f.Fields, []string{"telephone1"}) || f.Current["telephone1"] != "+41 44 666 66 66" {
		t.Errorf("conflict = %+v, want telephone1 written over the colleague's +41 44 666 66 66", f)
	}
	now := c.account(t, id)
	if now["telephone1"] != "+41 44 777 77 77" || now["websiteurl"] != "https://colleague.example" {
		t.Errorf("account = %v, want the app's phone and the colleague's website", now)
	}
	if _, ok := c.w.Dataverse.GetRow("appointments", recordOf(t, st, "meeting")); !ok {
		t.Error("the meeting is not in Dynamics")
	}
}

// loseAnswer makes the simulator run the n-th $batch (from 1) and answer
// 502 instead of its answer, as a gateway that lost it would.
func loseAnswer(w *testworld.World, n int64) *atomic.Int64 {
	batches := &atomic.Int64{}
	w.SetDataverseHook(func(rw http.ResponseWriter, r *http.Request, sim http.Handler) {
		if !strings.HasSuffix(r.URL.Path, "/$batch") || batches.Add(1) != n {
			sim.ServeHTTP(rw, r)
			return
		}
		sim.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(rw, "bad gateway", http.StatusBadGateway)
	})
	return batches
}

// TestConflictExactlyOnce: a report whose write committed but whose answer
// was lost is delivered again; its own write changed the row's version,
// which must not be taken for a conflict (under server-wins any change
// would be one): the upload ends done, the row written once. Under
// client-wins, the conflict found before that write is still recorded;
// under merge, a merged write's own version is no conflict either.
func TestConflictExactlyOnce(t *testing.T) {
	for _, policy := range []string{uploadconfig.ConflictsServerWins, uploadconfig.ConflictsClientWins, uploadconfig.ConflictsMerge} {
		t.Run(policy, func(t *testing.T) {
			c := conflictWorld(t, policy)
			id := someAccount(t, c, 0)
			copy := c.appCopy(t, id)
			writes := len(c.w.Dataverse.Journal("accounts", id))
			loseAnswer(c.w, 1)
			r := edit("once-1", copy, map[string]any{"telephone1": "+41 44 888 88 88"})
			st := c.send(t, r)
			if status, _, b := c.post(t, r); status != http.StatusOK {
				t.Errorf("the same report again = %d %s, want 200 (the same upload)", status, b)
			}
			if st.Status != store.UploadDone || len(st.Conflicts) != 0 || st.Attempts < 2 {
				t.Fatalf("status = %+v, want done after a redelivery, without conflicts", st)
			}
			if got := len(c.w.Dataverse.Journal("accounts", id)) - writes; got != 1 {
				t.Errorf("the account was written %d times, want once", got)
			}
			now := c.account(t, id)
			if now["telephone1"] != "+41 44 888 88 88" {
				t.Errorf("telephone1 = %v", now["telephone1"])
			}
			// The answer naming the write's version was lost: the row's
			// version now could be a later writer's, so none is given.
			if rec := st.Records[0]; rec.Item != "customers[0]" || rec.ID != id || rec.ETag != "" {
				t.Errorf("records[0] = %+v, want the account without a version", rec)
			}
			if policy == uploadconfig.ConflictsMerge {
				// A colleague changed another field: the merged write's
				// answer is lost, and the redelivery must not take the
				// write's own version for a conflict.
				id = someAccount(t, c, 1)
				copy = c.appCopy(t, id)
				if err := c.w.Dataverse.UpdateRow("accounts", id, map[string]any{"websiteurl": "https://colleague.example"}); err != nil {
					t.Fatal(err)
				}
				c.syncNow(t)
				writes = len(c.w.Dataverse.Journal("accounts", id))
				// The first $batch meets the change (412), the second reads,
				// the third writes the merge, and its answer is lost.
				loseAnswer(c.w, 3)
				st = c.send(t, edit("once-merge", copy, map[string]any{"telephone1": "+41 44 000 33 44"}))
				if st.Status != store.UploadDone || len(st.Conflicts) != 0 || st.Attempts < 2 {
					t.Fatalf("status = %+v, want done after a redelivery, without conflicts", st)
				}
				if got := len(c.w.Dataverse.Journal("accounts", id)) - writes; got != 1 {
					t.Errorf("the account was written %d times, want once", got)
				}
				if now := c.account(t, id); now["telephone1"] != "+41 44 000 33 44" || now["websiteurl"] != "https://colleague.example" {
					t.Errorf("account = %v, want the app's phone and the colleague's website", now)
				}
				return
			}
			if policy != uploadconfig.ConflictsClientWins {
				return
			}

			id = someAccount(t, c, 1)
			copy = c.appCopy(t, id)
			if err := c.w.Dataverse.UpdateRow("accounts", id, map[string]any{"telephone1": "+41 44 999 99 99"}); err != nil {
				t.Fatal(err)
			}
			writes = len(c.w.Dataverse.Journal("accounts", id))
			// The first $batch meets the change (412), the second reads, the
			// third writes over it, and its answer is lost.
			loseAnswer(c.w, 3)
			st = c.send(t, edit("once-2", copy, map[string]any{"telephone1": "+41 44 000 11 22"}))
			if st.Status != store.UploadDone || len(st.Conflicts) != 1 || !st.Conflicts[0].Written {
				t.Fatalf("status = %+v, want done with the conflict recorded as written over", st)
			}
			if got := len(c.w.Dataverse.Journal("accounts", id)) - writes; got != 1 {
				t.Errorf("the account was written %d times, want once", got)
			}
			if now := c.account(t, id); now["telephone1"] != "+41 44 000 11 22" {
				t.Errorf("telephone1 = %v, want the app's", now["telephone1"])
			}
		})
	}
}

package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// The data lifecycle through the whole connector: a user's disconnect
// (DELETE /api/connection) and an operator's offboarding of a tenant
// leave nothing of them in any table or blob, whatever was going on, and
// touch nobody else.

var syncedSets = []string{"accounts", "contacts", "appointments"}

// lifecycleReport is a meeting report as the app sends it: a meeting
// regarding a new account, a note and a small document.
func lifecycleReport(id string) map[string]any {
	return map[string]any{
		"uploadId": id,
		"meeting": map[string]any{"subject": "Review " + id, "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z",
			"location": "HQ", "regarding": map[string]any{"customer": 0}},
		"customers": []any{map[string]any{"entitySet": "accounts", "key": map[string]any{"accountnumber": "AN-" + id},
			"fields": map[string]any{"name": "Customer " + id}}},
		"notes":     []any{map[string]any{"subject": "Next steps", "text": "Private note of " + id}},
		"documents": []any{map[string]any{"name": "offer.txt", "mimeType": "text/plain", "content": base64.StdEncoding.EncodeToString([]byte("Offer for " + id))}},
	}
}

// postReport sends r for token and fails the test unless it is accepted.
func postReport(t *testing.T, w *testworld.World, token string, r map[string]any) {
	t.Helper()
	if status, _, b := w.API(t, http.MethodPost, "/api/uploads", token, r); status != http.StatusAccepted {
		t.Fatalf("POST /api/uploads %s = %d %s, want 202", r["uploadId"], status, b)
	}
}

// waitUpload waits until upload id of u has status.
func waitUpload(t *testing.T, w *testworld.World, u testworld.User, id, status string) store.Upload {
	t.Helper()
	var up store.Upload
	w.WaitFor(t, "upload "+id+" to be "+status, 45*time.Second, func() bool {
		got, err := store.NewUploads(w.DB).Get(context.Background(), u.TenantID, u.OID, id)
		up = got
		return err == nil && got.Status == status
	})
	return up
}

// personal is what identifies u anywhere: ids, names and the Dataverse
// user the simulator made of them.
func personal(u testworld.User) []string {
	return []string{u.OID, u.UPN, u.Name, dataversesim.UserID(u.TenantID, u.OID)}
}

// mirrored returns the RowKeys (entity set "_" id) of u's mirror.
func mirrored(s testworld.StorageScan, u testworld.User) map[string]string {
	out := map[string]string{}
	for _, e := range s.Partition("records", store.UserPartition(u.TenantID, u.OID)) {
		out[e.RowKey] = e.JSON
	}
	return out
}

// where lists the tables and containers of findings ("table records", "blob sync-overflow").
func where(findings []string) map[string]bool {
	out := map[string]bool{}
	for _, f := range findings {
		kind, rest, _ := strings.Cut(f, " ")
		name, _, _ := strings.Cut(rest, " ")
		if kind == "blob" {
			name, _, _ = strings.Cut(rest, "/")
		}
		out[kind+" "+name] = true
	}
	return out
}

// waitQuiet waits until no message of the World's queues is being handled
// or waiting to be (scheduled ones may stay) and every function invocation
// the host started has ended, so that a scan sees whatever late writes
// they made.
func waitQuiet(t *testing.T, w *testworld.World, timeout time.Duration) {
	t.Helper()
	w.WaitFor(t, "the queues to be idle and every invocation to end", timeout, func() bool {
		for _, q := range []string{w.SyncQueue, w.UploadQueue, w.LifecycleQueue} {
			if c := w.ServiceBus.Counts(t, q); c.Active+c.Locked > 0 {
				return false
			}
		}
		logs := w.Logs()
		return strings.Count(logs, "Executing 'Functions.") == strings.Count(logs, "Executed 'Functions.")
	})
}

// auditRows returns the erasures table's audit rows.
func auditRows(s testworld.StorageScan) []map[string]any {
	var out []map[string]any
	for _, e := range s.In(store.ErasuresTable) {
		out = append(out, e.Props())
	}
	return out
}

// counts decodes an audit row's Counts.
func counts(t *testing.T, row map[string]any) map[string]int64 {
	t.Helper()
	var c map[string]int64
	if s, _ := row["Counts"].(string); json.Unmarshal([]byte(s), &c) != nil {
		t.Fatalf("audit row %v: Counts is not a JSON object of numbers", row)
	}
	return c
}

// converged checks that changes replayed hold exactly the simulator's rows
// of every synced set.
func converged(t *testing.T, w *testworld.World, changes []testworld.Change) {
	t.Helper()
	got := testworld.Replay(changes)
	for _, set := range syncedSets {
		want := w.Dataverse.IDs(set)
		if len(got[set]) != len(want) {
			t.Errorf("%s: the app holds %d rows after replaying the changes, Dynamics %d", set, len(got[set]), len(want))
		}
		for _, id := range want {
			if _, ok := got[set][strings.ToLower(id)]; !ok {
				t.Errorf("%s: the app lacks row %s", set, id)
				break
			}
		}
	}
}

// TestDisconnectErasesEverything: Alice has a mirror (with a row only she
// synced, one too large for a table entity) and uploads done, failed,
// dead-lettered and parked; Bob of the same organisation is synced too.
// Alice disconnects: every table entity and every blob of the account is
// free of her ids, names and of the rows only she had, save one audit row
// with pseudonyms; Bob's data is untouched and his app still reads its
// changes. Alice's app is told she is no longer connected, a repeated
// disconnect is harmless and an upload is refused. When she signs in again
// she gets a complete, correct mirror from a new first sync.
func TestDisconnectErasesEverything(t *testing.T) {
	began := time.Now()
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 20},
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true"}})
	pseudo := obs.NewPseudonyms(mustKey(t, testworld.PseudonymKey))

	// Bob first: what is created in Dynamics later is in Alice's mirror only.
	start := time.Now()
	bob := w.Connect(t, "bob@contoso.example")
	w.WaitSynced(t, bob, start, time.Minute, syncedSets...)
	bobToken := w.DeviceToken(t, bob.UPN)
	bobChanges, _ := w.Changes(t, bobToken, "", 1000)

	big, err := w.Dataverse.CreateRow("appointments", map[string]any{"subject": "Alice's long meeting",
		"description": strings.Repeat("A long agenda line. ", 2000)}) // 40,000 characters: a blob in sync-overflow
	if err != nil {
		t.Fatal(err)
	}
	contact, err := w.Dataverse.CreateRow("contacts", map[string]any{"firstname": "Olivia", "lastname": "Onlyalice"})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	aliceSignedIn := start
	alice := w.Connect(t, "alice@contoso.example")
	w.WaitSynced(t, alice, start, time.Minute, syncedSets...)
	aliceToken := w.DeviceToken(t, alice.UPN)

	// Alice's uploads: one written, then mirrored by her next sync; one
	// Dynamics refuses; one dead-lettered; one parked behind a sign-in.
	postReport(t, w, aliceToken, lifecycleReport("erase-done"))
	waitUpload(t, w, alice, "erase-done", store.UploadDone)
	start = time.Now()
	w.SendSyncJob(t, alice, time.Now())
	w.WaitSynced(t, alice, start, time.Minute, syncedSets...)

	refused := lifecycleReport("erase-failed")
	refused["customers"].([]any)[0].(map[string]any)["fields"].(map[string]any)["name"] = strings.Repeat("n", 161)
	postReport(t, w, aliceToken, refused)
	waitUpload(t, w, alice, "erase-failed", store.UploadFailed)

	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusInternalServerError, Path: "$batch", Count: 10})
	postReport(t, w, aliceToken, lifecycleReport("erase-dlq"))
	waitUpload(t, w, alice, "erase-dlq", store.UploadDeadLettered)
	w.ServiceBus.WaitCounts(t, w.UploadQueue, 30*time.Second, func(q testenv.QueueCounts) bool { return q.DeadLetter == 1 })

	resp, err := http.Post(w.EntraURL+"/_sim/users/alice@contoso.example/expire-refresh-tokens", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusUnauthorized, Path: "$batch"})
	postReport(t, w, aliceToken, lifecycleReport("erase-parked"))
	waitUpload(t, w, alice, "erase-parked", store.UploadParked)
	waitQuiet(t, w, 30*time.Second)
	aliceChanges, aliceCursor := w.Changes(t, aliceToken, "", 1000)

	before := w.ScanStorage(t)
	bobRows, aliceRows := mirrored(before, bob), mirrored(before, alice)
	var only []string // ids of the rows only Alice synced
	for key := range aliceRows {
		if _, ok := bobRows[key]; !ok {
			only = append(only, key[strings.LastIndexByte(key, '_')+1:])
		}
	}
	done := waitUpload(t, w, alice, "erase-done", store.UploadDone)
	for _, id := range []string{strings.ToLower(big), strings.ToLower(contact)} {
		if !slices.Contains(only, id) {
			t.Fatalf("Alice's mirror lacks row %s created for her alone (only she has %v)", id, only)
		}
	}
	var written []struct{ EntitySet, ID string }
	if err := json.Unmarshal([]byte(done.Records), &written); err != nil || len(written) == 0 {
		t.Fatalf("records of erase-done = %s (%v)", done.Records, err)
	}
	for _, r := range written {
		if r.EntitySet != "annotations" && !slices.Contains(only, strings.ToLower(r.ID)) {
			t.Errorf("Alice's mirror lacks the %s %s her upload wrote", r.EntitySet, r.ID)
		}
	}
	terms := append(append(personal(alice), only...), "erase-done", "erase-failed", "erase-dlq", "erase-parked")
	// The scan sees Alice everywhere before she disconnects.
	seen := where(before.Find(terms...))
	for _, place := range []string{"table connections", "table records", "table changes", "table syncstate", "table uploads", "blob sync-overflow", "blob documents"} {
		if !seen[place] {
			t.Errorf("before the disconnect the scan finds nothing of Alice in %s (found in %v): the scan is blind", place, seen)
		}
	}
	if !slices.ContainsFunc(w.PeekQueues(t), func(m testworld.QueuedMessage) bool { return m.DeadLetter && strings.Contains(m.Body, alice.OID) }) {
		t.Errorf("no dead-lettered message names Alice before she disconnects")
	}

	// Alice disconnects.
	requested := time.Now()
	status, h, body := w.Disconnect(t, alice.UPN)
	switch status {
	case http.StatusNoContent:
	case http.StatusAccepted:
		if h.Get("Location") != w.URL+"/api/connection" || h.Get("Retry-After") == "" || body.Status != "disconnecting" {
			t.Errorf("DELETE /api/connection = 202 %+v, Location %q, Retry-After %q; want the connection URL, a Retry-After and status disconnecting",
				body, h.Get("Location"), h.Get("Retry-After"))
		}
		w.WaitDisconnected(t, alice.UPN, 45*time.Second)
	default:
		t.Fatalf("DELETE /api/connection = %d, want 204 or 202", status)
	}
	t.Logf("DELETE /api/connection = %d after %s", status, time.Since(requested).Round(time.Millisecond))
	waitQuiet(t, w, 30*time.Second)

	after := w.ScanStorage(t)
	if found := after.Find(terms...); len(found) > 0 {
		t.Errorf("after Alice disconnected, Storage still holds her data:\n%s", strings.Join(found, "\n"))
	}
	beforeKeys, afterKeys := before.Keys(), after.Keys()
	var added []string
	for k := range afterKeys {
		if !beforeKeys[k] {
			added = append(added, k)
		}
	}
	if len(added) != 1 || !strings.HasPrefix(added[0], "table "+store.ErasuresTable+" ") {
		t.Errorf("the disconnect added %v; want exactly one audit row in %s", added, store.ErasuresTable)
	}
	for k := range beforeKeys {
		if !afterKeys[k] && !strings.Contains(k, alice.OID) {
			t.Errorf("the disconnect of Alice deleted %s, which is not hers", k)
		}
	}
	unchanged := map[string]string{}
	for _, e := range before.Entities {
		unchanged[e.Table+" "+e.PartitionKey+"/"+e.RowKey] = e.JSON
	}
	for _, e := range after.Entities {
		if j, ok := unchanged[e.Table+" "+e.PartitionKey+"/"+e.RowKey]; ok && j != e.JSON {
			t.Errorf("the disconnect of Alice changed %s %s/%s", e.Table, e.PartitionKey, e.RowKey)
		}
	}
	audit := auditRows(after)
	if len(audit) != 1 {
		t.Fatalf("audit rows = %v, want one", audit)
	}
	sub := pseudo.User(alice.TenantID, alice.OID)
	a := audit[0]
	if a["Kind"] != store.ErasureDisconnect || a["Subject"] != sub || a["Tenant"] != pseudo.Tenant(alice.TenantID) || a["By"] != "user:"+sub {
		t.Errorf("audit row = %v; want kind disconnect by and of %s in tenant %s", a, sub, pseudo.Tenant(alice.TenantID))
	}
	c := counts(t, a)
	if c["uploads"] != 4 || c["records"] != int64(len(aliceRows)) || c["changes"] < int64(len(aliceChanges)) ||
		c["blob:sync-overflow"] < 1 || c["blob:documents"] < 1 || c["deadletter:"+w.UploadQueue] != 1 {
		t.Errorf("audit counts = %v; want 4 uploads, %d records, ≥%d changes, the overflow blob, the uploads' blobs and the dead letter", c, len(aliceRows), len(aliceChanges))
	}
	if c["connections"] != 1 {
		t.Errorf("audit counts = %v; want connections: 1 (the connection row the disconnect deleted)", c)
	}
	for _, m := range w.PeekQueues(t) {
		if strings.Contains(strings.ToLower(m.Body), strings.ToLower(alice.OID)) {
			if m.DeadLetter {
				t.Errorf("the dead-letter queue of %s still holds %s naming Alice", m.Queue, m.MessageID)
			} else {
				t.Logf("queue %s still holds %s naming Alice (it finds nothing when delivered)", m.Queue, m.MessageID)
			}
		}
	}

	// Bob is untouched.
	if n := len(mirrored(after, bob)); n != len(bobRows) {
		t.Errorf("Bob's mirror holds %d rows after Alice disconnected, %d before", n, len(bobRows))
	}
	if again, _ := w.Changes(t, bobToken, "", 1000); len(again) != len(bobChanges) {
		t.Errorf("Bob's app reads %d changes after Alice disconnected, %d before", len(again), len(bobChanges))
	}
	if st, conn := w.ConnectionStatus(t, bob.UPN); st != http.StatusOK || conn.Status != store.StatusActive {
		t.Errorf("GET /api/connection for Bob = %d %+v, want 200 active", st, conn)
	}

	// Alice's app sees she is disconnected; repeating is harmless; she can
	// neither read nor upload.
	if st, _ := w.ConnectionStatus(t, alice.UPN); st != http.StatusNotFound {
		t.Errorf("GET /api/connection after the disconnect = %d, want 404", st)
	}
	if st, _, _ := w.Disconnect(t, alice.UPN); st != http.StatusNoContent {
		t.Errorf("a second DELETE /api/connection = %d, want 204", st)
	}
	if st, _, b := w.API(t, http.MethodGet, "/api/changes", aliceToken, nil); st != http.StatusForbidden {
		t.Errorf("GET /api/changes after the disconnect = %d %s, want 403", st, b)
	}
	if st, _, b := w.API(t, http.MethodPost, "/api/uploads", aliceToken, lifecycleReport("erase-late")); st != http.StatusForbidden {
		t.Errorf("POST /api/uploads after the disconnect = %d %s, want 403", st, b)
	}
	if found := w.ScanStorage(t).Find(append(terms, "erase-late")...); len(found) > 0 {
		t.Errorf("the refused calls left Alice's data behind:\n%s", strings.Join(found, "\n"))
	}
	if st, _, _ := w.API(t, http.MethodDelete, "/api/connection", "", nil); st != http.StatusUnauthorized {
		t.Errorf("DELETE /api/connection without a token = %d, want 401", st)
	}

	// Alice signs in again: a new first sync, a complete mirror.
	start = time.Now()
	w.Connect(t, alice.UPN)
	if !syncedWithin(t, w, alice, start, 20*time.Second) {
		why := ""
		if id := queue.InitialSync(alice.TenantID, alice.OID, start).MessageID(); id == queue.InitialSync(alice.TenantID, alice.OID, aliceSignedIn).MessageID() {
			why = "; the new sign-in's first sync has the MessageId of the first sign-in's (" + id + "), which Service Bus drops as a duplicate"
		}
		t.Errorf("no sync followed Alice's new sign-in within 20 s (first sign-in at %s, the new one at %s): her app stays empty until the scheduler's next run%s",
			aliceSignedIn.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339), why)
		start = time.Now()
		w.SendSyncJob(t, alice, time.Now()) // what the scheduler would send later
		w.WaitSynced(t, alice, start, time.Minute, syncedSets...)
	}
	fresh, _ := w.Changes(t, aliceToken, "", 1000)
	converged(t, w, fresh)
	for _, ch := range fresh {
		if ch.ID == strings.ToLower(big) && !strings.Contains(string(ch.Data), strings.Repeat("A long agenda line. ", 2000)) {
			t.Errorf("the long appointment arrives without its description after the new sync")
		}
	}
	if st, conn := w.ConnectionStatus(t, alice.UPN); st != http.StatusOK || conn.Status != store.StatusActive || conn.OrgURL != w.DataverseURL {
		t.Errorf("GET /api/connection after signing in again = %d %+v, want 200 active at %s", st, conn, w.DataverseURL)
	}
	// An app that kept its cursor from before the disconnect must not
	// take the new log for a continuation of the old one.
	status, _, b := w.API(t, http.MethodGet, "/api/changes?cursor="+aliceCursor+"&limit=1000", aliceToken, nil)
	var page struct{ Changes []testworld.Change }
	_ = json.Unmarshal(b, &page)
	if status == http.StatusOK && len(page.Changes) < len(fresh) {
		t.Errorf("GET /api/changes with the cursor %s from before the disconnect = 200 with %d of the new log's %d changes: the app silently misses rows; want 410 (start again) or every change",
			aliceCursor, len(page.Changes), len(fresh))
	}
	w.AssertNoSecrets(t)
	t.Logf("took %s", time.Since(began).Round(time.Second))
}

// TestDisconnectDuringSync: Alice disconnects while her first sync is
// reading Dynamics, just after the sync renewed its lease, so that the
// sync, given its page only once the disconnect has answered, still
// writes that page after the disconnect's first sweep. The answer is 202
// with the connection's URL; the app polls GET /api/connection until 404,
// which comes only after the erasure looked again once the sync's lease
// could no longer be renewed. Then nothing of Alice is left: the running
// sync did not bring any of her data back, and it stopped reading.
func TestDisconnectDuringSync(t *testing.T) {
	began := time.Now()
	var pages atomic.Int32
	held := make(chan struct{})
	release := make(chan struct{})
	hook := func(r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/accounts") {
			return
		}
		if pages.Add(1) == 3 { // pages 1 and 2 are in the mirror
			close(held)
			select {
			case <-release:
			case <-time.After(45 * time.Second):
			}
		}
	}
	// A lease of 15 s is renewed every 5 s: the disconnect's first pass
	// (1 to 3 s for 1,000 rows and their changes under -race) ends well
	// before the sync's next renewal finds the lease taken, and the erasure
	// completes one lease duration after the lease's end (about 30 s).
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 3000}, DataverseHook: hook,
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", "SYNC_LEASE_DURATION=15s",
			`SYNC_CONFIG={"entitySets":[{"name":"accounts","select":["name","accountnumber","modifiedon"],"pageSize":500}]}`}})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	defer letGo()
	ctx := context.Background()
	alice := w.Connect(t, "alice@contoso.example")
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatalf("the first sync never asked for its third page:\n%s", w.Logs())
	}
	pk := store.UserPartition(alice.TenantID, alice.OID)
	mirror := func() int { return partitionSize(t, w, "records", pk) }
	w.WaitFor(t, "the first two pages in the mirror", 10*time.Second, func() bool { return mirror() >= 1000 })
	states := store.NewSyncStates(w.DB)
	first, err := states.Lease(ctx, alice.TenantID, alice.OID)
	if err != nil || first.Owner == "" {
		t.Fatalf("the sync's lease = %+v, %v; want it held", first, err)
	}
	w.WaitFor(t, "the sync to renew its lease", 10*time.Second, func() bool {
		l, err := states.Lease(ctx, alice.TenantID, alice.OID)
		return err == nil && l.Until.After(first.Until)
	})

	requested := time.Now()
	status, h, body := w.Disconnect(t, alice.UPN)
	if status != http.StatusAccepted || h.Get("Location") != w.URL+"/api/connection" || h.Get("Retry-After") == "" ||
		body.Status != "disconnecting" || body.DisconnectRequestedAt == nil {
		t.Fatalf("DELETE /api/connection during a sync = %d %+v (Location %q, Retry-After %q); want 202 disconnecting with the connection's URL",
			status, body, h.Get("Location"), h.Get("Retry-After"))
	}
	letGo() // the sync gets its page
	answered := time.Since(requested)
	if st, conn := w.ConnectionStatus(t, alice.UPN); st != http.StatusOK || conn.Status != "disconnecting" {
		t.Errorf("GET /api/connection while disconnecting = %d %+v, want 200 disconnecting", st, conn)
	}
	if st, _, _ := w.API(t, http.MethodGet, "/api/changes", w.DeviceToken(t, alice.UPN), nil); st != http.StatusForbidden {
		t.Errorf("GET /api/changes while disconnecting = %d, want 403", st)
	}
	// Did the sync write its page after the first sweep? (It does when it
	// gets the page before its next renewal; the erasure must catch it.)
	late := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && late == 0; time.Sleep(50 * time.Millisecond) {
		late = mirror()
		if logs := w.Logs(); strings.Count(logs, "Executing 'Functions.SyncWorker'") == strings.Count(logs, "Executed 'Functions.SyncWorker'") {
			late = max(late, mirror())
			break
		}
	}
	w.WaitDisconnected(t, alice.UPN, 50*time.Second)
	erased := time.Since(requested)
	waitQuiet(t, w, 30*time.Second)

	s := w.ScanStorage(t)
	if found := s.Find(personal(alice)...); len(found) > 0 {
		t.Errorf("after the disconnect completed, Storage holds Alice's data:\n%s", strings.Join(found, "\n"))
	}
	if n := pages.Load(); n >= 6 {
		t.Errorf("Dynamics served %d pages of accounts: the sync read all 3,000 rows although Alice disconnected", n)
	}
	if failed := logLines(w, "Executed 'Functions.SyncWorker' (Failed", `"level":"ERROR","msg":"invocation","function":"SyncWorker"`); len(failed) > 0 {
		t.Errorf("the sync the disconnect stopped failed its invocation (an ERROR for operators, and a redelivery) instead of ending as lease_lost:\n%s", strings.Join(failed, "\n"))
	}
	audit := auditRows(s)
	if len(audit) != 1 || audit[0]["Kind"] != store.ErasureDisconnect || counts(t, audit[0])["records"] < int64(1000+late) {
		t.Errorf("audit rows = %v; want one disconnect that deleted the mirror's %d rows (and the %d written late)", audit, 1000, late)
	}
	if st, _ := w.ConnectionStatus(t, alice.UPN); st != http.StatusNotFound {
		t.Errorf("GET /api/connection after the erasure = %d, want 404", st)
	}
	w.AssertNoSecrets(t)
	if late > 0 {
		t.Logf("the sync wrote %d rows after the disconnect's first sweep; the second sweep removed them", late)
	} else {
		t.Logf("the sync stopped without writing after the disconnect's first sweep")
	}
	t.Logf("DELETE answered 202 after %s, GET said 404 after %s; Dynamics served %d pages; took %s",
		answered.Round(time.Millisecond), erased.Round(time.Millisecond), pages.Load(), time.Since(began).Round(time.Second))
}

// partitionSize counts the entities of partition pk of table.
func partitionSize(t *testing.T, w *testworld.World, table, pk string) int {
	t.Helper()
	filter := "PartitionKey eq '" + pk + "'"
	sel := "RowKey"
	pager := w.DB.Table(table).NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s/%s: %v", table, pk, err)
		}
		n += len(page.Entities)
	}
	return n
}

// logLines returns the lines of the World's logs that contain any of subs
// (each cut to 600 characters).
func logLines(w *testworld.World, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(w.Logs(), "\n") {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l[:min(len(l), 600)])
				break
			}
		}
	}
	return out
}

// syncedWithin reports whether every synced set of u succeeded after since
// within timeout.
func syncedWithin(t *testing.T, w *testworld.World, u testworld.User, since time.Time, timeout time.Duration) bool {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		st := w.SyncStates(t, u)
		ok := true
		for _, s := range syncedSets {
			ok = ok && st[s].LastSuccess.After(since)
		}
		if ok {
			return true
		}
	}
	return false
}

// tenantOf reads the tid claim of a bearer token (unverified: the
// simulator has checked it).
func tenantOf(r *http.Request) string {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		TID string `json:"tid"`
	}
	_ = json.Unmarshal(b, &c)
	return c.TID
}

// TestOffboardTenantWhileWorkInFlight: an operator offboards Contoso while
// Alice's first sync reads Dynamics and her upload's $batch is running.
// The offboarding waits for the upload (written whole or not at all) and
// for the sync's lease, then leaves nothing that carries Contoso's id or
// any of its users' in any table or blob, only one audit row with
// pseudonyms. Fabrikam's user is untouched and still syncs.
func TestOffboardTenantWhileWorkInFlight(t *testing.T) {
	began := time.Now()
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 1000},
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", "SYNC_LEASE_DURATION=3s",
			`SYNC_CONFIG={"entitySets":[{"name":"accounts","select":["name","accountnumber","modifiedon"],"pageSize":500}]}`}})
	ctx := context.Background()
	pseudo := obs.NewPseudonyms(mustKey(t, testworld.PseudonymKey))
	contoso := w.User(t, "alice@contoso.example").TenantID

	start := time.Now()
	dave := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, dave, start, time.Minute, "accounts")
	daveToken := w.DeviceToken(t, dave.UPN)
	daveChanges, daveCursor := w.Changes(t, daveToken, "", 1000)
	start = time.Now()
	bob := w.Connect(t, "bob@contoso.example")
	w.WaitSynced(t, bob, start, time.Minute, "accounts")
	t.Logf("%s: Dave and Bob synced", time.Since(began).Round(time.Millisecond))
	bobToken := w.DeviceToken(t, bob.UPN)
	postReport(t, w, bobToken, lifecycleReport("bob-done"))
	waitUpload(t, w, bob, "bob-done", store.UploadDone)

	// Hold Contoso's second page of accounts and its next $batch.
	syncHeld, batchHeld, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var syncOnce, batchOnce sync.Once
	hold := func(once *sync.Once, held chan struct{}) {
		first := false
		once.Do(func() { first = true; close(held) })
		if first {
			select {
			case <-release:
			case <-time.After(50 * time.Second):
			}
		}
	}
	w.SetDataverseHook(func(rw http.ResponseWriter, r *http.Request, sim http.Handler) {
		if tenantOf(r) == contoso {
			switch {
			case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/accounts") && strings.Contains(r.URL.RawQuery, "skiptoken"):
				hold(&syncOnce, syncHeld)
			case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/$batch"):
				hold(&batchOnce, batchHeld)
			}
		}
		sim.ServeHTTP(rw, r)
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	alice := w.Connect(t, "alice@contoso.example") // the first sync starts
	aliceToken := w.DeviceToken(t, alice.UPN)
	countsBefore := w.Dataverse.Counts()
	postReport(t, w, aliceToken, lifecycleReport("alice-inflight"))
	for what, ch := range map[string]chan struct{}{"Alice's first sync to read its second page": syncHeld, "Alice's upload to send its $batch": batchHeld} {
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("waited 30s for %s:\n%s", what, w.Logs())
		}
	}
	waitUpload(t, w, alice, "alice-inflight", store.UploadProcessing)

	t.Logf("%s: Alice's sync and upload in flight; Contoso is offboarded", time.Since(began).Round(time.Millisecond))
	w.SendLifecycle(t, queue.OffboardTenant(contoso))
	tenants, conns := store.NewTenants(w.DB), store.NewConnections(w.DB)
	w.WaitFor(t, "the offboarding's first pass", 30*time.Second, func() bool {
		tn, err := tenants.Get(ctx, contoso)
		if err != nil || tn.OffboardingAt.IsZero() || tn.Consented() {
			return false
		}
		c, err := conns.Get(ctx, alice.TenantID, alice.OID)
		if err != nil || c.Status != store.StatusErasing {
			return false
		}
		l, err := store.NewSyncStates(w.DB).Lease(ctx, alice.TenantID, alice.OID)
		return err == nil && l.Owner == "erasure"
	})
	if st, _, _ := w.API(t, http.MethodGet, "/api/changes", bobToken, nil); st != http.StatusForbidden {
		t.Errorf("GET /api/changes of a Contoso user while Contoso is offboarded = %d, want 403", st)
	}
	t.Logf("%s: the offboarding's first pass is done", time.Since(began).Round(time.Millisecond))
	close(release) // the sync and the $batch go on
	w.WaitFor(t, "Contoso's tenants row to be deleted", 55*time.Second, func() bool {
		_, err := tenants.Get(ctx, contoso)
		return errors.Is(err, store.ErrNotFound)
	})
	t.Logf("%s: Contoso's approval is deleted", time.Since(began).Round(time.Millisecond))
	waitQuiet(t, w, 30*time.Second)

	s := w.ScanStorage(t)
	terms := []string{contoso, "alice-inflight", "bob-done"}
	for _, upn := range []string{"alice@contoso.example", "bob@contoso.example", "admin@contoso.example"} {
		terms = append(terms, personal(w.User(t, upn))...)
	}
	if found := s.Find(terms...); len(found) > 0 {
		t.Errorf("after Contoso was offboarded, Storage still holds its data:\n%s", strings.Join(found, "\n"))
	}
	audit := auditRows(s)
	if len(audit) != 1 {
		t.Fatalf("audit rows = %v, want one for the offboarding", audit)
	}
	a := audit[0]
	if a["Kind"] != store.ErasureOffboard || a["Tenant"] != pseudo.Tenant(contoso) || a["Subject"] != "" || a["By"] != "operator" {
		t.Errorf("audit row = %v; want an offboarding of %s by the operator", a, pseudo.Tenant(contoso))
	}
	if c := counts(t, a); c["tenants"] != 1 || c["connections"] != 2 || c["uploads"] != 2 || c["records"] < 1500 {
		t.Errorf("audit counts = %v; want the tenant, 2 connections, 2 uploads and both mirrors", c)
	}
	for _, m := range w.PeekQueues(t) {
		if strings.Contains(strings.ToLower(m.Body), contoso) {
			if m.DeadLetter {
				t.Errorf("the dead-letter queue of %s still holds %s of Contoso", m.Queue, m.MessageID)
			} else {
				t.Logf("queue %s still holds %s of Contoso", m.Queue, m.MessageID)
			}
		}
	}
	// The upload was written whole or not at all.
	after := w.Dataverse.Counts()
	grew := func(set string) int { return after[set] - countsBefore[set] }
	if !(grew("appointments") == 0 && grew("annotations") == 0) && !(grew("appointments") == 1 && grew("annotations") == 2) {
		t.Errorf("the upload in flight left %d appointments and %d annotations in Dynamics; want its whole report or nothing", grew("appointments"), grew("annotations"))
	}
	t.Logf("the upload in flight wrote %d appointment(s)", grew("appointments"))
	if st, _ := w.ConnectionStatus(t, alice.UPN); st != http.StatusNotFound {
		t.Errorf("GET /api/connection of Alice after the offboarding = %d, want 404", st)
	}
	b := testworld.NewBrowser()
	if st, page := b.Get(t, w.URL+"/api/login?login_hint=alice@contoso.example"); st != http.StatusForbidden || !strings.Contains(page, "has not approved Pitcher yet") {
		t.Errorf("sign-in of a Contoso user after the offboarding = %d, want 403 asking for approval again\n%.500s", st, page)
	}
	w.AssertNoSecrets(t, b.Secrets()...)

	// Fabrikam is untouched and still syncs.
	if tn, err := tenants.Get(ctx, dave.TenantID); err != nil || !tn.Consented() || !tn.OffboardingAt.IsZero() {
		t.Errorf("Fabrikam's approval = %+v, %v; want it as it was", tn, err)
	}
	if c, err := conns.Get(ctx, dave.TenantID, dave.OID); err != nil || c.Status != store.StatusActive {
		t.Errorf("Dave's connection = %+v, %v; want active", c, err)
	}
	if n := len(s.Partition("records", store.UserPartition(dave.TenantID, dave.OID))); n != 1000 {
		t.Errorf("Dave's mirror holds %d rows, want 1,000", n)
	}
	if again, _ := w.Changes(t, daveToken, "", 1000); len(again) != len(daveChanges) {
		t.Errorf("Dave's app reads %d changes after Contoso's offboarding, %d before", len(again), len(daveChanges))
	}
	renamed := dataversesim.SeedID("accounts", 7)
	if err := w.Dataverse.UpdateRow("accounts", renamed, map[string]any{"name": "Fabrikam after offboarding"}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	w.SendSyncJob(t, dave, time.Now())
	w.WaitSynced(t, dave, start, 30*time.Second, "accounts")
	delta, _ := w.Changes(t, daveToken, daveCursor, 1000)
	if !slices.ContainsFunc(delta, func(c testworld.Change) bool {
		return c.ID == renamed && strings.Contains(string(c.Data), "Fabrikam after offboarding")
	}) {
		t.Errorf("Dave's sync after Contoso's offboarding brought %d changes without the renamed account", len(delta))
	}
	t.Logf("took %s", time.Since(began).Round(time.Second))
}

func mustKey(t *testing.T, b64 string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRetentionThroughTheHost: the Retention function, run by the host,
// erases a connection that has waited for a sign-in longer than
// RETENTION_INACTIVE (the clock moved by writing the connection's
// StatusChangedAt 31 days back) and a finished upload older than
// RETENTION_UPLOADS, and nothing else. Before, GET /api/connection told the
// user when that would happen.
func TestRetentionThroughTheHost(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 31},
		Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true"}})
	ctx := context.Background()
	start := time.Now()
	alice, bob := w.Connect(t, "alice@contoso.example"), w.Connect(t, "bob@contoso.example")
	w.WaitSynced(t, alice, start, time.Minute, syncedSets...)
	w.WaitSynced(t, bob, start, time.Minute, syncedSets...)
	bobToken := w.DeviceToken(t, bob.UPN)
	postReport(t, w, bobToken, lifecycleReport("old-report"))
	postReport(t, w, bobToken, lifecycleReport("new-report"))
	old := waitUpload(t, w, bob, "old-report", store.UploadDone)
	waitUpload(t, w, bob, "new-report", store.UploadDone)
	waitQuiet(t, w, time.Minute)

	// 31 days ago, Entra refused Alice's grant; Bob's first report was
	// written 31 days ago.
	monthAgo := time.Now().Add(-31 * 24 * time.Hour)
	conns, uploads := store.NewConnections(w.DB), store.NewUploads(w.DB)
	c, err := conns.Get(ctx, alice.TenantID, alice.OID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conns.MarkReauthRequired(ctx, alice.TenantID, alice.OID, "invalid_grant AADSTS50173", monthAgo, c.ETag); err != nil {
		t.Fatal(err)
	}
	old.UpdatedAt, old.CompletedAt = monthAgo, monthAgo
	if _, err := uploads.Update(ctx, old); err != nil {
		t.Fatal(err)
	}
	status, _, body := w.API(t, http.MethodGet, "/api/connection", w.DeviceToken(t, alice.UPN), nil)
	var view struct {
		Status     string    `json:"status"`
		EraseAfter time.Time `json:"eraseAfter"`
	}
	if err := json.Unmarshal(body, &view); status != http.StatusOK || err != nil || view.Status != "reauth_required" ||
		view.EraseAfter.Sub(monthAgo.Add(30*24*time.Hour)).Abs() > time.Second {
		t.Errorf("GET /api/connection for alice = %d %s, want reauth_required with eraseAfter 30 days after the refusal", status, body)
	}
	bobBefore := mirrored(w.ScanStorage(t), bob)

	w.Invoke(t, "Retention", "")
	w.WaitFor(t, "the retention run to erase alice", time.Minute, func() bool {
		_, err := conns.Get(ctx, alice.TenantID, alice.OID)
		return errors.Is(err, store.ErrNotFound)
	})
	w.WaitFor(t, "the retention run to end", time.Minute, func() bool { return strings.Contains(w.Logs(), "Executed 'Functions.Retention'") })

	scan := w.ScanStorage(t)
	if found := scan.Find(personal(alice)...); len(found) > 0 {
		t.Errorf("alice is left after the retention run:\n  %s", strings.Join(found, "\n  "))
	}
	if got := mirrored(scan, bob); len(got) != len(bobBefore) {
		t.Errorf("bob's mirror has %d rows after the retention run, want %d", len(got), len(bobBefore))
	}
	if _, err := uploads.Get(ctx, bob.TenantID, bob.OID, "old-report"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob's 31-day-old report: %v, want it deleted", err)
	}
	if up, err := uploads.Get(ctx, bob.TenantID, bob.OID, "new-report"); err != nil || up.Status != store.UploadDone {
		t.Errorf("bob's new report: %+v, %v; want it kept", up, err)
	}
	kinds := map[string]int{}
	for _, row := range auditRows(scan) {
		kinds[row["Kind"].(string)]++
	}
	if kinds[store.ErasureRetention] != 1 || kinds[store.ErasureUploads] != 1 {
		t.Errorf("audit rows by kind = %v, want one retention (alice) and one retention-uploads", kinds)
	}
	w.AssertNoSecrets(t)
}

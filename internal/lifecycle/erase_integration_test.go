package lifecycle_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
)

// Every upload status a user's partition can hold once no worker is
// writing (processing has tests of its own).
var settledStatuses = []string{store.UploadQueued, store.UploadDone, store.UploadRetrying, store.UploadParked,
	store.UploadFailed, store.UploadDeadLettered, store.UploadCancelled}

// TestDisconnectErasesEverythingOfTheUser: after a disconnect erasure,
// no table entity (keys or properties) and no blob (name or bytes) in
// either container holds the user's object id, their dead letters are
// gone, their cached tokens are forgotten, the log names them only by
// pseudonym, and the audit row holds pseudonyms and counts. Nothing else
// changed: the other user of the tenant and the other tenant are intact
// byte for byte.
func TestDisconnectErasesEverythingOfTheUser(t *testing.T) {
	w := newWorld(t)
	tA, tB := uuid.NewString(), uuid.NewString()
	a1, a2, b1 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.seedTenant(tA)
	w.seedTenant(tB)
	for _, u := range []struct{ tenant, user string }{{tA, a1}, {tA, a2}, {tB, b1}} {
		w.seedUser(u.tenant, u.user, userSeed{Rows: 120, Overflow: true, Uploads: settledStatuses})
		w.deadLetters(u.tenant, u.user)
	}
	w.seedFlow(tA, base.Add(10*time.Minute))
	w.seedFlow(tB, base.Add(10*time.Minute))

	before := w.snapshot()
	mine := before.about(a1)
	// The seeding reached every place the connector keeps a user's data.
	for table, want := range map[string]int{store.ConnectionsTable: 1, store.SyncStateTable: 3, mirror.RecordsTable: 121,
		mirror.ChangesTable: 121, store.UploadsTable: len(settledStatuses)} {
		if got := len(mine.table(table)); got != want {
			t.Fatalf("seeded %d entities of the user in %s, want %d", got, table, want)
		}
	}
	if got := len(mine.inContainer(w.docsName)); got != 2*(len(settledStatuses)-1) {
		t.Fatalf("seeded %d upload blobs, want %d", got, 2*(len(settledStatuses)-1))
	}
	if got := len(mine.inContainer(w.overflowName)); got != 1 {
		t.Fatalf("seeded %d overflow blobs, want 1", got)
	}

	res := w.mustErase(tA, a1)
	if !res.Done {
		t.Fatalf("EraseUser = %+v, want Done (nothing holds it up)", res)
	}

	after := w.snapshot()
	if left := after.about(a1); !left.empty() {
		t.Errorf("after the erasure these still hold the user's object id:\n  %s", left.keys())
	}
	if d := after.about(a2).diff(before.about(a2)); d != "" {
		t.Errorf("the other user of the tenant changed:\n  %s", d)
	}
	if d := after.about(tB).diff(before.about(tB)); d != "" {
		t.Errorf("the other tenant changed:\n  %s", d)
	}
	// Nothing but the user's data went, and nothing but the audit came.
	rest := snapshot{entities: map[string]string{}, blobs: after.blobs}
	for k, v := range after.entities {
		if !strings.HasPrefix(k, store.ErasuresTable+"|") {
			rest.entities[k] = v
		}
	}
	if d := rest.diff(before.without(mine)); d != "" {
		t.Errorf("the erasure changed more than the user's data:\n  %s", d)
	}

	wantCounts := map[string]int64{mirror.RecordsTable: 121, mirror.ChangesTable: 121, store.UploadsTable: int64(len(settledStatuses)),
		"blob:" + w.docsName: int64(2 * (len(settledStatuses) - 1)), "blob:" + w.overflowName: 1,
		"deadletter:sync-jobs": 1, "deadletter:uploads": 1}
	for k, v := range wantCounts {
		if res.Counts[k] != v {
			t.Errorf("Result.Counts[%s] = %d, want %d (all: %s)", k, res.Counts[k], v, res.Counts)
		}
	}
	if res.Counts[store.ConnectionsTable] != 1 || res.Counts[store.SyncStateTable] != 3 {
		t.Errorf("Result.Counts = %s, want the connection and 3 syncstate rows (2 sets and the lease)", res.Counts)
	}

	recs := w.audits()
	if len(recs) != 1 {
		t.Fatalf("audit rows = %+v, want exactly one", recs)
	}
	r, ref := recs[0], w.pseudo.User(tA, a1)
	if r.Kind != store.ErasureDisconnect || r.Subject != ref || r.Tenant != w.pseudo.Tenant(tA) || r.By != "user:"+ref ||
		!r.RequestedAt.Equal(base) || !r.CompletedAt.Equal(base) {
		t.Errorf("audit row = %+v, want kind disconnect of %s in %s by user:%s, requested and completed at %s", r, ref, w.pseudo.Tenant(tA), ref, base)
	}
	got := counts(t, r.Counts)
	for k, v := range wantCounts {
		if got[k] != v {
			t.Errorf("audit counts[%s] = %d, want %d (all: %s)", k, got[k], v, r.Counts)
		}
	}
	if a := after.about(tA).table(store.ErasuresTable); len(a) != 0 {
		t.Errorf("the audit holds the tenant's id: %v", a)
	}

	for name, q := range w.dlq {
		for _, body := range q.bodies() {
			if strings.Contains(body, a1) {
				t.Errorf("dead letter of %s still names the user: %s", name, body)
			}
		}
		if n := len(q.bodies()); n != 2 {
			t.Errorf("dead letters of %s left = %d, want the other two users' 2", name, n)
		}
	}
	if f := w.forgotten(); len(f) != 1 || f[0] != tA+"/"+a1 {
		t.Errorf("cached tokens forgotten for %v, want [%s/%s]", f, tA, a1)
	}
	logs := w.logs.String()
	if strings.Contains(logs, a1) {
		t.Errorf("the log holds the user's object id:\n%s", logs)
	}
	if !strings.Contains(logs, "user erased") || !strings.Contains(logs, ref) {
		t.Errorf("the log does not say the user (%s) was erased:\n%s", ref, logs)
	}
}

// TestDisconnectAuditCountsEverythingDeleted: the audit row's counts are
// what the erasure deleted, the connection row and the sync lease
// included (docs/privacy.md 3.4: {"connections":1,…,"syncstate":4,…}),
// the same as the Result's.
func TestDisconnectAuditCountsEverythingDeleted(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 4, Uploads: []string{store.UploadQueued}})
	want := w.expectedCounts(w.snapshot().about(a1))
	res := w.mustErase(tA, a1)
	if !res.Done || !sameCounts(res.Counts, want) {
		t.Errorf("EraseUser = %+v, want Done with counts %v", res, want)
	}
	recs := w.audits()
	if len(recs) != 1 {
		t.Fatalf("audit rows = %+v, want one", recs)
	}
	if got := counts(t, recs[0].Counts); !sameCounts(got, want) {
		t.Errorf("audit counts = %v\nwant           %v", got, want)
	}
}

// TestEraseUserAgainChangesNothing: a repeated erasure (a redelivered
// message, a second DELETE) of an erased user is Done at once, deletes
// nothing, writes no second audit row; nor does erasing a user the
// connector never knew.
func TestEraseUserAgainChangesNothing(t *testing.T) {
	w := newWorld(t)
	tA, a1, a2 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.seedTenant(tA)
	w.seedUser(tA, a1, userSeed{Rows: 10, Overflow: true, Uploads: settledStatuses})
	w.seedUser(tA, a2, userSeed{Rows: 10, Uploads: []string{store.UploadQueued}})
	if res := w.mustErase(tA, a1); !res.Done {
		t.Fatalf("first EraseUser = %+v, want Done", res)
	}
	before := w.snapshot()
	w.clock.Advance(time.Hour)
	for i, user := range []string{a1, a1, uuid.NewString()} {
		res := w.mustErase(tA, user)
		var total int64
		for _, n := range res.Counts {
			total += n
		}
		if !res.Done || total != 0 {
			t.Errorf("erasure %d = %+v, want Done with nothing deleted", i+2, res)
		}
	}
	if d := w.snapshot().diff(before); d != "" {
		t.Errorf("repeated erasures changed Storage:\n  %s", d)
	}
	if recs := w.audits(); len(recs) != 1 {
		t.Errorf("audit rows = %d, want 1: %+v", len(recs), recs)
	}
}

// TestErasureWaitsForAnUploadBeingWritten: an upload a worker is writing
// into Dynamics (processing, updated just now) holds the erasure: the
// pass is not Done, asks to be run again in 30 s and says why; the
// upload's row and blobs are still there for the worker, the user's other
// uploads are gone (a worker can no longer start them) and the connection
// says erasing. Once the worker has finished, the next pass completes.
func TestErasureWaitsForAnUploadBeingWritten(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedTenant(tA)
	s := w.seedUser(tA, a1, userSeed{Rows: 50, Overflow: true, Uploads: settledStatuses})
	writing := w.seedUpload(tA, a1, store.UploadProcessing, base)
	// A worker read a queued upload before the erasure, to start it after.
	late, err := w.uploads.Get(w.ctx, tA, a1, s.uploadIDs[store.UploadQueued])
	if err != nil {
		t.Fatal(err)
	}
	blobs := w.uploadBlobs(tA, a1, writing)
	if len(blobs) != 2 {
		t.Fatalf("the processing upload has blobs %v, want 2", blobs)
	}

	res := w.mustErase(tA, a1)
	if res.Done || !res.RetryAt.Equal(base.Add(30*time.Second)) || !strings.Contains(res.Waiting, "upload") {
		t.Fatalf("EraseUser = %+v, want not done, RetryAt %s, waiting for an upload", res, base.Add(30*time.Second))
	}
	rows, err := w.uploads.List(w.ctx, tA, a1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].UploadID != writing || rows[0].Status != store.UploadProcessing {
		t.Errorf("uploads after the first pass = %+v, want only the processing one, untouched", rows)
	}
	for _, b := range blobs {
		if !w.blobExists(w.docs, b) {
			t.Errorf("blob %s of the upload being written was deleted", b)
		}
	}
	late.Status, late.Attempts = store.UploadProcessing, late.Attempts+1
	if _, err := w.uploads.Update(w.ctx, late); err == nil {
		t.Errorf("a worker started the queued upload %s after the erasure began", late.UploadID)
	}
	if c, ok := w.connection(tA, a1); !ok || c.Status != store.StatusErasing || c.Erasure.Kind != store.ErasureDisconnect {
		t.Errorf("connection = %+v (exists %v), want status erasing", c, ok)
	}
	if n := w.count(mirror.RecordsTable, tA, a1); n != 0 {
		t.Errorf("the mirror still holds %d rows of the user while the erasure waits", n)
	}
	if recs := w.audits(); len(recs) != 0 {
		t.Errorf("audit rows before the erasure completed: %+v", recs)
	}

	// Another pass before the worker finished changes nothing.
	w.clock.Advance(30 * time.Second)
	if res := w.mustErase(tA, a1); res.Done {
		t.Fatalf("EraseUser while the upload is still processing = %+v, want not done", res)
	}

	// The worker finishes: the upload is done.
	up, err := w.uploads.Get(w.ctx, tA, a1, writing)
	if err != nil {
		t.Fatal(err)
	}
	up.Status, up.BatchDone, up.CompletedAt, up.UpdatedAt = store.UploadDone, true, w.clock.Now(), w.clock.Now()
	if _, err := w.uploads.Update(w.ctx, up); err != nil {
		t.Fatalf("the worker could not finish its upload: %v", err)
	}
	w.clock.Advance(30 * time.Second)
	res = w.mustErase(tA, a1)
	if !res.Done {
		t.Fatalf("EraseUser after the upload finished = %+v, want Done", res)
	}
	if left := w.snapshot().about(a1); !left.empty() {
		t.Errorf("left after the erasure:\n  %s", left.keys())
	}
	recs := w.audits()
	if len(recs) != 1 {
		t.Fatalf("audit rows = %+v, want one", recs)
	}
	if !recs[0].RequestedAt.Equal(base) || !recs[0].CompletedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("audit row requested %s, completed %s; want %s and %s", recs[0].RequestedAt, recs[0].CompletedAt, base, base.Add(time.Minute))
	}
	if c := counts(t, recs[0].Counts); c[store.UploadsTable] != int64(len(settledStatuses))+1 {
		t.Errorf("audit counts %s, want %d uploads", recs[0].Counts, len(settledStatuses)+1)
	}
}

// TestErasureTakesAnAbandonedProcessingUploadForDead: an upload
// processing for more than 15 minutes has no worker left (beyond the
// queue's lock and the Functions timeout), so it does not hold the
// erasure; one updated 14 minutes ago does.
func TestErasureTakesAnAbandonedProcessingUploadForDead(t *testing.T) {
	w := newWorld(t)
	tA, a1, a2 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 5})
	w.seedUpload(tA, a1, store.UploadProcessing, base.Add(-16*time.Minute))
	w.seedUser(tA, a2, userSeed{Rows: 5})
	w.seedUpload(tA, a2, store.UploadProcessing, base.Add(-14*time.Minute))

	if res := w.mustErase(tA, a1); !res.Done {
		t.Errorf("EraseUser with an upload processing for 16 minutes = %+v, want Done", res)
	}
	if left := w.snapshot().about(a1); !left.empty() {
		t.Errorf("left after the erasure:\n  %s", left.keys())
	}
	if res := w.mustErase(tA, a2); res.Done || !strings.Contains(res.Waiting, "upload") {
		t.Errorf("EraseUser with an upload processing for 14 minutes = %+v, want a wait for it", res)
	}
}

// TestErasureFencesARunningSync: a sync holding the user's lease loses it
// to the erasure at once (its next lease write or commit fails), and the
// erasure does not finish before that sync can no longer be writing (the
// lease's end plus one lease duration), so a page the sync wrote after the
// first sweep is erased too.
func TestErasureFencesARunningSync(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 30})
	l := w.syncHolds(tA, a1, base.Add(time.Minute))

	res := w.mustErase(tA, a1)
	verify := base.Add(time.Minute + leaseDuration)
	if res.Done || !res.RetryAt.Equal(verify) || !strings.Contains(res.Waiting, "sync") {
		t.Fatalf("EraseUser = %+v, want not done, RetryAt %s (the lease's end plus a lease duration), waiting for the sync", res, verify)
	}
	got, err := w.states.Lease(w.ctx, tA, a1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "erasure" || got.Until.Before(base.AddDate(50, 0, 0)) {
		t.Errorf("lease after the first pass = %+v, want held by the erasure for good", got)
	}
	// The running sync is fenced: its renewal and its commit fail.
	renew := l
	renew.Until = base.Add(leaseDuration)
	if _, err := w.states.UpdateLease(w.ctx, tA, a1, renew); !errors.Is(err, store.ErrConflict) {
		t.Errorf("the sync's lease renewal = %v, want ErrConflict", err)
	}
	if _, err := w.states.CommitSet(w.ctx, tA, a1, renew, store.SetState{EntitySet: "accounts", DeltaLink: "https://late"}); err == nil {
		t.Errorf("the fenced sync committed its delta link")
	}
	if sets, err := w.states.Sets(w.ctx, tA, a1); err != nil || len(sets) != 0 {
		t.Errorf("sync state after the fenced commit = %+v, %v; want none (swept, and the commit refused)", sets, err)
	}

	// A premature pass (a duplicate message) does not finish.
	w.clock.Set(base.Add(90 * time.Second))
	if res := w.mustErase(tA, a1); res.Done || !res.RetryAt.Equal(verify) {
		t.Errorf("EraseUser before the sync can have stopped = %+v, want not done, RetryAt %s", res, verify)
	}
	// The sync still writes a page it had read, overflowing row included.
	w.apply(tA, a1, "accounts", 20, true, 5001)
	if n := w.count(mirror.RecordsTable, tA, a1); n != 21 {
		t.Fatalf("the late page wrote %d rows, want 21", n)
	}

	w.clock.Set(verify.Add(time.Second))
	res = w.mustErase(tA, a1)
	if !res.Done {
		t.Fatalf("EraseUser after the verification time = %+v, want Done", res)
	}
	if left := w.snapshot().about(a1); !left.empty() {
		t.Errorf("left after the erasure (the late page?):\n  %s", left.keys())
	}
	if c := counts(t, w.audits()[0].Counts); c[mirror.RecordsTable] != 51 {
		t.Errorf("audit counts %v, want 51 records (30 first, 21 written late)", c)
	}
}

// TestFencedSyncCommitIsAConflict: a sync whose lease the erasure took
// learns it from its commit as store.ErrConflict (the syncer's
// errLeaseLost: the run stops quietly), not as a Storage failure (which
// fails the invocation and has Service Bus redeliver the job).
func TestFencedSyncCommitIsAConflict(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 1})
	l := w.syncHolds(tA, a1, base.Add(time.Minute))
	if res := w.mustErase(tA, a1); res.Done {
		t.Fatalf("EraseUser = %+v, want a wait for the sync", res)
	}
	_, err := w.states.CommitSet(w.ctx, tA, a1, l, store.SetState{EntitySet: "accounts", DeltaLink: "https://late"})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("CommitSet with the lease's old ETag = %v; want an error wrapping store.ErrConflict", err)
	}
}

// TestErasureInterruptedMidwayResumes: an erasure cut off in the middle
// (its invocation's context ends; then Storage fails) reports an error,
// never success, leaves the connection erasing, and the next pass
// finishes it completely.
func TestErasureInterruptedMidwayResumes(t *testing.T) {
	w := newWorld(t)
	tA, a1, a2 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 3000, Overflow: true, Uploads: settledStatuses})
	w.seedUser(tA, a2, userSeed{Rows: 10})
	w.seedUpload(tA, a1, store.UploadProcessing, base.Add(-time.Hour))
	others := w.userSnapshot(tA, a2)
	if len(others.entities) != 1+3+10+10 {
		t.Fatalf("the other user's snapshot holds %d entities, want 24 (connection, lease and 2 sets, 10 records, 10 changes)", len(others.entities))
	}

	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	var batches atomic.Int32
	w.faults.set(func(req *http.Request) error {
		if isBatch(req) && batches.Add(1) == 11 {
			cancel() // the invocation's time is up
			return context.Canceled
		}
		return nil
	})
	res, err := w.eraser.EraseUser(ctx, tA, a1, lifecycle.Request{Kind: store.ErasureDisconnect, By: "user:" + w.pseudo.User(tA, a1)})
	if err == nil || res.Done {
		t.Fatalf("EraseUser cancelled midway = %+v, %v; want an error", res, err)
	}
	w.faults.set(nil)
	if n := w.count(mirror.RecordsTable, tA, a1); n == 0 || n == 3001 {
		t.Fatalf("records left after the cut = %d, want some deleted, some not", n)
	}
	if c, ok := w.connection(tA, a1); !ok || c.Status != store.StatusErasing {
		t.Errorf("connection after the cut = %+v (exists %v), want erasing", c, ok)
	}

	// Storage now fails on the change log.
	w.faults.set(func(req *http.Request) error {
		if w.isTable(req, mirror.ChangesTable) {
			return errors.New("injected: 503 server busy")
		}
		return nil
	})
	if res, err := w.erase(tA, a1); err == nil || res.Done {
		t.Fatalf("EraseUser with the changes table failing = %+v, %v; want an error", res, err)
	}
	w.faults.set(nil)
	if c, ok := w.connection(tA, a1); !ok || c.Status != store.StatusErasing {
		t.Errorf("connection after the failure = %+v (exists %v), want erasing", c, ok)
	}
	if n := w.count(mirror.ChangesTable, tA, a1); n == 0 {
		t.Errorf("the change log is gone although every request to it failed")
	}
	if recs := w.audits(); len(recs) != 0 {
		t.Errorf("audit rows of an erasure not complete: %+v", recs)
	}

	res = w.mustErase(tA, a1)
	if !res.Done {
		t.Fatalf("EraseUser with Storage well again = %+v, want Done", res)
	}
	final := w.snapshot()
	if left := final.about(a1); !left.empty() {
		t.Errorf("left after the erasure:\n  %s", left.keys())
	}
	if d := w.userSnapshot(tA, a2).diff(others); d != "" {
		t.Errorf("the other user changed:\n  %s", d)
	}
}

// TestErasureAuditCountsSurviveAnInterruptedPass: rows deleted by a pass
// whose invocation ran out of time are counted in the audit of the
// erasure all the same (Result.Counts: "over every pass of this
// erasure").
func TestErasureAuditCountsSurviveAnInterruptedPass(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 500})
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	var batches atomic.Int32
	w.faults.set(func(req *http.Request) error {
		if isBatch(req) && batches.Add(1) == 3 {
			cancel()
			return context.Canceled
		}
		return nil
	})
	if _, err := w.eraser.EraseUser(ctx, tA, a1, lifecycle.Request{Kind: store.ErasureDisconnect, By: "user"}); err == nil {
		t.Fatal("EraseUser cancelled midway succeeded")
	}
	w.faults.set(nil)
	if res := w.mustErase(tA, a1); !res.Done {
		t.Fatalf("EraseUser = %+v, want Done", res)
	}
	recs := w.audits()
	if len(recs) != 1 {
		t.Fatalf("audit rows = %+v, want one", recs)
	}
	if c := counts(t, recs[0].Counts); c[mirror.RecordsTable] != 500 || c[mirror.ChangesTable] != 500 {
		t.Errorf("audit counts %s, want 500 records and 500 changes (200 records were deleted by the interrupted pass)", recs[0].Counts)
	}
}

// TestErasureInterruptedAtTheEnd: an erasure cut off after it deleted the
// user's sync state (the lease that fenced syncs) and wrote the audit, but
// before it deleted the connection row, is finished by the next pass: the
// row still says erasing, so the pass finds the erasure, leaves no row of
// the user, and the audit holds one row for it.
func TestErasureInterruptedAtTheEnd(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 10})
	var cut atomic.Bool
	w.faults.set(func(req *http.Request) error {
		if req.Method == http.MethodDelete && w.isTable(req, store.ConnectionsTable) && !cut.Swap(true) {
			return errors.New("injected: the invocation died")
		}
		return nil
	})
	if _, err := w.erase(tA, a1); err == nil || !cut.Load() {
		t.Fatalf("EraseUser cut at the connection's deletion: err %v; want an error", err)
	}
	if c, err := w.conns.Get(w.ctx, tA, a1); err != nil || c.Status != store.StatusErasing {
		t.Fatalf("connection after the cut: %+v, %v; want it still erasing", c, err)
	}
	w.faults.set(nil)
	if res := w.mustErase(tA, a1); !res.Done {
		t.Fatalf("EraseUser = %+v, want Done", res)
	}
	if left := w.snapshot().about(a1); !left.empty() {
		t.Errorf("left after the erasure reported Done:\n  %s", left.keys())
	}
	if recs := w.audits(); len(recs) != 1 {
		t.Errorf("audit rows = %+v, want one for the one erasure", recs)
	}
}

// TestErasureToleratesAnUploadDeletedMeanwhile: an upload row deleted
// between the erasure's listing and its cancellation (by a second
// erasure of the same user running at the same time) is already what the
// erasure wants: the pass goes on and completes instead of failing.
func TestErasureToleratesAnUploadDeletedMeanwhile(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	s := w.seedUser(tA, a1, userSeed{Rows: 3, Uploads: []string{store.UploadQueued}})
	var gone atomic.Bool
	w.faults.set(func(req *http.Request) error {
		if req.Method == http.MethodPut && w.isTable(req, store.UploadsTable) && !gone.Swap(true) {
			// The other erasure deletes the row just before this one cancels it.
			if err := w.uploads.Delete(context.Background(), tA, a1, s.uploadIDs[store.UploadQueued]); err != nil {
				return err
			}
		}
		return nil
	})
	res, err := w.erase(tA, a1)
	if !gone.Load() {
		t.Fatal("the erasure never cancelled the queued upload")
	}
	if err != nil || !res.Done {
		t.Errorf("EraseUser with the upload deleted meanwhile = %+v, %v; want Done", res, err)
	}
}

// TestTwoErasuresOfOneUserAtOnce: two passes of one user's erasure
// running at the same time (a second DELETE while the first runs) leave
// nothing behind and one audit row; a later pass is Done.
func TestTwoErasuresOfOneUserAtOnce(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 300, Overflow: true, Uploads: settledStatuses})
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := w.eraser.EraseUser(w.ctx, tA, a1, lifecycle.Request{Kind: store.ErasureDisconnect, By: "user"})
			results[i] = "done=" + boolString(res.Done) + " err=" + errString(err)
		}()
	}
	wg.Wait()
	t.Logf("concurrent passes: %v", results)
	if res := w.mustErase(tA, a1); !res.Done {
		t.Fatalf("EraseUser after the concurrent passes = %+v, want Done", res)
	}
	if left := w.snapshot().about(a1); !left.empty() {
		t.Errorf("left after the erasure:\n  %s", left.keys())
	}
	if recs := w.audits(); len(recs) != 1 {
		t.Errorf("audit rows = %+v, want one", recs)
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestContinuationLeavesAReconnectedUserAlone: a continuation message that
// arrives after the user's erasure finished and the user connected again
// must not erase the new connection; nor may a continuation of an
// offboarding that finished touch the tenant that approved the app again.
func TestContinuationLeavesAReconnectedUserAlone(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedTenant(tA)
	w.seedUser(tA, a1, userSeed{Rows: 5})
	before := w.snapshot()
	res, err := w.eraser.EraseUser(w.ctx, tA, a1, lifecycle.Request{Kind: store.ErasureOperator, By: "operator", Continue: true})
	if err != nil || !res.Done {
		t.Fatalf("continuation = %+v, %v; want Done with nothing to do", res, err)
	}
	if res, err := w.eraser.ContinueOffboarding(w.ctx, tA); err != nil || !res.Done {
		t.Fatalf("offboarding continuation = %+v, %v; want Done with nothing to do", res, err)
	}
	if d := w.snapshot().diff(before); d != "" {
		t.Errorf("continuations changed storage:\n%s", d)
	}
}

// Blocks staged for a blob that was never committed (a document download
// cut short while it filled the cache) are the user's data too, though
// plain listings do not show them: the erasure drops them.
func TestErasureDropsStagedBlocks(t *testing.T) {
	w := newWorld(t)
	tenant, user := uuid.NewString(), uuid.NewString()
	w.seedTenant(tenant)
	w.seedUser(tenant, user, userSeed{Rows: 3})
	name := tenant + "/" + user + "/" + uuid.NewString()
	id := base64.StdEncoding.EncodeToString([]byte("block-00000000"))
	if _, err := w.overflow.NewBlockBlobClient(name).StageBlock(w.ctx, id, streaming.NopCloser(strings.NewReader("part of a document")), nil); err != nil {
		t.Fatal(err)
	}
	staged := func() []string {
		prefix := tenant + "/" + user + "/"
		pager := w.overflow.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, Include: container.ListBlobsInclude{UncommittedBlobs: true}})
		var names []string
		for pager.More() {
			page, err := pager.NextPage(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range page.Segment.BlobItems {
				names = append(names, *b.Name)
			}
		}
		return names
	}
	if got := staged(); len(got) != 1 || got[0] != name {
		t.Fatalf("staged blobs before the erasure = %v, want %s (the listing does not see them: the test tests nothing)", got, name)
	}
	if res := w.mustErase(tenant, user); !res.Done {
		t.Fatalf("EraseUser = %+v, want Done", res)
	}
	if got := staged(); len(got) != 0 {
		t.Errorf("after the erasure these blobs of the user remain (staged blocks): %v", got)
	}
}

// TestErasureLeavesNoDueIndexEntry: the scheduler keeps moving an erasing
// user's entry (it trusts the index and does not read the connection), in
// a run between the erasure's passes and in one that moves the
// connection's next sync while the erasure deletes the row. Neither leaves
// an entry naming the erased user in the due index.
func TestErasureLeavesNoDueIndexEntry(t *testing.T) {
	w := newWorld(t)
	index := store.NewDueIndex(w.db)
	// move is what a scheduler run does to one user: file the next entry,
	// move the connection's NextSyncAt, delete the entry dealt with.
	move := func(tenant, user string, from, to time.Time) {
		t.Helper()
		if err := index.Put(w.ctx, []store.DueEntry{store.DueEntryOf(tenant, user, to)}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.conns.SetNextSync(w.ctx, tenant, []store.NextSync{{UserID: user, At: to}}); err != nil {
			t.Fatal(err)
		}
		if err := index.Delete(w.ctx, []store.DueEntry{store.DueEntryOf(tenant, user, from)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, during := range []string{"between passes", "at the row's deletion"} {
		t.Run(during, func(t *testing.T) {
			w.clock.Set(base)
			tA, a1 := uuid.NewString(), uuid.NewString()
			w.seedUser(tA, a1, userSeed{Rows: 5})
			first := base.Add(time.Hour)
			if err := index.Put(w.ctx, []store.DueEntry{store.DueEntryOf(tA, a1, first)}); err != nil {
				t.Fatal(err)
			}
			w.syncHolds(tA, a1, base.Add(time.Minute)) // so the erasure waits, as it does for a running sync
			if res := w.mustErase(tA, a1); res.Done {
				t.Fatalf("EraseUser with a sync running = %+v, want it to wait", res)
			}
			// A run that read the entry before the erasure took it out files the next.
			second := first.Add(5 * time.Minute)
			move(tA, a1, first, second)
			if during == "at the row's deletion" {
				var once atomic.Bool
				w.faults.set(func(req *http.Request) error {
					if req.Method == http.MethodDelete && w.isTable(req, store.ConnectionsTable) && !once.Swap(true) {
						move(tA, a1, second, second.Add(5*time.Minute))
					}
					return nil
				})
				defer w.faults.set(nil)
			}
			w.clock.Set(base.Add(time.Minute + leaseDuration + time.Second))
			if res := w.mustErase(tA, a1); !res.Done {
				t.Fatalf("EraseUser after the sync's lease = %+v, want Done", res)
			}
			if left := w.snapshot().about(a1); !left.empty() {
				t.Errorf("left after the erasure:\n  %s", left.keys())
			}
		})
	}
}

package lifecycle_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
)

// expectedCounts are the counts an erasure of everything in s reports:
// entities per table, blobs per container.
func (w *world) expectedCounts(s snapshot) map[string]int64 {
	out := map[string]int64{}
	for _, table := range allTables {
		if n := len(s.table(table)); n > 0 {
			out[table] = int64(n)
		}
	}
	for _, c := range []string{w.docsName, w.overflowName} {
		if n := len(s.inContainer(c)); n > 0 {
			out["blob:"+c] = int64(n)
		}
	}
	return out
}

func sameCounts(got lifecycle.Counts, want map[string]int64) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	for k, v := range got {
		if want[k] != v {
			return false
		}
	}
	return true
}

// TestOffboardTenantErasesEverythingOfTheTenant: offboarding a tenant
// deletes every row and blob carrying its id (its connections with all
// their data, the uploads and blobs of a user whose connection is gone,
// sign-ins in progress for it, its dead letters, its approval) and
// nothing of another tenant, byte for byte; the counts are exact and the
// audit names the tenant only by pseudonym.
func TestOffboardTenantErasesEverythingOfTheTenant(t *testing.T) {
	w := newWorld(t)
	tA, tB := uuid.NewString(), uuid.NewString()
	a1, a2, a3, b1 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.seedTenant(tA)
	w.seedTenant(tB)
	w.seedUser(tA, a1, userSeed{Rows: 40, Overflow: true, Uploads: settledStatuses})
	w.seedUser(tA, a2, userSeed{Rows: 7, Status: store.StatusReauthRequired, Uploads: []string{store.UploadParked}})
	// a3's connection is gone, but an upload and blobs of theirs are left.
	w.seedUser(tA, a3, userSeed{NoConnection: true, Uploads: []string{store.UploadQueued, store.UploadFailed}})
	w.putBlob(w.overflow, tA+"/"+a3+"/x.json", []byte(`{"name":"left over"}`))
	w.seedUser(tB, b1, userSeed{Rows: 40, Overflow: true, Uploads: settledStatuses})
	w.seedFlow(tA, base.Add(10*time.Minute))
	w.seedFlow(tA, base.Add(-time.Hour))
	w.seedFlow(tB, base.Add(10*time.Minute))
	w.seedFlow("organizations", base.Add(10*time.Minute))
	for _, u := range []struct{ tenant, user string }{{tA, a1}, {tA, a3}, {tB, b1}} {
		w.deadLetters(u.tenant, u.user)
	}

	before := w.snapshot()
	ofA, ofB := before.about(tA), before.about(tB)
	want := w.expectedCounts(ofA)
	for _, k := range []string{store.TenantsTable, store.ConnectionsTable, store.AuthFlowsTable, store.SyncStateTable, mirror.RecordsTable,
		mirror.ChangesTable, store.UploadsTable, "blob:" + w.docsName, "blob:" + w.overflowName} {
		if want[k] == 0 {
			t.Fatalf("the seeding put nothing of the tenant in %s: %v", k, want)
		}
	}
	want["deadletter:sync-jobs"], want["deadletter:uploads"] = 2, 2

	w.clock.Advance(time.Minute)
	res, err := w.eraser.OffboardTenant(w.ctx, tA, "operator")
	if err != nil || !res.Done {
		t.Fatalf("OffboardTenant = %+v, %v; want Done", res, err)
	}
	if !sameCounts(res.Counts, want) {
		t.Errorf("Result.Counts = %s\nwant            %v", res.Counts, want)
	}

	after := w.snapshot()
	if left := after.about(tA); !left.empty() {
		t.Errorf("after the offboarding these still hold the tenant's id:\n  %s", left.keys())
	}
	if d := after.about(tB).diff(ofB); d != "" {
		t.Errorf("the other tenant changed:\n  %s", d)
	}
	rest := snapshot{entities: map[string]string{}, blobs: after.blobs}
	for k, v := range after.entities {
		if !strings.HasPrefix(k, store.ErasuresTable+"|") {
			rest.entities[k] = v
		}
	}
	if d := rest.diff(before.without(ofA)); d != "" {
		t.Errorf("the offboarding changed more than the tenant's data:\n  %s", d)
	}
	for name, q := range w.dlq {
		if bodies := q.bodies(); len(bodies) != 1 || !strings.Contains(bodies[0], tB) {
			t.Errorf("dead letters of %s left = %v, want only the other tenant's", name, bodies)
		}
		// Once for the tenant, not once per user: a queue can hold
		// thousands of dead letters, and a tenant thousands of users.
		if q.lists != 1 {
			t.Errorf("the dead letters of %s were read %d times in one pass, want once", name, q.lists)
		}
	}
	if _, err := w.tenants.Get(w.ctx, tA); err == nil {
		t.Errorf("the tenant's row (its approval) is still there")
	}

	recs := w.audits()
	if len(recs) != 1 {
		t.Fatalf("audit rows = %+v, want one for the tenant (none per user)", recs)
	}
	r := recs[0]
	if r.Kind != store.ErasureOffboard || r.Tenant != w.pseudo.Tenant(tA) || r.Subject != "" || r.By != "operator" ||
		!r.RequestedAt.Equal(base.Add(time.Minute)) || !r.CompletedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("audit row = %+v, want kind offboard of %s by operator", r, w.pseudo.Tenant(tA))
	}
	if got := counts(t, r.Counts); !sameCounts(got, want) {
		t.Errorf("audit counts = %v\nwant           %v", got, want)
	}
	if logs := w.logs.String(); strings.Contains(logs, a1) || strings.Contains(logs, a2) {
		t.Errorf("the log holds a user's object id:\n%s", logs)
	}

	// Offboarding it again finds nothing to offboard.
	snap := w.snapshot()
	if _, err := w.eraser.OffboardTenant(w.ctx, tA, "operator"); apperr.KindOf(err) != apperr.NotFound {
		t.Errorf("second OffboardTenant = %v, want a NotFound error", err)
	}
	if d := w.snapshot().diff(snap); d != "" {
		t.Errorf("the second offboarding changed Storage:\n  %s", d)
	}
}

// TestOffboardUnknownTenantIsNotFound: a tenant id the connector does not
// know (a typo) is refused with NotFound and nothing is written: no
// tenant row, no audit row.
func TestOffboardUnknownTenantIsNotFound(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedTenant(tA)
	w.seedUser(tA, a1, userSeed{Rows: 3})
	before := w.snapshot()
	for _, id := range []string{uuid.NewString(), strings.ToUpper(tA)} {
		res, err := w.eraser.OffboardTenant(w.ctx, id, "operator")
		if apperr.KindOf(err) != apperr.NotFound || res.Done {
			t.Errorf("OffboardTenant(%s) = %+v, %v; want a NotFound error", id, res, err)
		}
	}
	if d := w.snapshot().diff(before); d != "" {
		t.Errorf("offboarding unknown tenants changed Storage:\n  %s", d)
	}
}

// offboardingWithAnUpload offboards a tenant one of whose users has an
// upload being written, and returns the world, the tenant, that user and
// upload, and the snapshot of the tenant's data before.
func offboardingWithAnUpload(t *testing.T) (*world, string, string, string, snapshot) {
	w := newWorld(t)
	tC, c1, c2 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.seedTenant(tC)
	w.seedUser(tC, c1, userSeed{Rows: 60, Overflow: true, Uploads: settledStatuses})
	writing := w.seedUpload(tC, c1, store.UploadProcessing, base)
	w.seedUser(tC, c2, userSeed{Rows: 20, Uploads: []string{store.UploadQueued}})
	w.seedFlow(tC, base.Add(time.Hour))
	return w, tC, c1, writing, w.snapshot().about(tC)
}

// TestOffboardWaitsForAnUploadBeingWritten: while a user's upload is being
// written into Dynamics the offboarding is not done, but the tenant's
// approval is withdrawn at once (OffboardingAt set, Consented false); the
// pass after the upload finished completes it.
func TestOffboardWaitsForAnUploadBeingWritten(t *testing.T) {
	w, tC, c1, writing, _ := offboardingWithAnUpload(t)
	res, err := w.eraser.OffboardTenant(w.ctx, tC, "operator")
	if err != nil || res.Done || !res.RetryAt.Equal(base.Add(30*time.Second)) || !strings.Contains(res.Waiting, "upload") {
		t.Fatalf("OffboardTenant = %+v, %v; want not done, RetryAt %s, waiting for the upload", res, err, base.Add(30*time.Second))
	}
	tn, err := w.tenants.Get(w.ctx, tC)
	if err != nil {
		t.Fatalf("the tenant's row is gone while the offboarding waits: %v", err)
	}
	if !tn.OffboardingAt.Equal(base) || tn.OffboardingBy != "operator" || tn.Consented() {
		t.Errorf("tenant = %+v, want offboarding since %s by operator and not consented", tn, base)
	}
	if c, ok := w.connection(tC, c1); !ok || c.Status != store.StatusErasing || c.Erasure.Kind != store.ErasureOffboard {
		t.Errorf("connection of the user with the upload = %+v (exists %v), want erasing for the offboarding", c, ok)
	}
	if up, err := w.uploads.Get(w.ctx, tC, c1, writing); err != nil || up.Status != store.UploadProcessing || len(w.uploadBlobs(tC, c1, writing)) != 2 {
		t.Errorf("the upload being written = %+v, %v; want it untouched with its blobs", up, err)
	}
	if recs := w.audits(); len(recs) != 0 {
		t.Errorf("audit rows before the offboarding completed: %+v", recs)
	}

	// A second pass too early changes nothing about that.
	w.clock.Advance(10 * time.Second)
	if res, err := w.eraser.OffboardTenant(w.ctx, tC, "operator"); err != nil || res.Done {
		t.Fatalf("OffboardTenant while the upload is processing = %+v, %v; want not done", res, err)
	}

	up, err := w.uploads.Get(w.ctx, tC, c1, writing)
	if err != nil {
		t.Fatal(err)
	}
	up.Status, up.CompletedAt, up.UpdatedAt = store.UploadDone, w.clock.Now(), w.clock.Now()
	if _, err := w.uploads.Update(w.ctx, up); err != nil {
		t.Fatalf("the worker could not finish its upload: %v", err)
	}
	w.clock.Advance(30 * time.Second)
	res, err = w.eraser.OffboardTenant(w.ctx, tC, "operator")
	if err != nil || !res.Done {
		t.Fatalf("OffboardTenant after the upload finished = %+v, %v; want Done", res, err)
	}
	if left := w.snapshot().about(tC); !left.empty() {
		t.Errorf("left after the offboarding:\n  %s", left.keys())
	}
	recs := w.audits()
	if len(recs) != 1 || recs[0].Kind != store.ErasureOffboard || !recs[0].RequestedAt.Equal(base) {
		t.Errorf("audit rows = %+v, want one offboarding requested at %s", recs, base)
	}
}

// TestOffboardAuditCountsEachRowOnce: an offboarding that took several
// passes counts every deleted row and blob once.
func TestOffboardAuditCountsEachRowOnce(t *testing.T) {
	w, tC, c1, writing, ofC := offboardingWithAnUpload(t)
	want := w.expectedCounts(ofC)
	if res, err := w.eraser.OffboardTenant(w.ctx, tC, "operator"); err != nil || res.Done {
		t.Fatalf("OffboardTenant = %+v, %v; want a wait for the upload", res, err)
	}
	up, err := w.uploads.Get(w.ctx, tC, c1, writing)
	if err != nil {
		t.Fatal(err)
	}
	up.Status = store.UploadDone
	if _, err := w.uploads.Update(w.ctx, up); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	res, err := w.eraser.OffboardTenant(w.ctx, tC, "operator")
	if err != nil || !res.Done {
		t.Fatalf("OffboardTenant = %+v, %v; want Done", res, err)
	}
	if !sameCounts(res.Counts, want) {
		t.Errorf("Result.Counts = %s\nwant            %v", res.Counts, want)
	}
	recs := w.audits()
	if len(recs) != 1 {
		t.Fatalf("audit rows = %+v, want one", recs)
	}
	if got := counts(t, recs[0].Counts); !sameCounts(got, want) {
		t.Errorf("audit counts = %v\nwant           %v", got, want)
	}
}

// TestOffboardFencesEveryUserFirst: an offboarding pass that fails while
// it erases its first user has already marked every user of the tenant
// erasing, so none of them goes on syncing or uploading until the next
// pass.
func TestOffboardFencesEveryUserFirst(t *testing.T) {
	w := newWorld(t)
	tC, c1, c2, c3 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.seedTenant(tC)
	for _, u := range []string{c1, c2, c3} {
		w.seedUser(tC, u, userSeed{Rows: 20})
	}
	w.faults.set(func(req *http.Request) error {
		if isBatch(req) || req.Method == http.MethodDelete && w.isTable(req, mirror.RecordsTable) {
			return errors.New("injected: Storage failed")
		}
		return nil
	})
	if _, err := w.eraser.OffboardTenant(w.ctx, tC, "operator"); err == nil {
		t.Fatal("OffboardTenant with Storage failing = nil error")
	}
	w.faults.set(nil)
	for _, u := range []string{c1, c2, c3} {
		if c, ok := w.connection(tC, u); !ok || c.Status != store.StatusErasing || c.Erasure.Kind != store.ErasureOffboard {
			t.Errorf("user %s after the failed pass: status %q, erasure kind %q; want erasing for the offboarding", u, c.Status, c.Erasure.Kind)
		}
	}
	if res, err := w.eraser.OffboardTenant(w.ctx, tC, "operator"); err != nil || !res.Done {
		t.Fatalf("OffboardTenant again = %+v, %v; want Done", res, err)
	}
}

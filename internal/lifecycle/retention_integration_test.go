package lifecycle_test

import (
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/store"
)

const day = 24 * time.Hour

var retention = lifecycle.Retention{Inactive: 30 * day, Uploads: 30 * day, MaxPerRun: 100}

func (w *world) retain(r lifecycle.Retention) lifecycle.RetentionReport {
	w.t.Helper()
	rep, err := w.eraser.Retain(w.ctx, r)
	if err != nil {
		w.t.Fatalf("Retain: %v", err)
	}
	return rep
}

// uploadStatuses lists the statuses of the uploads of user left, sorted.
func (w *world) uploadStatuses(tenant, user string) []string {
	w.t.Helper()
	rows, err := w.uploads.List(w.ctx, tenant, user)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Status)
	}
	sort.Strings(out)
	return out
}

// TestRetentionWithAMovedClock: 31 days on, connections that needed
// reauthorization or never finished their sign-in for more than 30 days
// are erased (kind retention, with their data); one 29 days into
// reauth_required and active ones are kept; finished uploads (done,
// failed, cancelled) older than 30 days go with their blobs, newer ones
// and unfinished ones stay; expired sign-in flows go. Two days later the
// 29-day one is erased too.
func TestRetentionWithAMovedClock(t *testing.T) {
	w := newWorld(t)
	tA := uuid.NewString()
	rOld, pOld, rNew, active := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.seedTenant(tA)
	w.seedUser(tA, rOld, userSeed{Status: store.StatusReauthRequired, StatusChangedAt: base, Rows: 5, Uploads: []string{store.UploadParked}})
	w.seedUser(tA, pOld, userSeed{Status: store.StatusPending, StatusChangedAt: base})
	w.seedUser(tA, rNew, userSeed{Status: store.StatusReauthRequired, StatusChangedAt: base.Add(2 * day), Rows: 5})
	w.seedUser(tA, active, userSeed{StatusChangedAt: base.Add(-100 * day), Rows: 5})
	ids := map[string]string{}
	for _, s := range []string{store.UploadDone, store.UploadFailed, store.UploadCancelled, store.UploadQueued, store.UploadParked, store.UploadDeadLettered} {
		ids[s] = w.seedUpload(tA, active, s, base)
	}
	recent := w.seedUpload(tA, active, store.UploadDone, base.Add(10*day))
	w.seedFlow(tA, base.Add(10*time.Minute))
	w.seedFlow(tA, base.Add(60*day))

	w.clock.Set(base.Add(31 * day))
	rep := w.retain(retention)
	if !reflect.DeepEqual(rep, lifecycle.RetentionReport{Inactive: 2, Uploads: 3, AuthFlows: 1}) {
		t.Errorf("report = %+v, want 2 inactive connections, 3 uploads, 1 sign-in flow erased", rep)
	}
	snap := w.snapshot()
	for _, u := range []string{rOld, pOld} {
		if left := snap.about(u); !left.empty() {
			t.Errorf("an inactive user's data is left:\n  %s", left.keys())
		}
	}
	for _, u := range []string{rNew, active} {
		if _, ok := w.connection(tA, u); !ok {
			t.Errorf("connection %s was erased, want it kept", u)
		}
	}
	if n := len(snap.about(rNew).table("records")); n != 5 {
		t.Errorf("the 29-day reauth_required user's mirror holds %d rows, want 5", n)
	}
	want := []string{store.UploadDeadLettered, store.UploadDone, store.UploadParked, store.UploadQueued}
	if got := w.uploadStatuses(tA, active); !slices.Equal(got, want) {
		t.Errorf("uploads left = %v, want %v (the recent done one and the unfinished ones)", got, want)
	}
	if _, err := w.uploads.Get(w.ctx, tA, active, recent); err != nil {
		t.Errorf("the upload done 21 days ago is gone: %v", err)
	}
	for _, s := range []string{store.UploadFailed, store.UploadCancelled} {
		if b := w.uploadBlobs(tA, active, ids[s]); len(b) != 0 {
			t.Errorf("blobs of the old %s upload are left: %v", s, b)
		}
	}
	for _, s := range []string{store.UploadQueued, store.UploadParked, store.UploadDeadLettered} {
		if b := w.uploadBlobs(tA, active, ids[s]); len(b) != 2 {
			t.Errorf("blobs of the %s upload = %v, want its 2", s, b)
		}
	}
	if n := len(snap.table(store.AuthFlowsTable)); n != 1 {
		t.Errorf("sign-in flows left = %d, want the unexpired one", n)
	}

	var subjects []string
	var uploadsAudit []store.ErasureRecord
	for _, r := range w.audits() {
		switch r.Kind {
		case store.ErasureRetention:
			if r.By != "retention" || r.Tenant != w.pseudo.Tenant(tA) {
				t.Errorf("retention audit row = %+v", r)
			}
			subjects = append(subjects, r.Subject)
		case store.ErasureUploads:
			uploadsAudit = append(uploadsAudit, r)
		default:
			t.Errorf("unexpected audit row %+v", r)
		}
	}
	sort.Strings(subjects)
	wantSubjects := []string{w.pseudo.User(tA, rOld), w.pseudo.User(tA, pOld)}
	sort.Strings(wantSubjects)
	if !slices.Equal(subjects, wantSubjects) {
		t.Errorf("retention erasures audited for %v, want %v", subjects, wantSubjects)
	}
	if len(uploadsAudit) != 1 {
		t.Fatalf("retention-uploads audit rows = %+v, want one", uploadsAudit)
	}
	if got, want := counts(t, uploadsAudit[0].Counts), map[string]int64{store.UploadsTable: 3, "blob:" + w.docsName: 4, store.AuthFlowsTable: 1}; !sameCounts(got, want) {
		t.Errorf("retention-uploads counts = %v, want %v", got, want)
	}
	if r := uploadsAudit[0]; r.Tenant != "" || r.Subject != "" || r.By != "retention" {
		t.Errorf("retention-uploads audit row = %+v, want no tenant or subject, by retention", r)
	}

	// Two days on, the other reauth_required connection is 31 days old.
	w.clock.Advance(2 * day)
	if rep := w.retain(retention); !reflect.DeepEqual(rep, lifecycle.RetentionReport{Inactive: 1}) {
		t.Errorf("report two days later = %+v, want one inactive connection erased", rep)
	}
	if _, ok := w.connection(tA, rNew); ok {
		t.Errorf("the connection reauth_required for 31 days is kept")
	}
	if _, ok := w.connection(tA, active); !ok {
		t.Errorf("the active connection was erased")
	}
}

// TestRetentionMaxPerRunContinues: with MaxPerRun 2, five inactive
// connections and three old uploads are worked off over several runs,
// each run going on where the last stopped and saying whether more is
// left; every one is erased exactly once.
func TestRetentionMaxPerRunContinues(t *testing.T) {
	w := newWorld(t)
	tA, tB, active := uuid.NewString(), uuid.NewString(), uuid.NewString()
	for i := range 5 {
		tenant := tA
		if i%2 == 1 {
			tenant = tB
		}
		w.seedUser(tenant, uuid.NewString(), userSeed{Status: store.StatusReauthRequired, StatusChangedAt: base, Rows: 3})
	}
	w.seedUser(tA, active, userSeed{Rows: 3})
	for range 3 {
		w.seedUpload(tA, active, store.UploadDone, base)
	}
	w.clock.Set(base.Add(40 * day))

	r := retention
	r.MaxPerRun = 2
	var reps []lifecycle.RetentionReport
	for range 6 {
		rep := w.retain(r)
		reps = append(reps, rep)
		if !rep.More {
			break
		}
	}
	want := []lifecycle.RetentionReport{{Inactive: 2, More: true}, {Inactive: 2, More: true}, {Inactive: 1, Uploads: 1, More: true}, {Uploads: 2}}
	if !reflect.DeepEqual(reps, want) {
		t.Errorf("reports = %+v\nwant      %+v", reps, want)
	}
	conns, err := w.conns.List(w.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 || conns[0].UserID != active {
		t.Errorf("connections left = %+v, want only the active one", conns)
	}
	if got := w.uploadStatuses(tA, active); len(got) != 0 {
		t.Errorf("uploads left = %v, want none", got)
	}
	var subjects []string
	for _, rec := range w.audits() {
		if rec.Kind == store.ErasureRetention {
			subjects = append(subjects, rec.Subject)
		}
	}
	if len(subjects) != 5 || len(slices.Compact(slices.Sorted(slices.Values(subjects)))) != 5 {
		t.Errorf("retention erasures audited = %v, want 5 distinct users", subjects)
	}
	if rep := w.retain(r); !reflect.DeepEqual(rep, lifecycle.RetentionReport{}) {
		t.Errorf("a run with nothing left = %+v, want nothing done", rep)
	}
}

// TestRetentionFinishesAnErasureWhoseRetryWasLost: an erasure that waited
// for an upload and whose retry never came (a lost message) is finished
// by the next retention run.
func TestRetentionFinishesAnErasureWhoseRetryWasLost(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Rows: 10, Uploads: []string{store.UploadQueued}})
	writing := w.seedUpload(tA, a1, store.UploadProcessing, base)
	if res := w.mustErase(tA, a1); res.Done {
		t.Fatalf("EraseUser = %+v, want a wait for the upload", res)
	}
	up, err := w.uploads.Get(w.ctx, tA, a1, writing)
	if err != nil {
		t.Fatal(err)
	}
	up.Status = store.UploadDone
	if _, err := w.uploads.Update(w.ctx, up); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(day)
	if rep := w.retain(retention); rep.Continued != 1 {
		t.Errorf("report = %+v, want one erasure continued", rep)
	}
	if left := w.snapshot().about(a1); !left.empty() {
		t.Errorf("left after the retention run:\n  %s", left.keys())
	}
	recs := w.audits()
	if len(recs) != 1 || recs[0].Kind != store.ErasureDisconnect || recs[0].Subject != w.pseudo.User(tA, a1) || !recs[0].RequestedAt.Equal(base) {
		t.Errorf("audit rows = %+v, want the disconnect requested at %s", recs, base)
	}
}

// TestRetentionHandsOnWhatWaits: an inactive user's erasure that the
// retention run begins but that must wait (an upload being written) is
// reported unfinished with when to go on, so the run's caller schedules
// its continuation instead of leaving it to the next day's run.
func TestRetentionHandsOnWhatWaits(t *testing.T) {
	w := newWorld(t)
	tA, a1 := uuid.NewString(), uuid.NewString()
	w.seedUser(tA, a1, userSeed{Status: store.StatusReauthRequired, StatusChangedAt: base, Rows: 3})
	w.clock.Set(base.Add(31 * day))
	w.seedUpload(tA, a1, store.UploadProcessing, time.Time{})
	rep := w.retain(retention)
	want := []lifecycle.Unfinished{{TenantID: tA, UserID: a1, At: w.clock.Now().Add(30 * time.Second)}}
	if rep.Inactive != 1 || !reflect.DeepEqual(rep.Unfinished, want) {
		t.Errorf("report = %+v, want the erasure begun and unfinished until %s", rep, want[0].At)
	}
	if c, ok := w.connection(tA, a1); !ok || c.Status != store.StatusErasing {
		t.Errorf("connection = %+v, want it erasing", c)
	}
}

// TestRetentionFinishesAnOffboardingWhoseRetryWasLost: an offboarding that
// waited for an upload and whose retry never came is finished by the next
// retention run as the offboarding it is: one audit row, for the tenant,
// counting everything it deleted.
func TestRetentionFinishesAnOffboardingWhoseRetryWasLost(t *testing.T) {
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
	w.clock.Advance(day)
	if rep := w.retain(retention); rep.Continued == 0 {
		t.Errorf("report = %+v, want the offboarding continued", rep)
	}
	if left := w.snapshot().about(tC); !left.empty() {
		t.Errorf("left after the retention run:\n  %s", left.keys())
	}
	recs := w.audits()
	if len(recs) != 1 {
		t.Fatalf("audit rows = %+v, want one, for the tenant", recs)
	}
	if r := recs[0]; r.Kind != store.ErasureOffboard || r.Subject != "" || r.Tenant != w.pseudo.Tenant(tC) || !sameCounts(counts(t, r.Counts), want) {
		t.Errorf("audit row = %+v, want the tenant's offboarding with counts %v", r, want)
	}
}

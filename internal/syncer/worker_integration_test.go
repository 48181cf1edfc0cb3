package syncer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/localworld/dataversesim"
)

const smallPages = `{"entitySets":[
 {"name":"accounts","select":["name","accountnumber","modifiedon"],"pageSize":20},
 {"name":"contacts","select":["fullname","emailaddress1"],"pageSize":20},
 {"name":"leads","select":["subject","companyname","emailaddress1"],"pageSize":20}]}`

func setResult(t testing.TB, res syncer.Result, set string) syncer.SetResult {
	t.Helper()
	for _, s := range res.Sets {
		if s.EntitySet == set {
			if s.Err != nil {
				t.Fatalf("%s: %v", set, s.Err)
			}
			return s
		}
	}
	t.Fatalf("no result for %s in %+v", set, res.Sets)
	return syncer.SetResult{}
}

// assertConverged checks that the mirror holds exactly the simulator's
// rows of set, and that replaying the change log gives the same.
func assertConverged(t testing.TB, h *harness, sets ...string) {
	t.Helper()
	log := h.replay(t)
	for _, set := range sets {
		want, got := h.simIDs(t, set), h.mirrorOf(t, set)
		if len(got) != len(want) {
			t.Errorf("%s: mirror holds %d rows, Dynamics %d", set, len(got), len(want))
		}
		for id := range want {
			if _, ok := got[id]; !ok {
				t.Errorf("%s: row %s is missing from the mirror", set, id)
			}
		}
		if len(log[set]) != len(got) {
			t.Errorf("%s: replaying the change log gives %d rows, the mirror holds %d", set, len(log[set]), len(got))
		}
		for id, data := range got {
			if string(log[set][id]) != string(data) {
				t.Errorf("%s %s: the change log ends at %s, the mirror holds %s", set, id, log[set][id], data)
			}
		}
	}
}

// TestDefaultConfigurationSyncs: the default columns exist in the
// simulator (as in Dataverse), so the default sets sync without errors.
func TestDefaultConfigurationSyncs(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 3})
	res := h.run(t, syncer.OutcomeSynced)
	for _, set := range []string{"accounts", "contacts", "appointments"} {
		if s := setResult(t, res, set); s.Upserted != 3 || s.Mode != store.ModeChangeTracking {
			t.Errorf("%s: %+v, want 3 rows by change tracking", set, s)
		}
	}
	assertConverged(t, h, "accounts", "contacts", "appointments")
}

// TestIncrementalSync: a first full read page by page, then nothing
// changed costs one request per set and logs nothing, then edits, creates
// and deletes arrive as exactly those changes.
func TestIncrementalSync(t *testing.T) {
	// No overlap: the seeded leads were modified a moment ago, and would
	// otherwise be read again (and skipped) by every run for a while.
	h := newHarness(t, harnessOptions{seed: 50, cfg: smallPages, tuning: func(tu *config.SyncTuning) { tu.WatermarkOverlap = 0 }})
	res := h.run(t, syncer.OutcomeSynced)
	for _, set := range []string{"accounts", "contacts", "leads"} {
		s := setResult(t, res, set)
		if s.Upserted != 50 || s.Pages != 3 || !s.Full {
			t.Errorf("first sync of %s = %+v, want 50 rows in 3 pages, full", set, s)
		}
	}
	if s := setResult(t, res, "accounts"); s.Requests != 4 { // metadata once, then 3 pages
		t.Errorf("first sync of accounts took %d requests, want 4 (metadata + 3 pages)", s.Requests)
	}
	assertConverged(t, h, "accounts", "contacts", "leads")

	res = h.run(t, syncer.OutcomeSynced)
	for _, s := range res.Sets {
		if s.Requests != 1 || s.Upserted+s.Deleted != 0 {
			t.Errorf("sync with nothing changed, %s: %+v; want 1 request and no changes", s.EntitySet, s)
		}
	}

	h.sim.Advance(2 * time.Second) // edits in a later second than the seed: modifiedon has whole seconds
	acc := dataversesim.SeedID("accounts", 7)
	if err := h.sim.UpdateRow("accounts", acc, map[string]any{"name": "Renamed in Dynamics"}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.DeleteRow("accounts", dataversesim.SeedID("accounts", 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.CreateRow("contacts", map[string]any{"firstname": "New", "lastname": "Person"}); err != nil {
		t.Fatal(err)
	}
	lead := dataversesim.SeedID("leads", 3)
	if err := h.sim.UpdateRow("leads", lead, map[string]any{"subject": "Hot lead"}); err != nil {
		t.Fatal(err)
	}
	res = h.run(t, syncer.OutcomeSynced)
	for set, want := range map[string][2]int64{"accounts": {1, 1}, "contacts": {1, 0}, "leads": {1, 0}} {
		if s := setResult(t, res, set); s.Upserted != want[0] || s.Deleted != want[1] || s.Full {
			t.Errorf("incremental sync of %s = %+v, want %d upserted, %d deleted", set, s, want[0], want[1])
		}
	}
	if got := string(h.mirrorOf(t, "accounts")[acc]); !strings.Contains(got, "Renamed in Dynamics") {
		t.Errorf("mirror of the edited account = %s", got)
	}
	if got := string(h.mirrorOf(t, "leads")[lead]); !strings.Contains(got, "Hot lead") {
		t.Errorf("mirror of the edited lead = %s", got)
	}
	assertConverged(t, h, "accounts", "contacts", "leads")
}

// TestDeleteAndRecreateInOneDelta: Dataverse sends the row and then its
// tombstone; the row exists, so the mirror keeps it.
func TestDeleteAndRecreateInOneDelta(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 5, cfg: smallPages})
	h.run(t, syncer.OutcomeSynced)
	id := dataversesim.SeedID("accounts", 2)
	if err := h.sim.DeleteRow("accounts", id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.CreateRow("accounts", map[string]any{"accountid": id, "name": "Back again"}); err != nil {
		t.Fatal(err)
	}
	res := h.run(t, syncer.OutcomeSynced)
	if s := setResult(t, res, "accounts"); s.Upserted != 1 || s.Deleted != 0 {
		t.Errorf("sync = %+v, want the row upserted and its tombstone dropped", s)
	}
	if got := string(h.mirrorOf(t, "accounts")[id]); !strings.Contains(got, "Back again") {
		t.Errorf("mirror of the recreated row = %q", got)
	}
	assertConverged(t, h, "accounts")
}

// TestExpiredDeltaTokenResyncs: after the token expires the set is read in
// full; rows deleted meanwhile leave the mirror, the row changed meanwhile
// is logged, and the unchanged rows are not logged again (the app
// downloads only what changed).
func TestExpiredDeltaTokenResyncs(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 30, cfg: smallPages})
	h.run(t, syncer.OutcomeSynced)
	for i := range 4 {
		if err := h.sim.DeleteRow("accounts", dataversesim.SeedID("accounts", i)); err != nil {
			t.Fatal(err)
		}
	}
	changed := dataversesim.SeedID("accounts", 10)
	if err := h.sim.UpdateRow("accounts", changed, map[string]any{"name": "Changed while the token expired"}); err != nil {
		t.Fatal(err)
	}
	h.sim.ExpireDeltaTokens()
	res := h.run(t, syncer.OutcomeSynced)
	if s := setResult(t, res, "accounts"); !s.Full || s.Deleted != 4 || s.Upserted != 1 {
		t.Errorf("resync = %+v, want a full read logging the 1 changed row and sweeping the 4 deleted", s)
	}
	assertConverged(t, h, "accounts", "contacts")
	res = h.run(t, syncer.OutcomeSynced)
	if s := setResult(t, res, "accounts"); s.Full || s.Requests != 1 {
		t.Errorf("the sync after the resync = %+v, want an incremental read", s)
	}
}

// TestWatermarkReconcileRemovesDeletedLeads: leads have no change
// tracking; a deletion shows at the reconcile.
func TestWatermarkReconcileRemovesDeletedLeads(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 25, cfg: smallPages, tuning: func(tu *config.SyncTuning) { tu.ReconcileInterval = time.Nanosecond }})
	res := h.run(t, syncer.OutcomeSynced)
	if s := setResult(t, res, "leads"); s.Mode != store.ModeWatermark {
		t.Fatalf("leads synced by %s, want the watermark", s.Mode)
	}
	if err := h.sim.DeleteRow("leads", dataversesim.SeedID("leads", 4)); err != nil {
		t.Fatal(err)
	}
	res = h.run(t, syncer.OutcomeSynced)
	if s := setResult(t, res, "leads"); s.Deleted != 1 || s.Upserted != 0 {
		t.Errorf("sync with reconcile = %+v, want the deleted lead removed and nothing upserted", s)
	}
	assertConverged(t, h, "leads")
}

// TestFiltersOnEverySet: a filter keeps only the rows it matches, on a
// change-tracked set as on one without change tracking; the columns read
// only for the filter are not stored; an unknown set fails alone.
func TestFiltersOnEverySet(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 4, cfg: `{"entitySets":[{"name":"accounts","select":["name"],"filter":"statecode eq 0 and name ne null"},{"name":"leads","select":["subject"],"filter":"statecode eq 1"},{"name":"nosuchthings","select":["x"]}]}`})
	inactive := dataversesim.SeedID("accounts", 2)
	if err := h.sim.UpdateRow("accounts", inactive, map[string]any{"statecode": 1}); err != nil {
		t.Fatal(err)
	}
	closed := dataversesim.SeedID("leads", 1)
	if err := h.sim.UpdateRow("leads", closed, map[string]any{"statecode": 1}); err != nil {
		t.Fatal(err)
	}
	res := h.run(t, syncer.OutcomeSynced)
	if s := res.Sets[0]; s.Err != nil || s.Upserted != 3 {
		t.Errorf("accounts with a filter = %+v, want the 3 active ones", s)
	}
	if s := res.Sets[1]; s.Err != nil || s.Upserted != 1 {
		t.Errorf("leads with a filter = %+v, want the 1 with statecode 1", s)
	}
	if err := res.Sets[2].Err; err == nil || !strings.Contains(err.Error(), `no entity set "nosuchthings"`) {
		t.Errorf("unknown set: %v", err)
	}
	accounts := h.mirrorOf(t, "accounts")
	if _, ok := accounts[inactive]; ok || len(accounts) != 3 {
		t.Errorf("mirrored accounts = %v, want the 3 active ones", keys(accounts))
	}
	for id, row := range accounts {
		if strings.Contains(string(row), "statecode") {
			t.Errorf("account %s is stored with the column read only for the filter: %s", id, row)
		}
	}
	if leads := h.mirrorOf(t, "leads"); len(leads) != 1 || leads[closed] == nil {
		t.Errorf("mirrored leads = %v, want only %s", keys(leads), closed)
	}
	// Without change tracking the next read sees the last minute's rows
	// again; unchanged, they are not logged again, though the mirror keeps
	// them without the filter's column.
	res = h.run(t, syncer.OutcomeSynced)
	if s := res.Sets[1]; s.Err != nil || s.Upserted != 0 || s.Deleted != 0 {
		t.Errorf("leads again with nothing changed = %+v, want nothing written", s)
	}
}

// TestLeaseHeldReschedules: a job for a user whose lease another worker
// holds is rescheduled after the lease expires; an expired lease is taken over.
func TestLeaseHeldReschedules(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 2, cfg: smallPages})
	ctx := context.Background()
	until := time.Now().Add(time.Minute).Truncate(time.Second)
	if _, err := h.states.CreateLease(ctx, h.tenant, h.user, store.Lease{Owner: "other-worker", Until: until, NextSeq: 1}); err != nil {
		t.Fatal(err)
	}
	before := h.sim.Requests()
	res := h.run(t, syncer.OutcomeLeaseHeld)
	if !res.RetryAt.Equal(until.Add(time.Second)) || len(h.requeue.jobs) != 1 || !h.requeue.at[0].Equal(res.RetryAt) {
		t.Errorf("RetryAt = %s, scheduled %v at %v; want one job at %s", res.RetryAt, h.requeue.jobs, h.requeue.at, until.Add(time.Second))
	}
	if h.sim.Requests() != before {
		t.Errorf("the worker without the lease sent %d requests to Dataverse", h.sim.Requests()-before)
	}
	l, err := h.states.Lease(ctx, h.tenant, h.user)
	if err != nil {
		t.Fatal(err)
	}
	l.Until = time.Now().Add(-time.Second)
	if _, err := h.states.UpdateLease(ctx, h.tenant, h.user, l); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	if l, _ := h.states.Lease(ctx, h.tenant, h.user); l.Owner != "" {
		t.Errorf("after the run the lease is held by %q, want it released", l.Owner)
	}
}

// TestThrottling: a short Retry-After is waited out; a long one
// reschedules the job and releases the lease.
func TestThrottling(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 60, cfg: smallPages})
	h.sim.SetThrottle(dataversesim.Throttle{Requests: 4, Window: 2 * time.Second})
	res := h.run(t, syncer.OutcomeSynced)
	for _, s := range res.Sets {
		if s.Err != nil {
			t.Errorf("%s under short throttling: %v", s.EntitySet, s.Err)
		}
	}
	assertConverged(t, h, "accounts", "contacts", "leads")

	h.sim.SetThrottle(dataversesim.Throttle{Requests: 1, Window: 300 * time.Second})
	if err := h.sim.UpdateRow("accounts", dataversesim.SeedID("accounts", 1), map[string]any{"name": "x"}); err != nil {
		t.Fatal(err)
	}
	res = h.run(t, syncer.OutcomeThrottled) // accounts takes the one request, contacts is refused
	if s := res.Sets[0]; s.Err != nil || s.Upserted != 1 {
		t.Errorf("accounts before the limit = %+v", s)
	}
	if wait := time.Until(res.RetryAt); wait < time.Minute || wait > 301*time.Second || len(h.requeue.jobs) != 1 {
		t.Errorf("throttled: retry in %s, %d jobs scheduled; want one job within Dataverse's window", wait, len(h.requeue.jobs))
	}
	if l, _ := h.states.Lease(context.Background(), h.tenant, h.user); l.Owner != "" {
		t.Errorf("after a throttled run the lease is held by %q, want it released", l.Owner)
	}
	states, _ := h.states.Sets(context.Background(), h.tenant, h.user)
	if !strings.Contains(states["contacts"].LastError, "429") || states["accounts"].LastError != "" {
		t.Errorf("syncstate errors = %q, %q; want the 429 on contacts only", states["accounts"].LastError, states["contacts"].LastError)
	}
}

// TestWatermarkOverlapCatchesLateCommits: a lead whose modifiedon is
// older than the watermark (its transaction committed late) is still
// synced, and the rows of the overlap the mirror holds unchanged are not
// logged again.
func TestWatermarkOverlapCatchesLateCommits(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 10, cfg: smallPages, tuning: func(tu *config.SyncTuning) { tu.WatermarkOverlap = 5 * time.Minute }})
	h.run(t, syncer.OutcomeSynced)
	h.sim.Advance(-30 * time.Second)
	id, err := h.sim.CreateRow("leads", map[string]any{"subject": "Committed late", "companyname": "Late Ltd", "emailaddress1": "late@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	h.sim.Advance(30 * time.Second)
	res := h.run(t, syncer.OutcomeSynced)
	s := setResult(t, res, "leads")
	if s.Upserted != 1 || s.Pages != 1 {
		t.Errorf("sync after a late commit = %+v, want the one new lead (the 10 unchanged ones re-read and skipped)", s)
	}
	if got := string(h.mirrorOf(t, "leads")[strings.ToLower(id)]); !strings.Contains(got, "Committed late") {
		t.Errorf("mirror of the late lead = %q", got)
	}
	assertConverged(t, h, "leads")
}

package syncer_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// onePagePerRun is a time budget every page overruns: each run of a full
// read persists one page, checkpoints and hands over to a continuation.
func onePagePerRun(tu *config.SyncTuning) { tu.TimeBudget = time.Nanosecond }

// runChain runs job and then each continuation it queues, as Service Bus
// would deliver them, until a run ends otherwise; it fails the test unless
// that run ends with want. It returns every run's result.
func runChain(t *testing.T, h *harness, job queue.SyncJob, want string) []syncer.Result {
	t.Helper()
	var results []syncer.Result
	for part := 1; part <= 100; part++ {
		queued := len(h.requeue.jobs)
		res, err := h.worker.Run(context.Background(), job)
		if err != nil {
			t.Fatalf("run %d: %v", part, err)
		}
		results = append(results, res)
		if res.Outcome != syncer.OutcomeContinued {
			if res.Outcome != want {
				t.Fatalf("run %d ended %s, want %s (sets %+v)", part, res.Outcome, want, res.Sets)
			}
			return results
		}
		if len(h.requeue.jobs) != queued+1 {
			t.Fatalf("run %d continued but queued %d jobs, want 1", part, len(h.requeue.jobs)-queued)
		}
		next := h.requeue.jobs[queued]
		if next.Reason != queue.ReasonContinuation || next.Part != job.Part+1 || next.Slot != job.Slot || next.MessageID() == job.MessageID() {
			t.Fatalf("run %d queued %+v after %+v; want the next part of the same slot", part, next, job)
		}
		job = next
	}
	t.Fatal("the chain of continuations did not end within 100 runs")
	return nil
}

// pagesOf sums the pages each run read of set.
func pagesOf(t *testing.T, results []syncer.Result, set string) (pages int64) {
	t.Helper()
	for _, res := range results {
		for _, s := range res.Sets {
			if s.EntitySet == set {
				pages += s.Pages
			}
		}
	}
	return pages
}

// TestFullReadContinuesAcrossRuns: with a budget of one page per run, the
// first sync of 5 pages takes 5 runs chained by continuation jobs; no page
// is read twice, and rows edited, created and deleted in Dynamics while
// the read is stopped (before and after its position) reach the mirror by
// the next delta: the delta link of a read that took several runs stands
// for the state when its first page was read.
func TestFullReadContinuesAcrossRuns(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 100, tuning: onePagePerRun,
		cfg: `{"entitySets":[{"name":"accounts","select":["name","accountnumber"],"pageSize":20}]}`})
	job := h.job()
	res, err := h.worker.Run(context.Background(), job)
	if err != nil || res.Outcome != syncer.OutcomeContinued || !res.Sets[0].Continued || res.Sets[0].Upserted != 20 {
		t.Fatalf("first run = %+v, %v; want 20 rows and a continuation", res, err)
	}
	st := h.state(t, "accounts")
	if st.FullKind != store.FullRows || !strings.Contains(st.FullNextLink, "$skiptoken=") || st.FullGeneration != 1 || st.FullRead != 20 || !st.LastSuccess.IsZero() {
		t.Fatalf("checkpoint after the first run = %+v; want a full read at its next link, generation 1, 20 rows, no success yet", st)
	}
	// While the read is stopped, a person edits a row already read and one
	// not yet read, deletes one of each, and creates a row.
	for _, i := range []int{3, 77} {
		if err := h.sim.UpdateRow("accounts", dataversesim.SeedID("accounts", i), map[string]any{"name": "Edited while stopped"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{5, 88} {
		if err := h.sim.DeleteRow("accounts", dataversesim.SeedID("accounts", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.sim.CreateRow("accounts", map[string]any{"name": "Created while stopped"}); err != nil {
		t.Fatal(err)
	}
	results := runChain(t, h, h.requeue.jobs[len(h.requeue.jobs)-1], syncer.OutcomeSynced)
	if got := len(results) + 1; got != 5 {
		t.Errorf("the full read took %d runs, want 5 (one page each)", got)
	}
	if pages := pagesOf(t, results, "accounts") + 1; pages != 5 {
		t.Errorf("the full read read %d pages, want 5: no page twice", pages)
	}
	st = h.state(t, "accounts")
	if st.FullKind != "" || st.DeltaLink == "" || st.Generation != 1 || st.LastSuccess.IsZero() {
		t.Errorf("state after the full read = %+v; want no checkpoint, a delta link, generation 1", st)
	}
	h.run(t, syncer.OutcomeSynced) // the delta brings what changed while the read went on
	assertConverged(t, h, "accounts")
	if got := string(h.mirrorOf(t, "accounts")[dataversesim.SeedID("accounts", 3)]); !strings.Contains(got, "Edited while stopped") {
		t.Errorf("the row edited behind the read's position = %s, want the edit", got)
	}
}

// failingMirror fails every write from the failFrom-th on (1 the first;
// 0 never), as a crash of the store would.
type failingMirror struct {
	syncer.Mirror
	writes, failFrom atomic.Int32
}

func (m *failingMirror) Begin(ctx context.Context, tenant, user, set string, entries []mirror.Entry, gen, first int64) (func() error, error) {
	if n, from := m.writes.Add(1), m.failFrom.Load(); from > 0 && n >= from {
		return nil, errors.New("table storage went away")
	}
	return m.Mirror.Begin(ctx, tenant, user, set, entries, gen, first)
}

// TestFullReadResumesFromCheckpointAfterFailure: a run that dies in the
// middle of a full read (here: storage fails on the fourth page) leaves the
// checkpoint of the last page it persisted; the next job resumes there,
// reading only the failed page again.
func TestFullReadResumesFromCheckpointAfterFailure(t *testing.T) {
	fm := &failingMirror{}
	fm.failFrom.Store(4) // the fourth page's write (a page is read while the one before is written)
	h := newHarness(t, harnessOptions{seed: 100, wrap: func(m syncer.Mirror) syncer.Mirror { fm.Mirror = m; return fm },
		cfg: `{"entitySets":[{"name":"accounts","select":["name"],"pageSize":20}]}`})
	if _, err := h.worker.Run(context.Background(), h.job()); err == nil {
		t.Fatal("the run whose storage failed reported no error; Service Bus would not redeliver it")
	}
	st := h.state(t, "accounts")
	if st.FullRead != 60 || st.FullNextLink == "" || !strings.Contains(st.LastError, "table storage went away") {
		t.Fatalf("state after the failed run = %+v; want the checkpoint after 3 pages and the error", st)
	}
	fm.failFrom.Store(0)
	res := h.run(t, syncer.OutcomeSynced)
	if s := setResult(t, res, "accounts"); s.Pages != 2 || s.Upserted != 40 {
		t.Errorf("the redelivered run = %+v; want the last 2 pages (40 rows) only", s)
	}
	assertConverged(t, h, "accounts")
}

// TestExpiredTokenFullReadAcrossRuns: after the delta token expires the
// set is read again in full over several runs with a new generation, and
// the rows deleted meanwhile are swept only at its end.
func TestExpiredTokenFullReadAcrossRuns(t *testing.T) {
	budget := time.Hour
	h := newHarness(t, harnessOptions{seed: 60, tuning: func(tu *config.SyncTuning) { tu.TimeBudget = budget },
		cfg: `{"entitySets":[{"name":"accounts","select":["name"],"pageSize":20}]}`})
	h.run(t, syncer.OutcomeSynced)
	for _, i := range []int{1, 59} {
		if err := h.sim.DeleteRow("accounts", dataversesim.SeedID("accounts", i)); err != nil {
			t.Fatal(err)
		}
	}
	h.sim.ExpireDeltaTokens()
	h.tuning.TimeBudget = time.Nanosecond
	h.worker = h.newWorker()
	results := runChain(t, h, h.job(), syncer.OutcomeSynced)
	if len(results) != 3 {
		t.Errorf("the full read of 58 rows took %d runs, want 3 (one page each)", len(results))
	}
	var deleted int64
	for i, res := range results {
		s := res.Sets[0]
		deleted += s.Deleted
		if i < len(results)-1 && s.Deleted != 0 {
			t.Errorf("run %d swept %d rows before the full read ended", i+1, s.Deleted)
		}
	}
	if deleted != 2 {
		t.Errorf("the full read swept %d rows, want the 2 deleted", deleted)
	}
	if st := h.state(t, "accounts"); st.Generation != 2 || st.FullKind != "" {
		t.Errorf("state = %+v, want generation 2 and no checkpoint", st)
	}
	assertConverged(t, h, "accounts")
}

// TestRefusedCheckpointStartsOver: a stored paging link Dataverse refuses
// starts the full read over with a new generation, and what the abandoned
// read saw of rows deleted since does not survive.
func TestRefusedCheckpointStartsOver(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 50, tuning: onePagePerRun,
		cfg: `{"entitySets":[{"name":"accounts","select":["name"],"pageSize":20}]}`})
	if res, err := h.worker.Run(context.Background(), h.job()); err != nil || res.Outcome != syncer.OutcomeContinued {
		t.Fatalf("first run = %+v, %v", res, err)
	}
	st := h.state(t, "accounts")
	seen := dataversesim.SeedID("accounts", 0) // read by the first page
	if _, ok := h.mirrorOf(t, "accounts")[seen]; !ok {
		t.Fatalf("the first page did not bring %s", seen)
	}
	if err := h.sim.DeleteRow("accounts", seen); err != nil {
		t.Fatal(err)
	}
	base, _, _ := strings.Cut(st.FullNextLink, "$skiptoken=")
	st.FullNextLink = base + "$skiptoken=no-longer-a-cookie"
	if err := h.states.PutSet(context.Background(), h.tenant, h.user, st); err != nil {
		t.Fatal(err)
	}
	runChain(t, h, h.job(), syncer.OutcomeSynced)
	if st := h.state(t, "accounts"); st.Generation != 2 {
		t.Errorf("generation after starting over = %d, want 2", st.Generation)
	}
	assertConverged(t, h, "accounts")
}

// TestColumnsChangedDuringFullRead: a full read in progress reads the old
// columns; when the configuration changes, it is abandoned and the set is
// read in full with the new columns.
func TestColumnsChangedDuringFullRead(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 50, tuning: onePagePerRun,
		cfg: `{"entitySets":[{"name":"accounts","select":["name"],"pageSize":20}]}`})
	if res, err := h.worker.Run(context.Background(), h.job()); err != nil || res.Outcome != syncer.OutcomeContinued {
		t.Fatalf("first run = %+v, %v", res, err)
	}
	var err error
	if h.cfg, err = syncconfig.Parse(`{"entitySets":[{"name":"accounts","select":["name","telephone1"],"pageSize":20}]}`); err != nil {
		t.Fatal(err)
	}
	h.worker = h.newWorker()
	results := runChain(t, h, h.job(), syncer.OutcomeSynced)
	if pages := pagesOf(t, results, "accounts"); pages != 3 {
		t.Errorf("the read with the new columns took %d pages, want all 3", pages)
	}
	for id, row := range h.mirrorOf(t, "accounts") {
		if !strings.Contains(string(row), `"telephone1"`) {
			t.Errorf("row %s = %s, want the new column", id, row)
			break
		}
	}
	if st := h.state(t, "accounts"); st.Generation != 2 {
		t.Errorf("generation = %d, want 2 (the abandoned read had 1)", st.Generation)
	}
	assertConverged(t, h, "accounts")
}

// TestWatermarkFullReadAndReconcileAcrossRuns: a table without change
// tracking is read in full and reconciled over several runs; rows changed
// while the reconcile is in progress are synced after it, none swept.
func TestWatermarkFullReadAndReconcileAcrossRuns(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 45, tuning: func(tu *config.SyncTuning) {
		onePagePerRun(tu)
		tu.WatermarkOverlap, tu.ReconcileInterval = 0, time.Nanosecond
	}, cfg: `{"entitySets":[{"name":"leads","select":["subject"],"pageSize":20}]}`})
	results := runChain(t, h, h.job(), syncer.OutcomeSynced)
	if len(results) != 3 || pagesOf(t, results, "leads") != 3 {
		t.Errorf("the first read of 45 leads took %d runs, %d pages; want 3 and 3", len(results), pagesOf(t, results, "leads"))
	}
	assertConverged(t, h, "leads")

	h.sim.Advance(2 * time.Second)
	if err := h.sim.DeleteRow("leads", dataversesim.SeedID("leads", 30)); err != nil {
		t.Fatal(err)
	}
	// The next run reads the (empty) increment and starts the reconcile.
	res, err := h.worker.Run(context.Background(), h.job())
	if err != nil || res.Outcome != syncer.OutcomeContinued {
		t.Fatalf("run starting the reconcile = %+v, %v", res, err)
	}
	if st := h.state(t, "leads"); st.FullKind != store.FullIDs {
		t.Fatalf("state = %+v, want a reconcile in progress", st)
	}
	edited := dataversesim.SeedID("leads", 2) // its id is behind the reconcile's position
	if err := h.sim.UpdateRow("leads", edited, map[string]any{"subject": "Edited during the reconcile"}); err != nil {
		t.Fatal(err)
	}
	runChain(t, h, h.requeue.jobs[len(h.requeue.jobs)-1], syncer.OutcomeSynced)
	if _, ok := h.mirrorOf(t, "leads")[dataversesim.SeedID("leads", 30)]; ok {
		t.Error("the deleted lead is still in the mirror after the reconcile")
	}
	h.tuning.ReconcileInterval = time.Hour
	h.worker = h.newWorker()
	h.run(t, syncer.OutcomeSynced)
	if got := string(h.mirrorOf(t, "leads")[edited]); !strings.Contains(got, "Edited during the reconcile") {
		t.Errorf("the lead edited during the reconcile = %s, want the edit", got)
	}
	assertConverged(t, h, "leads")
}

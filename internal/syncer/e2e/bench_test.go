package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// benchRows is the size of BenchmarkSyncEndToEnd's table: BENCH_ROWS, or
// 10,000 (scripts/bench.sh sets 100,000; 1,000,000 with BENCH_ROWS).
func benchRows(b *testing.B) int { return testenv.IntEnv(b, "BENCH_ROWS", 10000, 1, 1<<30) }

// benchSyncConfig is one entity set, accounts, with seven columns and the
// default page size (1,000 rows).
const benchSyncConfig = `SYNC_CONFIG={"entitySets":[{"name":"accounts","select":["name","accountnumber","telephone1","emailaddress1","address1_city","statecode","modifiedon"],"pageSize":1000}]}`

// BenchmarkSyncEndToEnd runs the whole connector (funchost, the handler
// binary, Azurite, the Service Bus fake, the simulators): a user signs in
// and the first sync copies BENCH_ROWS accounts into the mirror (in as many
// SyncWorker invocations and continuation jobs as SYNC_TIME_BUDGET needs);
// then a person changes 20 rows in Dynamics and one sync job brings them.
// It fails unless the app's view (the Changes API replayed) holds exactly
// the simulator's rows, each logged once by the full sync, and exactly the
// 20 changes after it. Run it with scripts/bench.sh (-benchtime 1x).
//
// Metrics: full-rows/s (sign-in to the sync's success), full-dv-req/row
// (requests to the Dataverse environment), full-table-tx/row (requests the
// handler sent to Table Storage: each is one billed transaction),
// full-lost and full-dup (rows missing from, or logged more than once in,
// the app's view), full-runs (SyncWorker invocations), peak-rss-MB (the
// handler's VmHWM after the full sync), incr-s, incr-dv-req,
// incr-table-tx (the incremental sync of 20 changes).
func BenchmarkSyncEndToEnd(b *testing.B) {
	rows := benchRows(b)
	for range b.N {
		var dvRequests atomic.Int64
		w := testworld.Start(b, testworld.Options{
			Dataverse:     dataversesim.Options{Seed: 1},
			DataverseHook: func(*http.Request) { dvRequests.Add(1) },
			CountStorage:  true,
			Settings:      []string{"LOG_LEVEL=info", "AzureWebJobs.SyncScheduler.Disabled=true", benchSyncConfig},
		})
		if err := w.Dataverse.Seed(rows, "accounts"); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		u := w.Connect(b, "dave@fabrikam.example") // the sign-in queues the first sync
		st := waitSynced(b, w, u, start, 10*time.Minute+time.Duration(rows)*5*time.Millisecond)
		elapsed := time.Since(start)
		b.StopTimer()
		full := w.StorageRequests(b)
		fullDV := dvRequests.Load()
		rss := w.HandlerPeakRSS(b)
		if st.FullKind != "" || st.DeltaLink == "" {
			b.Errorf("state after the full sync = %+v, want a delta link and no checkpoint", st)
		}

		token := w.DeviceToken(b, u.UPN)
		changes, cursor := w.Changes(b, token, "", 1000)
		lost, dup := compare(changes, allIDs(b, w, "accounts"))
		if lost != 0 || dup != 0 {
			b.Errorf("full sync of %d rows: %d lost, %d logged twice", rows, lost, dup)
		}

		edits := changeRows(b, w, rows)
		beforeDV, beforeTable := dvRequests.Load(), w.StorageRequests(b).Table
		startIncr := time.Now()
		w.SendSyncJob(b, u, startIncr)
		waitSynced(b, w, u, startIncr, 2*time.Minute)
		incr := time.Since(startIncr)
		incrDV, incrTable := dvRequests.Load()-beforeDV, w.StorageRequests(b).Table-beforeTable
		delta, _ := w.Changes(b, token, cursor, 1000)
		if len(delta) != len(edits) {
			b.Errorf("the incremental sync logged %d changes, want the %d made", len(delta), len(edits))
		}
		for _, c := range delta {
			if edits[c.ID] != c.Op {
				b.Errorf("unexpected change %s %s", c.Op, c.ID)
			}
		}

		b.ReportMetric(float64(rows)/elapsed.Seconds(), "full-rows/s")
		b.ReportMetric(float64(fullDV)/float64(rows), "full-dv-req/row")
		b.ReportMetric(float64(full.Table)/float64(rows), "full-table-tx/row")
		b.ReportMetric(float64(lost), "full-lost")
		b.ReportMetric(float64(dup), "full-dup")
		b.ReportMetric(float64(1+strings.Count(w.Logs(), "a continuation job goes on from its checkpoint")), "full-runs")
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
		b.ReportMetric(incr.Seconds(), "incr-s")
		b.ReportMetric(float64(incrDV), "incr-dv-req")
		b.ReportMetric(float64(incrTable), "incr-table-tx")
	}
}

// waitSynced polls the sync state of u's accounts and their notes (every
// 250 ms, so the polling costs Azurite little) until both succeeded after
// since, and returns the accounts'.
func waitSynced(b *testing.B, w *testworld.World, u testworld.User, since time.Time, timeout time.Duration) store.SetState {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sets := w.SyncStates(b, u)
		st := sets["accounts"]
		if st.LastSuccess.After(since) && sets["annotations"].LastSuccess.After(since) {
			return st
		}
		if time.Now().After(deadline) {
			b.Fatalf("accounts not synced within %s: %+v", timeout, st)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// compare counts the simulator's rows missing from the app's view (or
// there but not in the simulator) and the changes beyond one per row.
func compare(changes []testworld.Change, want map[string]bool) (lost, dup int) {
	got := testworld.Replay(changes)["accounts"]
	for id := range want {
		if _, ok := got[id]; !ok {
			lost++
		}
	}
	for id := range got {
		if !want[id] {
			lost++
		}
	}
	return lost, len(changes) - len(got)
}

// changeRows edits 10 accounts, creates 5 and deletes 5, as people using
// Dynamics between two syncs, and returns the change each should log.
func changeRows(b *testing.B, w *testworld.World, rows int) map[string]string {
	b.Helper()
	want := map[string]string{}
	for i := range 10 {
		id := dataversesim.SeedID("accounts", i*rows/10)
		if err := w.Dataverse.UpdateRow("accounts", id, map[string]any{"name": "Edited " + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
		want[id] = "upsert"
	}
	for i := range 5 {
		id, err := w.Dataverse.CreateRow("accounts", map[string]any{"name": "Created " + strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		want[strings.ToLower(id)] = "upsert"
	}
	for i := range 5 {
		id := dataversesim.SeedID("accounts", i*rows/10+1)
		if err := w.Dataverse.DeleteRow("accounts", id); err != nil {
			b.Fatal(err)
		}
		want[id] = "delete"
	}
	return want
}

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
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

// benchColumns are the columns the sync reads: benchSyncConfig's and the
// primary key.
var benchColumns = []string{"name", "accountnumber", "telephone1", "emailaddress1", "address1_city", "statecode", "modifiedon", "accountid"}

// benchRounds is how many users BenchmarkSyncEndToEnd syncs one after
// another, each between two bare writes: BENCH_ROUNDS, or 5 up to 10,000
// rows and 1 above (this machine's speed drifts by a quarter over tens of
// seconds; the median of rounds compared with their neighbours holds).
func benchRounds(b *testing.B, rows int) int {
	def := 1
	if rows <= 10000 {
		def = 5
	}
	return testenv.IntEnv(b, "BENCH_ROUNDS", def, 1, 9)
}

// largeRows is the largest sync the benchmark compares with bare writes
// and reads back through the Changes API. Above it, it only syncs and
// checks the tables: Azurite answers every page of a filtered query by
// running the filter over the whole table, so reading N changes back costs
// it N²/1,000 filter runs (a million: over half an hour), and Azurite's
// inserts slow as a table grows, so two bare writes of a million rows
// would take longer than the sync. Every size is checked by reading both
// tables in full (checkStored), which costs Azurite far less a page.
const largeRows = 200000

// BenchmarkSyncEndToEnd runs the whole connector (funchost, the handler
// binary, Azurite, the Service Bus fake, the simulators) against the raw
// limits of the same services, in one run (sub-benchmark rows=BENCH_ROWS):
// a bare reader reads the rows from the simulator, and then, round by
// round, a user signs in, whose first sync copies them into the mirror (in
// as many SyncWorker invocations as SYNC_TIME_BUDGET needs), between two
// bare writes of them into Table Storage (up to largeRows). Then a person
// changes 20 rows in Dynamics and one sync job brings them to the first
// user. It fails unless every user's mirror and change log hold exactly
// the simulator's rows (id and etag), each logged once, the app's view
// (the Changes API replayed, up to largeRows rows) too, and the first
// user's app gets exactly the 20 changes after.
// Run it with scripts/bench.sh (-benchtime 1x).
//
// Metrics (medians of the rounds): full-rows/s (from the sign-in's
// connection to the sync's recorded success), bare-read-rows/s and
// bare-write-rows/s, full-ratio (each round's rows/s over the slower of
// the bare reader and the mean of the bare writes around it), full-dv-req/row
// (requests to the Dataverse environment), full-table-tx/row (requests the
// handler sent to Table Storage: each is one billed transaction),
// full-lost, full-dup and full-wrong (rows missing, logged more than once,
// or with another version than the simulator's, in any round), full-runs
// (SyncWorker invocations), peak-rss-MB (the handler's VmHWM), check-s
// (reading the mirror and the change log in full to check them), changes-ms
// and bare-changes-ms (reading 1,000 changes through /api/changes, and the
// same Table query alone, averaged over the first user's log), incr-s,
// incr-dv-req, incr-table-tx (the incremental sync of 20 changes).
func BenchmarkSyncEndToEnd(b *testing.B) {
	rows := benchRows(b)
	b.Run("rows="+strconv.Itoa(rows), func(b *testing.B) {
		for range b.N {
			syncEndToEnd(b, rows, benchRounds(b, rows))
		}
	})
}

func syncEndToEnd(b *testing.B, rows, rounds int) {
	var dvRequests atomic.Int64
	w := testworld.Start(b, testworld.Options{
		Dataverse:     dataversesim.Options{Seed: 1},
		DataverseHook: func(*http.Request) { dvRequests.Add(1) },
		CountStorage:  true,
		CPUProfile:    os.Getenv("BENCH_CPU_PROFILE"),
		Organisations: []testworld.Organisation{{Domain: "bench.example", Users: rounds}},
		Settings:      []string{"LOG_LEVEL=info", "AzureWebJobs.SyncScheduler.Disabled=true", benchSyncConfig},
	})
	if err := w.Dataverse.Seed(rows, "accounts"); err != nil {
		b.Fatal(err)
	}
	w.Approve(b, "admin@bench.example")
	read, readRate, want := bareRead(b, w, "user1@bench.example", "accounts", selectQuery(benchColumns...))
	if read != rows || len(want.etags) != rows {
		b.Fatalf("the bare reader read %d rows (%d ids), want %d", read, len(want.etags), rows)
	}
	// Azurite (Node) runs slowly until its code is optimised: it is warmed
	// up first, for the bare writer and the sync alike. Each round is
	// compared with a bare write just before it and one just after, each
	// into tables of their own that grow by a partition a round, as the
	// sync's do by a user: all three write into tables of the same size.
	storage := w.Settings["AzureWebJobsStorage"] // the handler's way to Storage
	bare := rows <= largeRows
	var before, after bareTables
	if bare {
		bareWrite(b, newBareTables(b, storage), min(rows, 5000), want.sample)
		before, after = newBareTables(b, storage), newBareTables(b, storage)
	}
	var rates, ratios, writes []float64
	var users []testworld.User
	var tableTx, dvReq int64
	b.ResetTimer()
	for i := range rounds {
		var writeBefore float64
		if bare {
			b.StopTimer()
			writeBefore = bareWrite(b, before, rows, want.sample)
			b.StartTimer()
		}
		beforeTable, beforeDV := w.StorageRequests(b).Table, dvRequests.Load()
		start := time.Now()
		u := w.SignIn(b, fmt.Sprintf("user%d@bench.example", i+1)) // the sign-in queues the first sync
		b.Logf("%s round %d: %s signed in", time.Now().Format(time.TimeOnly), i+1, u.UPN)
		st := waitSynced(b, w, u, start, 10*time.Minute+time.Duration(rows)*5*time.Millisecond)
		took := syncTime(b, w, u)
		if st.FullKind != "" || st.DeltaLink == "" {
			b.Errorf("state after the full sync = %+v, want a delta link and no checkpoint", st)
		}
		tableTx += w.StorageRequests(b).Table - beforeTable
		dvReq += dvRequests.Load() - beforeDV
		rate := float64(rows) / took.Seconds()
		rates = append(rates, rate)
		users = append(users, u)
		if bare {
			b.StopTimer()
			writeAfter := bareWrite(b, after, rows, want.sample)
			b.StartTimer()
			writes = append(writes, writeBefore, writeAfter)
			ratios = append(ratios, rate/min(readRate, (writeBefore+writeAfter)/2))
			b.Logf("%s round %d: %.0f rows/s, bare writes %.0f and %.0f rows/s: %.2f×", time.Now().Format(time.TimeOnly), i+1, rate, writeBefore, writeAfter, ratios[i])
		} else {
			b.Logf("%s round %d: %.0f rows/s", time.Now().Format(time.TimeOnly), i+1, rate)
		}
	}
	b.StopTimer()
	if os.Getenv("BENCH_CPU_PROFILE") != "" {
		w.StopCPUProfile(b)
	}
	rss := w.HandlerPeakRSS(b)

	var lost, dup, wrong int
	var cursor, token string
	var changesMs, bareChangesMs float64
	checks, checkTook := checkStored(b, w, users, "accounts", want.etags)
	for i, c := range checks {
		lost, dup, wrong = lost+c.lost, dup+c.dup, wrong+c.wrong
		if i == 0 {
			cursor = strconv.FormatInt(c.lastSeq, 10)
		}
	}
	if rows <= largeRows {
		u := users[0]
		token = w.DeviceToken(b, u.UPN)
		start := time.Now()
		var changes []testworld.Change
		changes, cursor = w.Changes(b, token, "", 1000)
		changesMs = float64(time.Since(start).Milliseconds()) / float64(len(changes)) * 1000
		bareChangesMs = bareChanges(b, w, u, len(changes)) / float64(len(changes)) * 1000
		l, d := compare(changes, allIDs(b, w, "accounts"))
		lost, dup = lost+l, dup+d
	}
	if lost != 0 || dup != 0 || wrong != 0 {
		b.Errorf("full syncs of %d rows: %d lost, %d logged twice, %d with another version", rows, lost, dup, wrong)
	}

	u := users[0]
	if token == "" {
		token = w.DeviceToken(b, u.UPN)
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

	b.ReportMetric(median(rates), "full-rows/s")
	b.ReportMetric(readRate, "bare-read-rows/s")
	if bare {
		b.ReportMetric(median(writes), "bare-write-rows/s")
		b.ReportMetric(median(ratios), "full-ratio")
	}
	b.ReportMetric(float64(dvReq)/float64(rows*rounds), "full-dv-req/row")
	b.ReportMetric(float64(tableTx)/float64(rows*rounds), "full-table-tx/row")
	b.ReportMetric(float64(lost), "full-lost")
	b.ReportMetric(float64(dup), "full-dup")
	b.ReportMetric(float64(wrong), "full-wrong")
	b.ReportMetric(float64(rounds+strings.Count(w.Logs(), "a continuation job goes on from its checkpoint"))/float64(rounds), "full-runs")
	b.ReportMetric(float64(rounds), "rounds")
	b.ReportMetric(checkTook.Seconds(), "check-s")
	b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
	if changesMs > 0 {
		b.ReportMetric(changesMs, "changes-ms")
		b.ReportMetric(bareChangesMs, "bare-changes-ms")
	}
	b.ReportMetric(incr.Seconds(), "incr-s")
	b.ReportMetric(float64(incrDV), "incr-dv-req")
	b.ReportMetric(float64(incrTable), "incr-table-tx")
}

// median is the middle of vs (the mean of the two middle ones).
func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
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

// syncTime is how long u's first sync took as the handler recorded it:
// from the connection's creation (the sign-in queues the job right after)
// to the success of its last set, the notes.
func syncTime(b *testing.B, w *testworld.World, u testworld.User) time.Duration {
	b.Helper()
	conn, err := store.NewConnections(w.DB).Get(context.Background(), u.TenantID, u.OID)
	if err != nil {
		b.Fatal(err)
	}
	return w.SyncStates(b, u)["annotations"].LastSuccess.Sub(conn.ConnectedAt)
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

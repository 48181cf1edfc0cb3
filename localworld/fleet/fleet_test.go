package fleet_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pitcher/connector/localworld/chaos"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/fleet"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// syncedSets are the sets of the default SYNC_CONFIG, which the fleet runs.
var syncedSets = []string{"accounts", "contacts", "appointments"}

// editedColumn is the column the editor changes in each set.
var editedColumn = map[string]string{"accounts": "telephone1", "contacts": "jobtitle", "appointments": "location"}

// BenchmarkFleet runs the whole connector through funchost for a fleet:
// FLEET_USERS users (2,000) in FLEET_TENANTS organisations (20), the
// first holding half of them, each user seeing FLEET_ROWS rows of each of
// the three default sets (17: about 50 rows a user). Every user signs in
// (their first sync follows); then, with SYNC_INTERVAL of
// FLEET_INTERVAL_MINUTES (5) and the scheduler at the top of every minute,
// FLEET_TICKS intervals (2) of steady state while an editor changes a row
// of each set FLEET_EDITS times an interval (1; every user sees every row,
// so each scheduled sync carries 3 × FLEET_EDITS changes); then the editor
// stops, one more interval goes by, a quiet interval is measured (every
// sync finds nothing changed), and every user's app view (the Changes API
// replayed from the start) is checked against Dynamics.
//
// It reports the first syncs' rate, the scheduled syncs of the steady
// intervals (per user per tick: 1 when nobody is skipped or synced
// twice), the lag between a user's due moment and the end of their sync
// per tenant size (p50/p95/p99), Dataverse requests and Table
// transactions per user per tick (and per user in the quiet interval), the
// scheduler's runs, jobs per second, and the handler's peak RSS. With
// FLEET_CHECK=1 (make bench-ci) it fails when a structural ratio crosses
// its bound (see check).
//
// Run it with scripts/bench-fleet.sh (make bench-fleet), which starts a
// fresh Azurite and Service Bus fake for it.
func BenchmarkFleet(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement: -benchtime 1x")
	}
	users := testenv.IntEnv(b, "FLEET_USERS", 2000, 4, 20000)
	tenants := testenv.IntEnv(b, "FLEET_TENANTS", 20, 2, min(users/2, 500))
	rows := testenv.IntEnv(b, "FLEET_ROWS", 17, 1, 1000)
	ticks := testenv.IntEnv(b, "FLEET_TICKS", 2, 1, 60)
	interval := time.Duration(testenv.IntEnv(b, "FLEET_INTERVAL_MINUTES", 5, 1, 60)) * time.Minute
	editsPerInterval := testenv.IntEnv(b, "FLEET_EDITS", 1, 1, 60)

	orgs := make([]testworld.Organisation, tenants)
	for i := range orgs {
		n := (users - users/2) / (tenants - 1)
		if i == 0 {
			n = users / 2
		} else if i <= (users-users/2)%(tenants-1) {
			n++
		}
		orgs[i] = testworld.Organisation{Domain: fmt.Sprintf("org%02d.example", i), Users: n}
	}
	w := testworld.Start(b, testworld.Options{
		Organisations: orgs,
		Dataverse:     dataversesim.Options{Seed: rows},
		CountStorage:  true,
		Settings:      []string{fmt.Sprintf("SYNC_INTERVAL=%dm", interval/time.Minute), "SYNC_SCHEDULE=0 * * * * *", "LOG_LEVEL=info"},
	})
	pseudo := testworld.Pseudonyms()
	large := map[string]bool{} // the large tenant's users, by pseudonym
	var upns []string
	for i, o := range orgs {
		for k := 1; k <= o.Users; k++ {
			upn := fmt.Sprintf("user%d@%s", k, o.Domain)
			upns = append(upns, upn)
			if i == 0 {
				u := w.User(b, upn)
				large[pseudo.User(u.TenantID, u.OID)] = true
			}
		}
	}
	var log fleet.Log
	var read int
	feed := func() {
		all := w.Logs()
		log.Feed(all[read:])
		read = len(all)
	}

	// Onboarding: each organisation's administrator approves, then every
	// user signs in, 8 at a time; each sign-in queues the user's first sync.
	start := time.Now()
	for _, o := range orgs {
		w.Approve(b, "admin@"+o.Domain)
	}
	if err := signInAll(w, upns, 8); err != nil {
		b.Fatal(err)
	}
	signedIn := time.Since(start)
	all := func(s fleet.Sync) bool { return true }
	initial := func(s fleet.Sync) bool { return s.Reason == "initial" }
	b.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(testworld.RepoRoot(b), ".run", "bench-fleet-handler.log"), []byte(w.Logs()), 0o644)
	})
	waitFor(b, "every user's first sync", 15*time.Minute, func() (bool, string) {
		feed()
		n := len(log.Syncs(len(syncedSets), initial))
		return n >= users, fmt.Sprintf("%d of %d users' first syncs logged", n, users)
	})
	firstSyncs := time.Since(start)

	// Steady state: whole intervals, an editor at work, from an interval
	// and a minute on: the users who signed in after the first scheduler
	// run had read the index, in its minute, are queued by the next run,
	// late (a sign-in's settling, by design: they are back at their moment
	// an interval on).
	t0 := time.Now().Truncate(time.Minute).Add(interval + time.Minute)
	waitUntil(t0)
	ctx, stopEditor := context.WithCancel(context.Background())
	type editing struct {
		n   int
		err error
	}
	edits := make(chan editing, 1)
	go func() {
		n, err := edit(ctx, w.Dataverse, rows, interval/time.Duration(editsPerInterval))
		edits <- editing{n, err}
	}()
	dv0, st0 := w.Dataverse.Requests(), w.StorageRequests(b)
	b.ResetTimer()
	t1 := t0.Add(time.Duration(ticks) * interval)
	waitUntil(t1)
	dv1, st1 := w.Dataverse.Requests(), w.StorageRequests(b)
	stopEditor()
	e := <-edits
	if e.err != nil {
		b.Fatalf("the editor stopped after %d edits: %v", e.n, e.err)
	}
	edited := e.n
	// A quiet interval after the next: every sync in it began after the last
	// edit and finds nothing changed since the user's previous sync (which
	// began after t1): what most syncs of a real fleet cost.
	q0, q1 := t1.Add(interval), t1.Add(2*interval)
	waitUntil(q0)
	dvq0, stq0 := w.Dataverse.Requests(), w.StorageRequests(b)
	waitUntil(q1)
	dvq1, stq1 := w.Dataverse.Requests(), w.StorageRequests(b)
	// Every scheduled slot of the steady intervals is synced, and every
	// user in the quiet interval (or the wait fails the run).
	inWindow := func(s fleet.Sync) bool { return s.Reason == "scheduled" && !s.Slot.Before(t0) && s.Slot.Before(t1) }
	inQuiet := func(s fleet.Sync) bool { return s.Reason == "scheduled" && !s.Slot.Before(q0) && s.Slot.Before(q1) }
	waitFor(b, "the steady and the quiet intervals' syncs", interval+2*time.Minute, func() (bool, string) {
		feed()
		steady, quiet := len(log.Syncs(len(syncedSets), inWindow)), covered(log.Syncs(len(syncedSets), inQuiet))
		return steady >= users*ticks && quiet >= users, fmt.Sprintf("%d of %d scheduled syncs of the steady intervals (from %s to %s) logged; %d of %d users synced in the quiet interval",
			steady, users*ticks, t0.Format(time.TimeOnly), t1.Format(time.TimeOnly), quiet, users)
	})
	b.StopTimer()
	rss := w.HandlerPeakRSS(b)

	// The app view of every user equals Dynamics.
	d := chaos.Dynamics{}
	for _, set := range syncedSets {
		d[set] = map[string]chaos.Row{}
		for _, id := range w.Dataverse.IDs(set) {
			if r, ok := w.Dataverse.GetRow(set, id); ok {
				d[set][id] = r
			}
		}
	}
	checked, violations := checkMirrors(b, w, upns, d)

	steady := log.Syncs(len(syncedSets), inWindow)
	perUser := map[string]int{}
	var lagLarge, lagSmall []time.Duration
	var failed int
	for _, s := range steady {
		perUser[s.User]++
		failed += s.Failed
		if large[s.User] {
			lagLarge = append(lagLarge, s.Lag())
		} else {
			lagSmall = append(lagSmall, s.Lag())
		}
	}
	skippedOrTwice := 0
	for _, n := range perUser {
		if n != ticks {
			skippedOrTwice++
		}
	}
	skippedOrTwice += users - len(perUser)
	runs := log.Runs(t0, t1)
	var runTime time.Duration
	var runJobs int
	for _, r := range runs {
		runTime += r.Duration
		runJobs += r.Jobs
	}
	userTicks := float64(users * ticks)
	m := map[string]float64{
		"users":                   float64(users),
		"tenants":                 float64(tenants),
		"signin-users/s":          float64(users) / signedIn.Seconds(),
		"first-syncs-s":           firstSyncs.Seconds(),
		"syncs/user-tick":         float64(len(steady)) / userTicks,
		"users-off-schedule":      float64(skippedOrTwice),
		"sets-failed":             float64(failed),
		"jobs/s":                  float64(len(steady)) / t1.Sub(t0).Seconds(),
		"users-synced/min":        float64(len(steady)) / t1.Sub(t0).Minutes(),
		"dv-requests/user-tick":   float64(dv1-dv0) / userTicks,
		"table-tx/tick":           float64(st1.Table-st0.Table) / float64(ticks),
		"table-tx/user-tick":      float64(st1.Table-st0.Table) / userTicks,
		"blob-tx/tick":            float64(st1.Blob-st0.Blob) / float64(ticks),
		"scheduler-runs":          float64(len(runs)),
		"scheduler-ms/run":        ms(runTime) / float64(max(len(runs), 1)),
		"scheduler-jobs/run":      float64(runJobs) / float64(max(len(runs), 1)),
		"lag-p50-large-ms":        ms(fleet.Percentile(lagLarge, 50)),
		"lag-p95-large-ms":        ms(fleet.Percentile(lagLarge, 95)),
		"lag-p99-large-ms":        ms(fleet.Percentile(lagLarge, 99)),
		"lag-p50-small-ms":        ms(fleet.Percentile(lagSmall, 50)),
		"lag-p95-small-ms":        ms(fleet.Percentile(lagSmall, 95)),
		"lag-p99-small-ms":        ms(fleet.Percentile(lagSmall, 99)),
		"lag-p95-small/large":     ratio(ms(fleet.Percentile(lagSmall, 95)), ms(fleet.Percentile(lagLarge, 95))),
		"edits":                   float64(edited),
		"quiet-dv-requests/user":  float64(dvq1-dvq0) / float64(users),
		"quiet-table-tx/user":     float64(stq1.Table-stq0.Table) / float64(users),
		"handler-peak-rss-MB":     float64(rss) / (1 << 20),
		"mirror-rows-checked":     float64(checked),
		"mirror-rows-wrong":       float64(violations),
		"all-syncs-dv-requests":   float64(sumRequests(log.Syncs(len(syncedSets), all))),
		"steady-dv-requests/sync": ratio(float64(sumRequests(steady)), float64(len(steady))),
	}
	names := slices.Sorted(maps.Keys(m))
	for _, k := range names {
		b.ReportMetric(m[k], k)
		b.Logf("%-24s %.4g", k, m[k]) // shown when the run fails too
	}
	if violations > 0 {
		b.Errorf("%d of %d rows of the users' app views differ from Dynamics", violations, checked)
	}
	if os.Getenv("FLEET_CHECK") == "1" {
		check(b, m)
	}
}

// check fails the run when a structural ratio of the fleet crosses its
// bound: what a regression in the scheduler or the sync's cost would move,
// whatever the machine's speed (docs/performance.md, "Fleet").
func check(b *testing.B, m map[string]float64) {
	b.Helper()
	bounds := []struct {
		metric string
		max    float64
		why    string
	}{
		{"users-off-schedule", 0, "every user is synced exactly once an interval in the steady intervals"},
		{"sets-failed", 0, "no set fails in a fleet without faults"},
		{"dv-requests/user-tick", 5, "an incremental sync reads the delta of each of the three sets and of their notes once (4), plus a page or a notes query now and then"},
		{"table-tx/user-tick", 34, "an incremental sync's lease and connection read, four sets' state, a log and a mirror transaction per set with changes, a point read per changed row (12 a sync), and its share of the scheduler's"},
		{"lag-p95-small/large", 2, "a small tenant's users wait no longer than the large tenant's"},
		{"lag-p95-small-ms", 60000, "every user's sync ends within the interval of their due moment"},
		{"lag-p95-large-ms", 60000, "every user's sync ends within the interval of their due moment"},
	}
	for _, c := range bounds {
		if v := m[c.metric]; v > c.max {
			b.Errorf("%s = %.3g, above %.3g: %s", c.metric, v, c.max, c.why)
		}
	}
}

// signInAll signs every user in, n at a time, as testworld's SignIn does
// (which may not be called outside the benchmark's goroutine).
func signInAll(w *testworld.World, upns []string, n int) error {
	var g errgroup.Group
	g.SetLimit(n)
	for _, upn := range upns {
		g.Go(func() error {
			resp, err := testworld.NewBrowser().Client().Get(w.URL + "/api/login?login_hint=" + url.QueryEscape(upn))
			if err != nil {
				return fmt.Errorf("sign-in of %s: %w", upn, err)
			}
			defer resp.Body.Close()
			page, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Dynamics 365 is connected") {
				return fmt.Errorf("sign-in of %s = %d: %.300s", upn, resp.StatusCode, page)
			}
			return nil
		})
	}
	return g.Wait()
}

// edit changes a row of each synced set every period, as people at work in
// Dynamics do, until ctx ends; it returns the edits made, or the first
// that failed.
func edit(ctx context.Context, sim *dataversesim.Sim, rows int, period time.Duration) (int, error) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n, nil
		case <-tick.C:
		}
		for _, set := range syncedSets {
			id := dataversesim.SeedID(set, n%rows)
			if err := sim.UpdateRow(set, id, map[string]any{editedColumn[set]: fmt.Sprintf("edit %d", n)}); err != nil {
				return n, fmt.Errorf("edit %s %s: %w", set, id, err)
			}
			n++
		}
	}
}

// covered is how many users have a sync among syncs.
func covered(syncs []fleet.Sync) int {
	seen := map[string]bool{}
	for _, s := range syncs {
		seen[s.Tenant+"/"+s.User] = true
	}
	return len(seen)
}

// waitFor polls cond every second until it holds, or fails the run after
// timeout with what cond last said (the handler's log is in .run/).
func waitFor(b *testing.B, what string, timeout time.Duration, cond func() (bool, string)) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("waited %s for %s: %s (the handler's log: .run/bench-fleet-handler.log)", timeout, what, status)
		}
		time.Sleep(time.Second)
	}
}

// checkMirrors replays each user's Changes API from the start (as a new
// device does) and compares it with Dynamics; it returns the rows checked
// and the differences found.
func checkMirrors(b *testing.B, w *testworld.World, upns []string, d chaos.Dynamics) (checked, violations int) {
	b.Helper()
	for _, upn := range upns {
		changes, _ := w.Changes(b, w.DeviceToken(b, upn), "", 1000)
		f := chaos.CheckMirror(upn, testworld.Replay(changes), d, syncedSets)
		checked += f.Checked
		if len(f.Violations) > 0 && violations == 0 {
			b.Logf("first difference: %s", f.Violations[0])
		}
		violations += len(f.Violations)
	}
	return checked, violations
}

func waitUntil(t time.Time) { time.Sleep(time.Until(t)) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func sumRequests(syncs []fleet.Sync) int64 {
	var n int64
	for _, s := range syncs {
		n += s.Requests
	}
	return n
}

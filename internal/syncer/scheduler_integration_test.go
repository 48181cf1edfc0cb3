package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/localworld/testenv"
)

// schedNow is when the scheduler tests' first run happens (whole seconds,
// so times survive Table Storage unchanged).
var schedNow = time.Date(2026, 11, 28, 14, 7, 30, 0, time.UTC)

const schedInterval = 5 * time.Minute

// schedWorld is the scheduler over its tables in Azurite, with a sender
// that records jobs (dropping a MessageId seen before, as Service Bus
// does) and, when asked, Table writes and sends that fail, as if the run
// died there.
type schedWorld struct {
	t      *testing.T
	db     *store.DB
	conns  *store.Connections
	index  *store.DueIndex
	jobs   *faultySender
	writes *dieAfterWrites
	now    time.Time
}

func newSchedWorld(t *testing.T) *schedWorld {
	t.Helper()
	w := &schedWorld{t: t, writes: &dieAfterWrites{}, now: schedNow}
	w.jobs = &faultySender{failAfter: -1, now: func() time.Time { return w.now }}
	w.writes.after.Store(-1)
	svc, err := aztables.NewServiceClientFromConnectionString(testenv.Storage(t),
		&aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{w.writes}, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	w.db = store.NewDB(svc, testenv.TablePrefix(t))
	if err := w.db.CreateTables(context.Background(), store.ConnectionsTable, store.SyncDueTable); err != nil {
		t.Fatal(err)
	}
	w.conns, w.index = store.NewConnections(w.db), store.NewDueIndex(w.db)
	// A deployment whose index is swept: runs do not backfill.
	if err := w.index.RecordSweep(context.Background(), schedNow); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *schedWorld) scheduler(maxJobs, perTenant int) *syncer.Scheduler {
	return &syncer.Scheduler{Conns: w.conns, Index: w.index, Jobs: w.jobs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tuning: config.SyncTuning{Interval: schedInterval, SchedulerMaxJobs: maxJobs, SchedulerMaxJobsPerTenant: perTenant},
		Now:    func() time.Time { return w.now }}
}

// add stores connections of users of tenant, with status and next sync,
// and their index entries when indexed (in transactions of 100).
func (w *schedWorld) add(tenant string, users []string, status string, next time.Time, indexed bool) {
	w.t.Helper()
	conns := w.db.Table(store.ConnectionsTable)
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(8)
	for start := 0; start < len(users); start += 100 {
		chunk := users[start:min(start+100, len(users))]
		g.Go(func() error {
			actions := make([]aztables.TransactionAction, len(chunk))
			entries := make([]store.DueEntry, len(chunk))
			for i, u := range chunk {
				e, _ := aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: tenant, RowKey: u}, Properties: map[string]any{
					"Status": status, "OrgURL": "https://contoso.crm.dynamics.com", "NextSyncAt": aztables.EDMDateTime(next)}}.MarshalJSON()
				actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: e}
				entries[i] = store.DueEntryOf(tenant, u, next)
			}
			if _, err := conns.SubmitTransaction(ctx, actions, nil); err != nil || !indexed {
				return err
			}
			return w.index.Put(ctx, entries)
		})
	}
	if err := g.Wait(); err != nil {
		w.t.Fatal(err)
	}
}

func newUsers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = uuid.NewString()
	}
	return out
}

// queued is a job as the queue holds it: the job and when it is delivered.
type queued struct {
	job queue.SyncJob
	at  time.Time
}

// queuedJobs returns every job sent or scheduled so far by user, in the
// order they were.
func (w *schedWorld) queuedJobs() map[string][]queued {
	w.jobs.mu.Lock()
	defer w.jobs.mu.Unlock()
	out := map[string][]queued{}
	for _, q := range w.jobs.log {
		out[q.job.UserID] = append(out[q.job.UserID], q)
	}
	return out
}

// connection returns the row of user.
func (w *schedWorld) connection(tenant, user string) store.Connection {
	w.t.Helper()
	c, err := w.conns.Get(context.Background(), tenant, user)
	if err != nil {
		w.t.Fatalf("connection %s/%s: %v", tenant, user, err)
	}
	return c
}

// entries returns the index entries of every bucket, by user.
func (w *schedWorld) entries() map[string][]string {
	w.t.Helper()
	out := map[string][]string{}
	if err := w.index.List(context.Background(), schedNow.AddDate(1, 0, 0), func(page []store.DueEntry) error {
		for _, e := range page {
			out[e.UserID] = append(out[e.UserID], e.Bucket)
		}
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// checkIndexed fails unless each of users of tenant has its next sync
// at notBefore or later and an index entry at the minute of it, so that a run finds
// it when it is due; with only, that entry and no other (an entry a run
// that died left behind is harmless, and the run that reaches it drops
// it).
func (w *schedWorld) checkIndexed(tenant string, users []string, notBefore time.Time, only bool) {
	w.t.Helper()
	entries := w.entries()
	for _, u := range users {
		c := w.connection(tenant, u)
		if c.NextSyncAt.Before(notBefore) {
			w.t.Errorf("user %s: next sync %s, want it moved to %s or later", u, c.NextSyncAt, notBefore)
		}
		want := store.DueBucket(c.NextSyncAt)
		if !slices.Contains(entries[u], want) || only && len(entries[u]) != 1 {
			w.t.Errorf("user %s: index entries %v, want %s (its NextSyncAt %s)", u, entries[u], want, c.NextSyncAt)
		}
	}
}

// faultySender records the jobs it is given, in order, with when they
// are delivered (now for Send), and like a queue with duplicate detection
// keeps a MessageId once; it fails every call after the first failAfter
// (never when negative).
type faultySender struct {
	now       func() time.Time
	mu        sync.Mutex
	log       []queued
	seen      map[string]bool
	calls     atomic.Int64
	failAfter int64
}

var errSendDied = errors.New("the run died here")

func (s *faultySender) record(at time.Time, jobs []queue.SyncJob) error {
	if s.failAfter >= 0 && s.calls.Add(1) > s.failAfter {
		return errSendDied
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, j := range jobs {
		if err := j.Validate(); err != nil {
			return err
		}
	}
	for _, j := range jobs {
		if !s.seen[j.MessageID()] {
			s.seen[j.MessageID()] = true
			s.log = append(s.log, queued{j, at})
		}
	}
	return nil
}

func (s *faultySender) Send(_ context.Context, jobs ...queue.SyncJob) error {
	return s.record(s.now(), jobs)
}

func (s *faultySender) ScheduleAt(_ context.Context, at time.Time, jobs ...queue.SyncJob) ([]int64, error) {
	return make([]int64, len(jobs)), s.record(at, jobs)
}

// dieAfterWrites fails every Table write after the first after (none
// when negative), as a process that died there would never write again.
type dieAfterWrites struct {
	after  atomic.Int64
	writes atomic.Int64
}

func (d *dieAfterWrites) Do(req *policy.Request) (*http.Response, error) {
	if req.Raw().Method != http.MethodGet {
		if a := d.after.Load(); a >= 0 && d.writes.Add(1) > a {
			return nil, fmt.Errorf("the run died before this %s", req.Raw().Method)
		}
	}
	return req.Next()
}

// TestSchedulerQueuesEachDueUserAtTheirMoment: the active users due
// within the next interval get one job each, bounded per run: those
// overdue at once, the others scheduled for their due time; the job's
// MessageId holds the user and that due time. Each user's next sync moves
// to their own moment of the interval, and the next runs queue them for
// it. Users not active (never filed) or not due get nothing; the entry of
// a user erased meanwhile is deleted.
func TestSchedulerQueuesEachDueUserAtTheirMoment(t *testing.T) {
	w := newSchedWorld(t)
	tenants := []string{uuid.NewString(), uuid.NewString()}
	overdue, soon, reauth, later := map[string][]string{}, map[string][]string{}, map[string][]string{}, map[string][]string{}
	for _, tn := range tenants {
		overdue[tn], soon[tn], reauth[tn], later[tn] = newUsers(40), newUsers(25), newUsers(5), newUsers(5)
		w.add(tn, overdue[tn], store.StatusActive, schedNow.Add(-time.Minute), true)
		w.add(tn, soon[tn], store.StatusActive, schedNow.Add(3*time.Minute), true)
		w.add(tn, reauth[tn], store.StatusReauthRequired, schedNow.Add(-time.Minute), false)
		w.add(tn, later[tn], store.StatusActive, schedNow.Add(time.Hour), true)
	}
	erased := store.DueEntryOf(tenants[0], uuid.NewString(), schedNow.Add(-time.Minute))
	if err := w.index.Put(context.Background(), []store.DueEntry{erased}); err != nil {
		t.Fatal(err)
	}
	s := w.scheduler(100, 0)
	first, err := s.Run(context.Background(), false)
	if err != nil || first.Enqueued != 100 || !first.Capped || first.Tenants != 2 {
		t.Fatalf("first run = %+v, %v; want 100 jobs of both tenants, capped", first, err)
	}
	res, err := s.Run(context.Background(), true)
	if err != nil || first.Enqueued+res.Enqueued != 131 || res.Capped || first.Dropped+res.Dropped != 1 {
		t.Fatalf("second run = %+v, %v; want the other 30 due users (and the erased one's job, which its worker completes without work), and its entry dropped", res, err)
	}
	// Each user's next sync is beyond the runs' horizon (the minute an
	// interval ahead), where no run that read it looks again.
	horizon := schedNow.Add(schedInterval).Truncate(time.Minute)
	jobs := w.queuedJobs()
	for _, tn := range tenants {
		for _, u := range overdue[tn] {
			if q := jobs[u]; len(q) != 1 || !q[0].at.Equal(schedNow) || !q[0].job.Slot.Equal(schedNow.Add(-time.Minute)) || q[0].job.Reason != queue.ReasonScheduled {
				t.Errorf("overdue user %s: jobs %+v, want one sent now for its due time %s", u, q, schedNow.Add(-time.Minute))
			}
		}
		for _, u := range soon[tn] {
			if q := jobs[u]; len(q) != 1 || !q[0].at.Equal(schedNow.Add(3*time.Minute)) || !q[0].job.Slot.Equal(schedNow.Add(3*time.Minute)) {
				t.Errorf("user due in 3 minutes %s: jobs %+v, want one scheduled for then", u, q)
			}
		}
		for _, u := range append(slices.Clone(reauth[tn]), later[tn]...) {
			if len(jobs[u]) != 0 {
				t.Errorf("user %s (not active or not due) got jobs %+v", u, jobs[u])
			}
		}
		w.checkIndexed(tn, append(slices.Clone(overdue[tn]), soon[tn]...), horizon, true)
		w.checkIndexed(tn, later[tn], schedNow, true)
	}
	if entries := w.entries(); len(entries[erased.UserID]) != 0 {
		t.Errorf("the erased user's entry is still there: %v", entries[erased.UserID])
	}

	// Each user is queued again for its next sync, its own moment of the
	// following interval, by the first run whose horizon (an interval
	// ahead, to the minute) reaches it: with the timer every five minutes,
	// the next two. A user due in the last half minute before the next run
	// (these runs are at :30) is past the horizon's minute and goes with
	// that run, so at most 30 seconds late.
	before := map[string]time.Time{}
	for _, tn := range tenants {
		for _, u := range append(slices.Clone(overdue[tn]), soon[tn]...) {
			before[u] = w.connection(tn, u).NextSyncAt
		}
	}
	total := 0
	for _, at := range []time.Duration{schedInterval, 2 * schedInterval} {
		w.now = schedNow.Add(at)
		res, err := w.scheduler(1000, 0).Run(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		total += res.Enqueued
	}
	if total < 130 {
		t.Errorf("the next two runs queued %d jobs; want each of the 130 users again at least", total)
	}
	jobs = w.queuedJobs()
	for u, due := range before {
		if q := jobs[u]; len(q) < 2 || !q[1].job.Slot.Equal(due) || q[1].at.Before(due) || q[1].at.After(due.Add(30*time.Second)) {
			t.Errorf("user %s: jobs %+v, want a second one for its next due time %s, scheduled for then", u, q, due)
		}
	}
}

// TestSchedulerSpreadsSyncsOverTheInterval: the users of a tenant signed
// in at the same moment are not synced together at the top of each run:
// from their second sync on, each has its own moment of the interval,
// kept from one interval to the next, and the moments cover it.
func TestSchedulerSpreadsSyncsOverTheInterval(t *testing.T) {
	w := newSchedWorld(t)
	tenant, users := uuid.NewString(), newUsers(400)
	start := schedNow.Truncate(schedInterval) // the timer runs on the minute: 0 */5 * * * *
	w.add(tenant, users, store.StatusActive, start, true)
	s := w.scheduler(5000, 0)
	var runs [3]map[string]time.Time
	for i := range runs {
		w.now = start.Add(time.Duration(i) * schedInterval)
		if _, err := s.Run(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		runs[i] = map[string]time.Time{}
		for u, q := range w.queuedJobs() {
			runs[i][u] = q[len(q)-1].at
		}
	}
	if at := slices.Collect(mapValues(runs[0])); len(at) != len(users) || slices.ContainsFunc(at, func(t time.Time) bool { return !t.Equal(start) }) {
		t.Fatalf("first run: %d jobs, want one per user, all now (they signed in now)", len(at))
	}
	moments := map[time.Duration]int{}
	for _, u := range users {
		second, third := runs[1][u], runs[2][u]
		if d := third.Sub(second); d != schedInterval {
			t.Errorf("user %s synced at %s then %s, want one interval apart", u, second, third)
		}
		if second.Before(start.Add(schedInterval)) || !second.Before(start.Add(2*schedInterval)) {
			t.Errorf("user %s: second sync at %s, want in the interval after the first", u, second)
		}
		moments[second.Sub(second.Truncate(schedInterval))]++
	}
	busiest := slices.Max(slices.Collect(mapValues(moments)))
	if len(moments) < 60 || busiest > 3*len(users)/len(moments) {
		t.Errorf("400 users spread over %d moments of the interval, the busiest holding %d; want at least 60 moments, none holding 3× the mean", len(moments), busiest)
	}
}

// TestSchedulerKeepsEveryUserOnTheirInterval: with the timer as often as
// the interval (Azure's default), each user is queued once every
// interval for their own moment, run after run, also the users whose
// moment is the interval's first second: a timer fires a little after it
// (here 20 ms), so they are overdue by that much when the run reads them,
// and their next sync must stay one interval on, not slip to two.
func TestSchedulerKeepsEveryUserOnTheirInterval(t *testing.T) {
	w := newSchedWorld(t)
	tenant := uuid.NewString()
	start := schedNow.Truncate(schedInterval)
	var users, first []string
	for len(first) < 3 || len(users) < 200 {
		u := uuid.NewString()
		switch {
		case syncer.Phase(tenant, u, schedInterval) == 0 && len(first) < 3:
			first = append(first, u)
		case len(users) < 200:
			users = append(users, u)
		default:
			continue
		}
		w.add(tenant, []string{u}, store.StatusActive, start.Add(syncer.Phase(tenant, u, schedInterval)), true)
	}
	users = append(users, first...)
	s := w.scheduler(5000, 0)
	const runs = 4
	for i := range runs {
		w.now = start.Add(time.Duration(i)*schedInterval + 20*time.Millisecond)
		if _, err := s.Run(context.Background(), false); err != nil {
			t.Fatal(err)
		}
	}
	jobs := w.queuedJobs()
	for _, u := range users {
		phase := syncer.Phase(tenant, u, schedInterval)
		var slots []time.Time
		for _, q := range jobs[u] {
			slots = append(slots, q.job.Slot)
		}
		want := make([]time.Time, runs)
		for i := range want {
			want[i] = start.Add(time.Duration(i)*schedInterval + phase)
		}
		if !slices.EqualFunc(slots, want, time.Time.Equal) {
			t.Errorf("user at %s into the interval: jobs for %v, want one each interval, for %v", phase, slots, want)
		}
	}
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// TestSchedulerSharesRunsBetweenTenants: a tenant with 20,000 users due
// does not hold back a small tenant: the small tenant's users are all
// queued in the first run, and again an interval later, while the large
// one's are queued at most SchedulerMaxJobsPerTenant a run; when the run's
// cap binds, the tenants share it round-robin.
func TestSchedulerSharesRunsBetweenTenants(t *testing.T) {
	if testing.Short() {
		t.Skip("files 20,000 users")
	}
	w := newSchedWorld(t)
	big, medium, small := uuid.NewString(), uuid.NewString(), uuid.NewString()
	bigUsers, mediumUsers, smallUsers := newUsers(20000), newUsers(300), newUsers(10)
	// The large tenant's users are the longest overdue, and its id sorts first.
	big = "0" + big[1:]
	w.add(big, bigUsers, store.StatusActive, schedNow.Add(-10*time.Minute), true)
	w.add(medium, mediumUsers, store.StatusActive, schedNow.Add(-time.Minute), true)
	w.add(small, smallUsers, store.StatusActive, schedNow.Add(-time.Minute), true)
	byTenant := func() map[string]int {
		out := map[string]int{}
		for _, q := range w.queuedJobs() {
			for _, j := range q {
				out[j.job.TenantID]++
			}
		}
		return out
	}

	res, err := w.scheduler(1000, 400).Run(context.Background(), false)
	if err != nil || !res.Capped || res.Tenants != 3 {
		t.Fatalf("first run = %+v, %v", res, err)
	}
	if got := byTenant(); got[small] != 10 || got[medium] != 300 || got[big] != 400 {
		t.Errorf("first run queued %v; want the small tenant's 10, the medium's 300 and 400 (SYNC_MAX_JOBS_PER_TENANT) of the large one's", got)
	}

	// In the next interval the small tenant's users are due again, behind
	// a backlog of 19,600 older users of the large one: a cap of 100 is
	// shared round-robin, and they all go in the run whose horizon reaches
	// them.
	w.now = schedNow.Add(schedInterval + time.Minute)
	w.jobs = &faultySender{failAfter: -1, now: func() time.Time { return w.now }}
	res, err = w.scheduler(100, 1000).Run(context.Background(), false)
	if err != nil || res.Enqueued != 100 || !res.Capped {
		t.Fatalf("second run = %+v, %v", res, err)
	}
	if got := byTenant(); got[small] != 10 || got[medium] != 45 || got[big] != 45 {
		t.Errorf("second run queued %v; want the small tenant's 10 and 45 each of the others", got)
	}
}

// TestSchedulerRunKilledPartWay: a run that dies at any point (a send
// fails, or every Table write from some point on) leaves no user
// unscheduled: the next run, a minute later, queues every user the dead
// run did not, each for the due time it had (so a job the dead run sent
// is dropped by its MessageId, not sent twice), and leaves every user
// filed once at its next sync.
func TestSchedulerRunKilledPartWay(t *testing.T) {
	type fault struct {
		name  string
		apply func(w *schedWorld, n int64)
	}
	for _, f := range []fault{
		{"send", func(w *schedWorld, n int64) { w.jobs.failAfter = n }},
		{"table-write", func(w *schedWorld, n int64) { w.writes.after.Store(n) }},
	} {
		for n := int64(0); ; n++ {
			w := newSchedWorld(t)
			tenants := []string{uuid.NewString(), uuid.NewString()}
			due := map[string]time.Time{}
			var all [][2]string
			for i, tn := range tenants {
				overdue, soon := newUsers(6-2*i), newUsers(5-i)
				w.add(tn, overdue, store.StatusActive, schedNow.Add(-2*time.Minute), true)
				for j, u := range soon { // each at its own moment: a schedule request each
					w.add(tn, []string{u}, store.StatusActive, schedNow.Add(2*time.Minute+time.Duration(j)*8*time.Second), true)
				}
				for _, u := range overdue {
					due[u] = schedNow.Add(-2 * time.Minute)
					all = append(all, [2]string{tn, u})
				}
				for j, u := range soon {
					due[u] = schedNow.Add(2*time.Minute + time.Duration(j)*8*time.Second)
					all = append(all, [2]string{tn, u})
				}
				w.add(tn, newUsers(2), store.StatusReauthRequired, schedNow.Add(-time.Minute), false)
			}
			f.apply(w, n)
			_, err := w.scheduler(1000, 0).Run(context.Background(), false)
			w.jobs.failAfter = -1
			w.writes.after.Store(-1)
			if err == nil {
				if n < 2 {
					t.Fatalf("%s fault after %d: the run did not fail; the fault is not where the run goes", f.name, n)
				}
				t.Logf("%s: the run was killed at each of its %d calls", f.name, n)
				break // the fault came after the run's last call
			}
			w.now = schedNow.Add(time.Minute)
			if _, err := w.scheduler(1000, 0).Run(context.Background(), false); err != nil {
				t.Fatalf("%s fault after %d: the next run = %v", f.name, n, err)
			}
			jobs := w.queuedJobs()
			for _, tu := range all {
				u := tu[1]
				same := 0
				for _, q := range jobs[u] {
					if q.job.Slot.Equal(due[u]) {
						same++
					}
				}
				if same != 1 {
					t.Errorf("%s fault after %d: user %s due %s has %d jobs for that time (%+v), want 1", f.name, n, u, due[u], same, jobs[u])
				}
			}
			users := map[string][]string{}
			for _, tu := range all {
				users[tu[0]] = append(users[tu[0]], tu[1])
			}
			for _, tn := range tenants {
				w.checkIndexed(tn, users[tn], schedNow.Add(time.Minute), false)
			}
			// The run that reaches what the dead one left behind drops it.
			w.now = schedNow.Add(6 * time.Minute)
			if _, err := w.scheduler(1000, 0).Run(context.Background(), false); err != nil {
				t.Fatalf("%s fault after %d: the third run = %v", f.name, n, err)
			}
			for _, tn := range tenants {
				w.checkIndexed(tn, users[tn], w.now, true)
			}
			if t.Failed() {
				return
			}
		}
	}
}

// TestSchedulerSkipsBadEntries: entries whose keys are not an entry's are
// deleted (or, with an empty key the SDK cannot address, skipped), never
// queued, and never stop the run; a half-written entry (right keys, no
// due time in its minute) is written again from its connection, and
// queued when that is due, or deleted when the connection is not active.
// The user due beside them is queued.
func TestSchedulerSkipsBadEntries(t *testing.T) {
	ctx := context.Background()
	w := newSchedWorld(t)
	tenant, ok, halfDue, halfLater, halfReauth := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.add(tenant, []string{ok}, store.StatusActive, schedNow.Add(-time.Minute), true)
	w.add(tenant, []string{halfDue}, store.StatusActive, schedNow.Add(-time.Minute), false)
	w.add(tenant, []string{halfLater}, store.StatusActive, schedNow.Add(time.Hour), false)
	w.add(tenant, []string{halfReauth}, store.StatusReauthRequired, schedNow.Add(-time.Minute), false)
	raw := w.db.Table(store.SyncDueTable)
	for _, k := range [][2]string{{"2026", tenant + "_" + ok}, {"", tenant + "_" + ok}, {"2026-11-28T14:00", "x"}, {"202611281400", "no-separator"},
		{"202611281400", "_" + ok}, {"202611281400", tenant + "_"}, {"202611281400", "' or 1 eq 1 or '_x"},
		{"202611281400", tenant + "_" + halfDue}, {"202611281400", tenant + "_" + halfLater}, {"202611281400", tenant + "_" + halfReauth}} {
		b, _ := aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: k[0], RowKey: k[1]}}.MarshalJSON()
		if _, err := raw.AddEntity(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.scheduler(1000, 0).Run(ctx, false)
	// Dropped: 6 malformed entries, and the 3 half-written ones (filed again
	// in their own minute, or not at all).
	if err != nil || res.Enqueued != 2 || res.Malformed != 7 || res.Repaired != 2 || res.Dropped != 9 {
		t.Fatalf("run = %+v, %v; want 2 users queued, 7 malformed entries, 2 repaired and 9 dropped (the SDK cannot delete the one with an empty key)", res, err)
	}
	jobs := w.queuedJobs()
	if len(jobs) != 2 || len(jobs[ok]) != 1 || len(jobs[halfDue]) != 1 || !jobs[halfDue][0].job.Slot.Equal(schedNow.Add(-time.Minute)) {
		t.Errorf("jobs = %+v, want one for the due user and one for the due user whose entry was half-written", jobs)
	}
	w.checkIndexed(tenant, []string{ok, halfDue}, schedNow.Add(schedInterval).Truncate(time.Minute), true)
	w.checkIndexed(tenant, []string{halfLater}, schedNow, true)
	if e := w.entries(); len(e[halfReauth]) != 0 {
		t.Errorf("the reauth_required user's half-written entry is still there: %v", e[halfReauth])
	}
	res, err = w.scheduler(1000, 0).Run(ctx, false)
	if err != nil || res.Dropped != 0 || res.Malformed != 1 || res.Enqueued != 0 {
		t.Errorf("second run = %+v, %v; want nothing left to drop but the entry with an empty key, skipped", res, err)
	}
}

// TestSchedulerReconcilesTheIndex: the hourly reconciliation repairs what
// crashes leave between a connection and its entry: an active connection
// without an entry is filed (and queued by the same run when due), the
// entries of a connection no longer active or gone are deleted, and of a
// user's two entries the earliest is kept.
func TestSchedulerReconcilesTheIndex(t *testing.T) {
	ctx := context.Background()
	w := newSchedWorld(t)
	tenant, lost, lostLater, reauth, twice := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.add(tenant, []string{lost}, store.StatusActive, schedNow.Add(-10*time.Minute), false)
	w.add(tenant, []string{lostLater}, store.StatusActive, schedNow.Add(2*time.Hour), false)
	w.add(tenant, []string{reauth}, store.StatusReauthRequired, schedNow.Add(time.Hour), true)
	w.add(tenant, []string{twice}, store.StatusActive, schedNow.Add(2*time.Hour), true)
	gone := store.DueEntryOf(tenant, uuid.NewString(), schedNow.Add(time.Hour))
	if err := w.index.Put(ctx, []store.DueEntry{store.DueEntryOf(tenant, twice, schedNow.Add(3*time.Hour)), gone}); err != nil {
		t.Fatal(err)
	}
	s := w.scheduler(1000, 0)
	s.SweepEvery = 30 * time.Minute
	w.now = schedNow.Add(29 * time.Minute)
	if res, err := s.Run(ctx, false); err != nil || res.Swept != -1 || res.Enqueued != 0 {
		t.Fatalf("run before the reconciliation is due = %+v, %v; want none, nothing queued", res, err)
	}
	w.now = schedNow.Add(30 * time.Minute)
	res, err := s.Run(ctx, false)
	if err != nil || res.Swept != 5 || res.Backfill || res.Enqueued != 1 {
		t.Fatalf("run with the reconciliation = %+v, %v; want 2 lost users filed and 3 stale entries deleted, the one overdue queued", res, err)
	}
	if q := w.queuedJobs(); len(q) != 1 || len(q[lost]) != 1 {
		t.Errorf("jobs = %+v, want one, for the user whose entry was lost", q)
	}
	w.checkIndexed(tenant, []string{lost}, w.now, true)
	w.checkIndexed(tenant, []string{lostLater, twice}, schedNow, true)
	if e := w.entries(); len(e[reauth]) != 0 || len(e[gone.UserID]) != 0 {
		t.Errorf("entries of a connection not active or gone are still there: %v, %v", e[reauth], e[gone.UserID])
	}
}

// TestSchedulerBackfillsConnectionsFromBeforeTheIndex: in a deployment
// from before the due index (connections, no entries, never swept), the
// first run files every active connection and queues those due at once;
// the runs after it do not sweep again until SweepEvery has passed.
func TestSchedulerBackfillsConnectionsFromBeforeTheIndex(t *testing.T) {
	ctx := context.Background()
	w := newSchedWorld(t)
	if _, err := w.db.Table(store.SyncDueTable).DeleteEntity(ctx, "sweep", "state", nil); err != nil {
		t.Fatal(err)
	}
	tenant := uuid.NewString()
	due, later, reauth := newUsers(30), newUsers(20), newUsers(5)
	w.add(tenant, due, store.StatusActive, schedNow.Add(-time.Minute), false)
	w.add(tenant, later, store.StatusActive, schedNow.Add(time.Hour), false)
	w.add(tenant, reauth, store.StatusReauthRequired, schedNow.Add(-time.Minute), false)
	s := w.scheduler(1000, 0)
	res, err := s.Run(ctx, false)
	if err != nil || !res.Backfill || res.Swept != 50 || res.Enqueued != 30 {
		t.Fatalf("first run = %+v, %v; want a backfill of the 50 active connections and the 30 due queued", res, err)
	}
	w.checkIndexed(tenant, due, schedNow, true)
	w.checkIndexed(tenant, later, schedNow, true)
	if entries := w.entries(); slices.ContainsFunc(reauth, func(u string) bool { return len(entries[u]) > 0 }) {
		t.Errorf("a reauth_required connection was filed")
	}
	w.now = schedNow.Add(time.Minute)
	if res, err := s.Run(ctx, false); err != nil || res.Swept != -1 || res.Backfill {
		t.Errorf("next run = %+v, %v; want no sweep", res, err)
	}
}

// TestSchedulerOverlappingRunsQueueEachUserOnce: two runs at once (a
// manual run beside the timer's) queue each due user once in Service Bus
// (the real client against the fake, with duplicate detection): both
// make the same MessageId of a user's job, the user and its due time.
func TestSchedulerOverlappingRunsQueueEachUserOnce(t *testing.T) {
	ctx := context.Background()
	sb := testenv.ServiceBus(t)
	name := sb.NewQueue(t, testenv.QueueProperties{RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: "PT10M"})
	client, err := azservicebus.NewClientFromConnectionString(sb.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	sender, err := queue.NewSender[queue.SyncJob](client, name)
	if err != nil {
		t.Fatal(err)
	}
	w := newSchedWorld(t)
	w.now = time.Now().UTC().Truncate(time.Second)
	tenants := []string{uuid.NewString(), uuid.NewString()}
	for _, tn := range tenants {
		w.add(tn, newUsers(60), store.StatusActive, w.now.Add(-time.Minute), true)
		w.add(tn, newUsers(40), store.StatusActive, w.now.Add(2*time.Minute), true)
	}
	var wg sync.WaitGroup
	results := make([]syncer.ScheduleResult, 2)
	errs := make([]error, 2)
	for i := range 2 {
		s := w.scheduler(1000, 0)
		s.Jobs = sender
		wg.Go(func() { results[i], errs[i] = s.Run(ctx, false) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || results[0].Enqueued+results[1].Enqueued < 200 {
		t.Fatalf("runs = %+v, %v", results, errs)
	}
	c := sb.WaitCounts(t, name, 10*time.Second, func(c testenv.QueueCounts) bool { return c.Active+c.Scheduled >= 200 })
	if c.Active != 120 || c.Scheduled != 80 {
		t.Errorf("queue holds %+v after two overlapping runs (%d and %d jobs sent); want each of the 200 users once: 120 now, 80 scheduled",
			c, results[0].Enqueued, results[1].Enqueued)
	}
}

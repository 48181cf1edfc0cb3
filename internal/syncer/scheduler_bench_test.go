package syncer_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/localworld/testenv"
)

// countTableRequests counts the requests reaching Table Storage (each one
// a billed transaction: a point read, a page of a query, a batch) and the
// time spent waiting for them (summed over those in flight at once).
type countTableRequests struct{ n, ns atomic.Int64 }

func (c *countTableRequests) Do(req *policy.Request) (*http.Response, error) {
	c.n.Add(1)
	start := time.Now()
	resp, err := req.Next()
	c.ns.Add(int64(time.Since(start)))
	return resp, err
}

func (c *countTableRequests) reset() { c.n.Store(0); c.ns.Store(0) }

func countingClient(b *testing.B, cs string, c *countTableRequests) *aztables.ServiceClient {
	b.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(cs, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{c}}})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// sentJobs counts the jobs it is given.
type sentJobs struct{ n atomic.Int64 }

func (s *sentJobs) Send(_ context.Context, jobs ...queue.SyncJob) error {
	s.n.Add(int64(len(jobs)))
	return nil
}

func (s *sentJobs) ScheduleAt(_ context.Context, _ time.Time, jobs ...queue.SyncJob) ([]int64, error) {
	s.n.Add(int64(len(jobs)))
	return make([]int64, len(jobs)), nil
}

// fleet is a connections table of n users in 20 tenants, one of them
// holding half the users, every row as large as a real one (a sealed
// refresh token of 1.5 KB), none due: each is filed at its own moment of
// the hour after the next (parked), in 60 minutes of the index.
type fleet struct {
	db    *store.DB // the connections table's client; the index has its own
	idx   *store.DB
	conns *store.Connections
	index *store.DueIndex
	users [][2]string // tenant, user
	now   time.Time
}

func seedFleet(b *testing.B, conns, index *aztables.ServiceClient, n int, now time.Time) *fleet {
	b.Helper()
	ctx := context.Background()
	prefix := testenv.TablePrefix(b)
	f := &fleet{db: store.NewDB(conns, prefix), idx: store.NewDB(index, prefix), now: now}
	if err := f.db.CreateTables(ctx, store.ConnectionsTable, store.SyncDueTable); err != nil {
		b.Fatal(err)
	}
	f.conns, f.index = store.NewConnections(f.db), store.NewDueIndex(f.idx)
	tenants := make([]string, 20)
	for i := range tenants {
		tenants[i] = uuid.NewString()
	}
	byTenant := map[string][]string{}
	for i := range n {
		t := tenants[0]
		if i%2 == 1 {
			t = tenants[1+i/2%19]
		}
		u := uuid.NewString()
		f.users = append(f.users, [2]string{t, u})
		byTenant[t] = append(byTenant[t], u)
	}
	token := make([]byte, 1500)
	_, _ = rand.Read(token)
	table := f.db.Table(store.ConnectionsTable)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for t, users := range byTenant {
		for start := 0; start < len(users); start += 100 {
			chunk := users[start:min(start+100, len(users))]
			g.Go(func() error {
				actions := make([]aztables.TransactionAction, len(chunk))
				for i, u := range chunk {
					e, _ := aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: t, RowKey: u}, Properties: map[string]any{
						"Status": store.StatusActive, "StatusChangedAt": aztables.EDMDateTime(now.Add(-24 * time.Hour)),
						"RefreshToken": aztables.EDMBinary(token), "KeyID": "k1", "OrgURL": "https://contoso.crm.dynamics.com",
						"DataverseUserID": uuid.NewString(), "UserName": "user@contoso.example",
						"ConnectedAt": aztables.EDMDateTime(now.Add(-24 * time.Hour)), "NextSyncAt": aztables.EDMDateTime(f.parked(t, u)),
					}}.MarshalJSON()
					actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: e}
				}
				if _, err := table.SubmitTransaction(gctx, actions, nil); err != nil {
					return err
				}
				entries := make([]store.DueEntry, len(chunk))
				for i, u := range chunk {
					entries[i] = store.DueEntryOf(t, u, f.parked(t, u))
				}
				return f.index.Put(gctx, entries)
			})
		}
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	// A deployment whose index is swept.
	if err := f.index.RecordSweep(ctx, now); err != nil {
		b.Fatal(err)
	}
	return f
}

// parked is when the user of tenant is filed while not due.
func (f *fleet) parked(tenant, user string) time.Time {
	return f.now.Add(time.Hour).Truncate(time.Hour).Add(syncer.Phase(tenant, user, time.Hour))
}

// dueSet is due users of the fleet, spread over it (and so over its
// tenants): every n/due-th, one in two of them odd.
func (f *fleet) dueSet(due int) [][2]string {
	step := len(f.users) / due
	var out [][2]string
	for k := 0; k < due; k++ {
		out = append(out, f.users[k*step+k%2])
	}
	return out
}

// setNext moves users' next sync to at (their parked time when zero) and
// files them there, as a sign-in or an earlier run would have; from is
// where they were filed.
func (f *fleet) setNext(b *testing.B, users [][2]string, from func(t, u string) time.Time, at time.Time) {
	b.Helper()
	ctx := context.Background()
	byTenant := map[string][]store.NextSync{}
	var old, entries []store.DueEntry
	for _, tu := range users {
		to := at
		if to.IsZero() {
			to = f.parked(tu[0], tu[1])
		}
		byTenant[tu[0]] = append(byTenant[tu[0]], store.NextSync{UserID: tu[1], At: to})
		old = append(old, store.DueEntryOf(tu[0], tu[1], from(tu[0], tu[1])))
		entries = append(entries, store.DueEntryOf(tu[0], tu[1], to))
	}
	if err := f.index.Put(ctx, entries); err != nil {
		b.Fatal(err)
	}
	for t, next := range byTenant {
		if _, err := f.conns.SetNextSync(ctx, t, next); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.index.Delete(ctx, old); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSchedulerRun: one SyncScheduler run against Azurite (a private
// one), at 1,000, 10,000 and 100,000 connections (SCHEDULER_BENCH_MAX
// lowers the largest), with 1 % of them due and with 100 due, and the
// hourly sweep of the index (no user due). Reports the Table requests of
// the run (table-requests/op) and per due user, and the run's wall time
// (ns/op); of the requests, index-requests/op are the due index's, and
// index-ms/op and connections-ms/op the time spent waiting for each
// table's (summed over those in flight at once). Jobs go to an in-memory sender, so only
// the scheduler's Table work is measured.
func BenchmarkSchedulerRun(b *testing.B) {
	maxConns := testenv.IntEnv(b, "SCHEDULER_BENCH_MAX", 100000, 1000, 1000000)
	cs, _ := testenv.PrivateAzurite(b)
	connsCount, indexCount := &countTableRequests{}, &countTableRequests{}
	svc, indexSvc := countingClient(b, cs, connsCount), countingClient(b, cs, indexCount)
	now := time.Date(2026, 11, 28, 14, 7, 30, 0, time.UTC)
	interval := 5 * time.Minute
	ctx := context.Background()
	for _, n := range []int{1000, 10000, 100000} {
		if n > maxConns {
			continue
		}
		f := seedFleet(b, svc, indexSvc, n, now)
		newScheduler := func(sent *sentJobs) *syncer.Scheduler {
			return &syncer.Scheduler{Conns: f.conns, Index: f.index, Jobs: sent, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now },
				Tuning: config.SyncTuning{Interval: interval, SchedulerMaxJobs: 5000, SchedulerMaxJobsPerTenant: 5000}}
		}
		for _, due := range []int{n / 100, 100} {
			b.Run(fmt.Sprintf("conns=%d/due=%d", n, due), func(b *testing.B) {
				var requests, indexRequests, connsNs, indexNs int64
				users := f.dueSet(due)
				for range b.N {
					b.StopTimer()
					f.setNext(b, users, f.parked, now.Add(-time.Minute))
					sent := &sentJobs{}
					s := newScheduler(sent)
					connsCount.reset()
					indexCount.reset()
					b.StartTimer()
					res, err := s.Run(ctx, false)
					b.StopTimer()
					requests += connsCount.n.Load() + indexCount.n.Load()
					indexRequests += indexCount.n.Load()
					connsNs += connsCount.ns.Load()
					indexNs += indexCount.ns.Load()
					if err != nil || res.Enqueued != due {
						b.Fatalf("run = %+v, %v; want %d jobs", res, err, due)
					}
					// Back to not due, for the next iteration.
					f.setNext(b, users, func(t, u string) time.Time { return syncer.NextDue(t, u, now, interval) }, time.Time{})
					b.StartTimer()
				}
				b.ReportMetric(float64(requests)/float64(b.N), "table-requests/op")
				b.ReportMetric(float64(requests)/float64(b.N)/float64(due), "table-requests/due-user")
				b.ReportMetric(float64(indexRequests)/float64(b.N), "index-requests/op")
				b.ReportMetric(float64(indexNs)/float64(b.N)/1e6, "index-ms/op")
				b.ReportMetric(float64(connsNs)/float64(b.N)/1e6, "connections-ms/op")
				rangeMs, pointMs := bareQueries(b, f, now.Add(interval))
				b.ReportMetric(rangeMs, "bare-range-ms")
				b.ReportMetric(pointMs, "bare-point-ms")
			})
		}
		b.Run(fmt.Sprintf("conns=%d/sweep", n), func(b *testing.B) {
			var requests int64
			for range b.N {
				b.StopTimer()
				if err := f.index.RecordSweep(ctx, now.Add(-2*time.Hour)); err != nil {
					b.Fatal(err)
				}
				s := newScheduler(&sentJobs{})
				connsCount.reset()
				indexCount.reset()
				b.StartTimer()
				res, err := s.Run(ctx, false)
				b.StopTimer()
				requests += connsCount.n.Load() + indexCount.n.Load()
				if err != nil || res.Swept != 0 || res.Enqueued != 0 {
					b.Fatalf("run = %+v, %v; want a sweep that finds nothing lost", res, err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(requests)/float64(b.N), "table-requests/op")
		})
		for _, t := range []string{store.ConnectionsTable, store.SyncDueTable} {
			if _, err := svc.DeleteTable(ctx, f.db.TableName(t), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// bareQueries times, with a plain aztables client and none of the
// scheduler's code, the two reads whose cost is Azurite's alone: the due
// index's key range up to horizon (the query a run starts with, PartitionKey
// lt its bucket; none due now, so it returns nothing) and a point read of
// one connection, 10 of each. Growing with the tables while the range
// reads nothing and the point read one row, they show where the run's wall
// time goes on Azurite (docs/performance.md, "Sync scheduling").
func bareQueries(b *testing.B, f *fleet, horizon time.Time) (rangeMs, pointMs float64) {
	b.Helper()
	ctx := context.Background()
	index, conns := f.idx.Table(store.SyncDueTable), f.db.Table(store.ConnectionsTable)
	filter := "PartitionKey lt '" + store.DueBucket(horizon) + "'"
	const n = 10
	start := time.Now()
	for range n {
		pager := index.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(page.Entities) > 0 {
				b.Fatalf("the bare range read %d entries, want none due", len(page.Entities))
			}
		}
	}
	rangeMs = float64(time.Since(start)) / n / 1e6
	start = time.Now()
	for i := range n {
		u := f.users[i*len(f.users)/n]
		if _, err := conns.GetEntity(ctx, u[0], u[1], nil); err != nil {
			b.Fatal(err)
		}
	}
	pointMs = float64(time.Since(start)) / n / 1e6
	return rangeMs, pointMs
}

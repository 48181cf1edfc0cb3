package syncer_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/syncer"
)

// countWrites counts the write requests sent to Table Storage (a
// transaction, an insert, an update: each is one billed transaction).
type countWrites struct{ n atomic.Int64 }

func (c *countWrites) Do(req *policy.Request) (*http.Response, error) {
	if req.Raw().Method != http.MethodGet {
		c.n.Add(1)
	}
	return req.Next()
}

// heapProbe measures the live heap between pages: after every page is
// written it forces a collection and keeps the largest heap seen.
type heapProbe struct {
	syncer.Mirror
	peak atomic.Uint64
}

func (p *heapProbe) Begin(ctx context.Context, tenant, user, set string, entries []mirror.Entry, gen, firstSeq int64) (func() error, error) {
	wait, err := p.Mirror.Begin(ctx, tenant, user, set, entries, gen, firstSeq)
	if err != nil {
		return nil, err
	}
	return func() error {
		err := wait()
		live := liveHeap()
		for {
			old := p.peak.Load()
			if live <= old || p.peak.CompareAndSwap(old, live) {
				break
			}
		}
		return err
	}, nil
}

// liveHeap is the heap that survives collection. Two collections: the
// first only moves sync.Pool contents to the pools' victim caches.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fullSync runs the first sync of rows accounts in pages of pageSize and
// reports what it cost.
type fullSyncCost struct {
	rows, kept, requests, tableWrites int64
	elapsed                           time.Duration
	peakHeap                          uint64 // above the heap before the sync
}

func fullSync(tb testing.TB, rows, pageSize int) fullSyncCost {
	return fullSyncOf(tb, rows, pageSize, "", rows)
}

// fullSyncOf is fullSync with a filter on the accounts, which keeps want of
// them.
func fullSyncOf(tb testing.TB, rows, pageSize int, filter string, want int) fullSyncCost {
	tb.Helper()
	writes := &countWrites{}
	probe := &heapProbe{}
	h := newHarness(tb, harnessOptions{seed: rows,
		cfg: fmt.Sprintf(`{"entitySets":[{"name":"accounts","select":["name","accountnumber","telephone1","emailaddress1","address1_city","statecode","modifiedon"],"pageSize":%d,"notes":false,"filter":%q}]}`,
			pageSize, filter),
		client: &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{writes}}},
		wrap:   func(m syncer.Mirror) syncer.Mirror { probe.Mirror = m; return probe },
	})
	base := liveHeap()
	before := h.sim.Requests()
	start := time.Now()
	res := h.run(tb, syncer.OutcomeSynced)
	elapsed := time.Since(start)
	s := setResult(tb, res, "accounts")
	if s.Upserted != int64(want) {
		tb.Fatalf("synced %d rows, want %d", s.Upserted, want)
	}
	peak := probe.peak.Load()
	if peak > base {
		peak -= base
	} else {
		peak = 0
	}
	return fullSyncCost{rows: int64(rows), kept: s.Upserted, requests: h.sim.Requests() - before, tableWrites: writes.n.Load(), elapsed: elapsed, peakHeap: peak}
}

// BenchmarkFullSync: the first sync of one entity set from the in-process
// simulator into Azurite. Metrics: rows/s, Dataverse requests (the
// metadata read plus one per page), Table writes per row, and the peak
// live heap between pages above the heap before the sync.
func BenchmarkFullSync(b *testing.B) {
	for _, rows := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			var c fullSyncCost
			for range b.N {
				c = fullSync(b, rows, 1000)
			}
			b.ReportMetric(float64(c.rows)/c.elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(c.requests), "dataverse-requests")
			b.ReportMetric(float64(c.tableWrites)/float64(c.rows), "table-tx/row")
			b.ReportMetric(float64(c.peakHeap), "peak-heap-B")
		})
	}
}

// TestFullSyncCosts is the CI-sized check of the performance contract:
// requests = metadata + ⌈rows / page size⌉, at most 0.025 Table writes per
// row at scale (a few writes per run are fixed: the lease, the state), and
// a peak heap that does not grow with the number of rows: from 3,000 to
// 30,000 rows (6 and 60 pages of 500) it may grow by the noise of the
// pipeline (up to three pages and their transactions are in flight, and
// where the probe catches them varies), 8 MiB, not by the ≈ 30 MB that
// holding the rows would take.
func TestFullSyncCosts(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs 33,000 rows")
	}
	small, large := fullSync(t, 3000, 500), fullSync(t, 30000, 500)
	for _, c := range []fullSyncCost{small, large} {
		if want := 1 + (c.rows+499)/500; c.requests != want {
			t.Errorf("%d rows: %d Dataverse requests, want %d (metadata + one per page)", c.rows, c.requests, want)
		}
	}
	if perRow := float64(large.tableWrites) / float64(large.rows); perRow > 0.025 {
		t.Errorf("%d rows: %.4f Table writes per row, want at most 0.025", large.rows, perRow)
	}
	if large.peakHeap > small.peakHeap+8<<20 {
		t.Errorf("peak heap %d B for 30,000 rows vs %d B for 3,000: it grows with the rows", large.peakHeap, small.peakHeap)
	}
	t.Logf("3,000 rows: %+v; 30,000 rows: %+v", small, large)
}

// profileFilter keeps 1 % of the seeded accounts (ACC-000000, ACC-000100, …).
const profileFilter = "endswith(accountnumber,'00') and statecode eq 0"

// BenchmarkProfileSync: the first sync of 100,000 accounts of which a
// filter keeps 1 %, against the same sync without the filter. Metrics as
// BenchmarkFullSync, rows/s counting every row read.
func BenchmarkProfileSync(b *testing.B) {
	const rows = 100000
	for _, tc := range []struct {
		name, filter string
		want         int
	}{{"all", "", rows}, {"1pct", profileFilter, rows / 100}} {
		b.Run(tc.name, func(b *testing.B) {
			var c fullSyncCost
			for range b.N {
				c = fullSyncOf(b, rows, 1000, tc.filter, tc.want)
			}
			b.ReportMetric(float64(c.rows)/c.elapsed.Seconds(), "rows-read/s")
			b.ReportMetric(float64(c.kept), "rows-kept")
			b.ReportMetric(float64(c.requests), "dataverse-requests")
			b.ReportMetric(float64(c.tableWrites), "table-writes")
		})
	}
}

// TestProfileSyncCosts is the CI-sized guard of a filtered first sync:
// the same Dataverse requests as without the filter (metadata + one per
// page), and Table writes that follow the rows kept, not the rows read.
func TestProfileSyncCosts(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs 10,000 rows")
	}
	all, some := fullSyncOf(t, 10000, 1000, "", 10000), fullSyncOf(t, 10000, 1000, profileFilter, 100)
	if some.requests != all.requests {
		t.Errorf("Dataverse requests with the filter = %d, without = %d; want the same", some.requests, all.requests)
	}
	// 100 rows: one mirror and one log transaction, a checkpoint per page
	// (10), the lease and the state: about 15, against 228 without.
	if some.tableWrites > 25 {
		t.Errorf("Table writes for 100 of 10,000 rows = %d (%d without the filter), want at most 25", some.tableWrites, all.tableWrites)
	}
	t.Logf("without the filter: %+v; with it: %+v", all, some)
}

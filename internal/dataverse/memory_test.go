package dataverse_test

import (
	"context"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

var benchColumns = []string{"name", "accountnumber", "telephone1", "emailaddress1", "address1_city", "revenue", "modifiedon"}

// seededClient is a client of an in-process simulator holding n accounts.
func seededClient(tb testing.TB, n int) *dataverse.Client {
	tb.Helper()
	sim := dataversesim.New(dataversesim.Options{Auth: dataversesim.AuthOptions{InsecureAnyToken: true}})
	if err := sim.Seed(n, "accounts"); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	c, err := dataverse.New(srv.URL, dataverse.StaticToken("bench"), &dataverse.Options{HTTPClient: srv.Client()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// peakLiveHeap reads every account of a simulator seeded with n of them,
// in pages of pageSize rows with change tracking, and returns the largest
// live heap above the starting point seen after any page: what the reader
// keeps, since a GC runs before each measurement.
func peakLiveHeap(tb testing.TB, n, pageSize int) (peak uint64, rows int) {
	tb.Helper()
	c := seededClient(tb, n)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	p := c.NewChangesPager("accounts", &dataverse.ChangesOptions{Select: benchColumns, MaxPageSize: pageSize, PrimaryKey: "accountid"})
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		rows += len(page.Rows)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
			peak = ms.HeapAlloc - base
		}
		runtime.KeepAlive(page)
	}
	return peak, rows
}

// TestPagerMemoryIsBoundedByOnePage is the CI-sized form of
// BenchmarkPeakHeap: ten times the rows must not need more memory.
func TestPagerMemoryIsBoundedByOnePage(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 44,000 rows")
	}
	small, n1 := peakLiveHeap(t, 4_000, 2_000)
	large, n2 := peakLiveHeap(t, 40_000, 2_000)
	if n1 != 4_000 || n2 != 40_000 {
		t.Fatalf("read %d and %d rows", n1, n2)
	}
	if float64(large) > 1.10*float64(small) {
		t.Errorf("peak live heap %d B for 40,000 rows vs %d B for 4,000: more than 10%% apart", large, small)
	}
}

// BenchmarkPeakHeap reports the peak live heap of a change-tracking read of
// 10,000 and of 200,000 rows in pages of 5,000 (docs/performance.md).
func BenchmarkPeakHeap(b *testing.B) {
	for _, n := range []int{10_000, 200_000} {
		b.Run(map[int]string{10_000: "rows=10000", 200_000: "rows=200000"}[n], func(b *testing.B) {
			var peak uint64
			for range b.N {
				p, _ := peakLiveHeap(b, n, dataverse.MaxPageSize)
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak), "peak-live-B")
		})
	}
}

// BenchmarkReadRows reads 100,000 rows through the client from the
// in-process simulator (pages of 5,000). allocs/row counts both sides:
// the simulator rendering and the client parsing.
func BenchmarkReadRows(b *testing.B) {
	const n = 100_000
	c := seededClient(b, n)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		p := c.NewListPager("accounts", &dataverse.Query{Select: benchColumns}, &dataverse.ListOptions{MaxPageSize: dataverse.MaxPageSize, PrimaryKey: "accountid"})
		got := 0
		for p.More() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			got += len(page.Rows)
		}
		if got != n {
			b.Fatalf("read %d rows", got)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	rows := float64(n) * float64(b.N)
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/rows, "allocs/row")
}

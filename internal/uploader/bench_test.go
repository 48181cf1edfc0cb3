package uploader_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// The upload pipeline's benchmarks: b.N meeting reports, each a meeting
// regarding an existing account with one note and one small document (three
// writes in one $batch), sent by one user through funchost and the real
// handler into the simulator. Run them with scripts/bench-uploads.sh, which
// starts the services; figures are in docs/performance.md.

// benchSettings keep the downstream sync out of the measurement: its reads
// would count against the same user's Dataverse limit.
var benchSettings = []string{"LOG_LEVEL=warn", "AzureWebJobs.SyncScheduler.Disabled=true", "AzureWebJobs.SyncWorker.Disabled=true"}

// benchReport is the benchmark's report number i.
func benchReport(i int) rep {
	id := fmt.Sprintf("bench-%06d", i)
	return rep{
		"uploadId": id,
		"meeting": map[string]any{"subject": "Visit " + id, "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z",
			"regarding": map[string]any{"entitySet": "accounts", "id": dataversesim.SeedID("accounts", 0)}},
		"notes":     []any{map[string]any{"text": "Discussed the offer " + id}},
		"documents": []any{map[string]any{"name": "photo.jpg", "mimeType": "image/jpeg", "content": base64.StdEncoding.EncodeToString(make([]byte, 2048))}},
	}
}

// run sends n reports with a few concurrent clients, as a fleet of
// devices coming back online would, and waits until every one is done.
// It returns the time from the first POST to the last upload done.
func runReports(b *testing.B, w *testworld.World, c *client, n int) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if status, _, body := w.API(b, http.MethodPost, "/api/uploads", c.token, benchReport(i)); status != http.StatusAccepted {
					b.Errorf("POST report %d = %d %s", i, status, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	uploads := store.NewUploads(w.DB)
	deadline := time.Now().Add(10*time.Minute + time.Duration(n)*200*time.Millisecond)
	for {
		done, err := uploads.ListByStatus(context.Background(), c.user.TenantID, c.user.OID, store.UploadDone)
		if err == nil && len(done) == n {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d uploads done before the deadline", len(done), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// verify fails the benchmark unless Dynamics holds exactly one set of
// records per report and no upload failed.
func verify(b *testing.B, w *testworld.World, c *client, before map[string]int, n int) {
	b.Helper()
	after := w.Dataverse.Counts()
	if got := after["appointments"] - before["appointments"]; got != n {
		b.Errorf("appointments grew by %d for %d reports", got, n)
	}
	if got := after["annotations"] - before["annotations"]; got != 2*n {
		b.Errorf("annotations grew by %d for %d reports, want %d", got, n, 2*n)
	}
	for _, s := range []string{store.UploadFailed, store.UploadDeadLettered, store.UploadParked} {
		if rows, _ := store.NewUploads(w.DB).ListByStatus(context.Background(), c.user.TenantID, c.user.OID, s); len(rows) > 0 {
			b.Errorf("%d uploads are %s", len(rows), s)
		}
	}
}

// traffic is what reached the simulator: every request, the ones refused
// with 429, and the admitted ones weighted as the throttle counts them (a
// $batch as its inner requests) with the first and last admission times.
type traffic struct {
	mu                    sync.Mutex
	requests, throttled   int
	admitted              int
	firstAdmit, lastAdmit time.Time
}

func watch(w *testworld.World) *traffic {
	tr := &traffic{}
	w.SetDataverseHook(func(rw http.ResponseWriter, r *http.Request, sim http.Handler) {
		cost := 1
		if strings.HasSuffix(r.URL.Path, "/$batch") {
			body, _ := io.ReadAll(r.Body)
			cost = bytes.Count(body, []byte(" HTTP/1.1\r\n"))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := &statusWriter{ResponseWriter: rw}
		sim.ServeHTTP(rec, r)
		now := time.Now()
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.requests++
		if rec.status == http.StatusTooManyRequests {
			tr.throttled++
			return
		}
		tr.admitted += cost
		if tr.firstAdmit.IsZero() {
			tr.firstAdmit = now
		}
		tr.lastAdmit = now
	})
	return tr
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// BenchmarkUploads: throughput without throttling, and what each report
// costs in Dataverse requests (the target: one $batch, nothing else).
//
// Also: Table and Blob Storage requests per report (each one billed
// transaction: intake's and the worker's reads and writes), and the
// handler's peak RSS (VmHWM) at the end.
func BenchmarkUploads(b *testing.B) {
	w := testworld.Start(b, testworld.Options{Settings: benchSettings, CountStorage: true})
	c := connect(b, w, "dave@fabrikam.example")
	tr := watch(w)
	before, storage := w.Dataverse.Counts(), w.StorageRequests(b)
	b.ResetTimer()
	elapsed := runReports(b, w, c, b.N)
	b.StopTimer()
	verify(b, w, c, before, b.N)
	after := w.StorageRequests(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reports/s")
	b.ReportMetric(float64(tr.requests)/float64(b.N), "dataverse-requests/report")
	b.ReportMetric(float64(after.Table-storage.Table)/float64(b.N), "table-tx/report")
	b.ReportMetric(float64(after.Blob-storage.Blob)/float64(b.N), "blob-tx/report")
	b.ReportMetric(float64(w.HandlerPeakRSS(b))/(1<<20), "peak-rss-MB")
}

// BenchmarkUploadsThrottled: the simulator allows each user 600 requests
// per 30 s (Dataverse's 6,000 per 5 minutes, scaled down); every report is
// three of them. Two measures of how much of that the pipeline uses:
//
//   - rate-%: admitted requests per second over the run, against 600/30 s;
//   - bound-%: the shortest time the limit permits for R admitted requests,
//     30 s × (⌈R/600⌉ − 1) from the first to the last admission (each 30 s
//     window holds at most 600), against the time it took.
func BenchmarkUploadsThrottled(b *testing.B) {
	w := testworld.Start(b, testworld.Options{Settings: benchSettings})
	c := connect(b, w, "dave@fabrikam.example")
	const limit, window = 600, 30 * time.Second
	w.Dataverse.SetThrottle(dataversesim.Throttle{Requests: limit, Window: window})
	tr := watch(w)
	before := w.Dataverse.Counts()
	b.ResetTimer()
	elapsed := runReports(b, w, c, b.N)
	b.StopTimer()
	verify(b, w, c, before, b.N)
	span := tr.lastAdmit.Sub(tr.firstAdmit)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reports/s")
	b.ReportMetric(float64(tr.requests)/float64(b.N), "dataverse-requests/report")
	b.ReportMetric(float64(tr.throttled)/float64(b.N), "429s/report")
	b.ReportMetric(float64(tr.admitted)/span.Seconds(), "admitted/s")
	b.ReportMetric(100*float64(tr.admitted)/span.Seconds()/(float64(limit)/window.Seconds()), "rate-%")
	if windows := (tr.admitted + limit - 1) / limit; windows > 1 {
		b.ReportMetric(100*float64(windows-1)*window.Seconds()/span.Seconds(), "bound-%")
	}
}

package testworld_test

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/funchost"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// BenchmarkHandlerColdStart starts funchost with the real handler binary
// and a World's settings b.N times, as a new instance of the app starts:
// ready-ms is funchost's measure from exec to the handler's first answer
// on GET / (polled every 25 ms, as the Functions host does), host-ready-ms
// the time from starting funchost to that moment, idle-rss-MB the
// handler's peak RSS once ready.
func BenchmarkHandlerColdStart(b *testing.B) {
	idle := []string{"AzureWebJobs.SyncScheduler.Disabled=true", "AzureWebJobs.SyncWorker.Disabled=true", "AzureWebJobs.UploadWorker.Disabled=true"}
	w := testworld.Start(b, testworld.Options{Settings: idle})
	var environ []string
	for k, v := range w.Settings {
		environ = append(environ, k+"="+v)
	}
	var ready, hostReady time.Duration
	var rss int64
	b.ResetTimer()
	for range b.N {
		addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(b))
		start := time.Now()
		h, err := funchost.New(funchost.Options{Root: testworld.RepoRoot(b), Addr: addr, StateDir: b.TempDir(), Out: io.Discard, Environ: environ})
		if err != nil {
			b.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		pid, in := waitHandler(b, h, done)
		hostReady += time.Since(start)
		ready += in
		n, err := testworld.PeakRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		rss = max(rss, n)
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ready-ms")
	b.ReportMetric(float64(hostReady.Milliseconds())/float64(b.N), "host-ready-ms")
	b.ReportMetric(float64(rss)/(1<<20), "idle-rss-MB")
}

// waitHandler waits (polling every millisecond) until h's handler is ready.
func waitHandler(b *testing.B, h *funchost.Host, done <-chan error) (int, time.Duration) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if pid, in := h.Handler(); pid != 0 {
			return pid, in
		}
		select {
		case err := <-done:
			b.Fatalf("funchost stopped while starting: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	b.Fatal("the handler was not ready within a minute")
	return 0, 0
}

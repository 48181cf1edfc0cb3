package diagnose

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingRunner counts runs; each says it started, then blocks until
// release is closed.
type countingRunner struct {
	runs    atomic.Int32
	started chan struct{}
	release chan struct{}
	now     func() time.Time
}

func (c *countingRunner) Run(_ context.Context, t Target) Report {
	c.runs.Add(1)
	c.started <- struct{}{}
	<-c.release
	return Report{Target: t, OK: true, At: c.now()}
}

// TestSharedRuns: concurrent requests for one target share one run; a
// report is reused until TTL, then run again; other targets run on their own.
func TestSharedRuns(t *testing.T) {
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	r := &countingRunner{started: make(chan struct{}, 10), release: make(chan struct{}), now: now}
	s := &Shared{Runner: r, TTL: 15 * time.Second, Now: now}
	a := Target{TenantID: "t", UserID: "a"}

	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { s.Run(context.Background(), a) })
	}
	<-r.started // the first run is under way; let it finish
	close(r.release)
	wg.Wait()
	if n := r.runs.Load(); n != 1 {
		t.Errorf("5 concurrent requests ran the checks %d times, want 1", n)
	}
	s.Run(context.Background(), a)
	if n := r.runs.Load(); n != 1 {
		t.Errorf("a request within the TTL ran the checks again (%d runs)", n)
	}
	s.Run(context.Background(), Target{TenantID: "t", UserID: "b"})
	if n := r.runs.Load(); n != 2 {
		t.Errorf("another user's request: %d runs, want 2", n)
	}
	mu.Lock()
	clock = clock.Add(16 * time.Second)
	mu.Unlock()
	s.Run(context.Background(), a)
	if n := r.runs.Load(); n != 3 {
		t.Errorf("a request after the TTL: %d runs, want 3", n)
	}
}

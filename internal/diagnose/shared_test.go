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

// RunOwn is Run, with a check that says it is the own view.
func (c *countingRunner) RunOwn(ctx context.Context, t Target) Report {
	r := c.Run(ctx, t)
	r.Checks = []Check{{ID: IDInfrastructure, Status: Pass}}
	return r
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

// TestSharedViews: a user's own report and the full report of the same
// target never answer for each other; each is reused for its own TTL.
func TestSharedViews(t *testing.T) {
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d) }
	r := &countingRunner{started: make(chan struct{}, 100), release: make(chan struct{}), now: now}
	close(r.release)
	s := &Shared{Runner: r, TTL: 10 * time.Second, OwnTTL: OwnReportTTL, Now: now}
	a := Target{TenantID: "t", UserID: "a"}
	isOwn := func(rep Report) bool { _, ok := rep.Check(IDInfrastructure); return ok }

	if !isOwn(s.RunOwn(context.Background(), a)) {
		t.Fatal("RunOwn answered a full report")
	}
	if isOwn(s.Run(context.Background(), a)) {
		t.Error("Run after RunOwn answered the user's own report")
	}
	if n := r.runs.Load(); n != 2 {
		t.Errorf("one run of each view: %d runs, want 2", n)
	}
	advance(30 * time.Second)
	if !isOwn(s.RunOwn(context.Background(), a)) {
		t.Error("RunOwn after Run answered the full report")
	}
	if n := r.runs.Load(); n != 2 {
		t.Errorf("the own report 30 s later was not reused (%d runs, want 2)", n)
	}
	if isOwn(s.Run(context.Background(), a)) {
		t.Error("Run answered the user's own report")
	}
	if n := r.runs.Load(); n != 3 {
		t.Errorf("the full report 30 s later was reused (%d runs, want 3)", n)
	}
	advance(OwnReportTTL)
	s.RunOwn(context.Background(), a)
	if n := r.runs.Load(); n != 4 {
		t.Errorf("the own report after OwnReportTTL was reused (%d runs, want 4)", n)
	}
}

package syncer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// trimCounter counts the trims the worker asks of the mirror.
type trimCounter struct {
	syncer.Mirror
	mu             sync.Mutex
	calls, trimmed int
}

func (c *trimCounter) TrimChanges(ctx context.Context, tenant, user string, cutoff time.Time, limit int) (int, bool, error) {
	n, more, err := c.Mirror.TrimChanges(ctx, tenant, user, cutoff, limit)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.trimmed += n
	return n, more, err
}

func (c *trimCounter) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.trimmed
}

// TestChangeLogTrimmedDaily: after a run that synced, the worker trims
// the user's change log at most once a day, deleting what is older than
// the retention except the newest entry; the app, reading from the start,
// still ends with exactly the mirror (a snapshot, then the log).
func TestChangeLogTrimmedDaily(t *testing.T) {
	trims := &trimCounter{}
	h := newHarness(t, harnessOptions{seed: 20,
		wrap:   func(m syncer.Mirror) syncer.Mirror { trims.Mirror = m; return trims },
		tuning: func(tu *config.SyncTuning) { tu.ChangesRetention = time.Nanosecond }, // every entry is "old"
	})
	h.run(t, syncer.OutcomeSynced) // 60 rows: 20 each of accounts, contacts, appointments
	if calls, n := trims.counts(); calls != 1 || n != 59 {
		t.Errorf("after the first run: %d trims removing %d entries; want 1 removing all but the newest of 60", calls, n)
	}
	assertConverged(t, h, "accounts", "contacts", "appointments")

	h.sim.Advance(2 * time.Second)
	if err := h.sim.UpdateRow("accounts", dataversesim.SeedID("accounts", 3), map[string]any{"name": "Renamed"}); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	if calls, _ := trims.counts(); calls != 1 {
		t.Errorf("a second run the same day trimmed again (%d trims); want once a day", calls)
	}
	assertConverged(t, h, "accounts", "contacts", "appointments")

	// A day later (the lease row says when the last trim was).
	l, err := h.states.Lease(context.Background(), h.tenant, h.user)
	if err != nil {
		t.Fatal(err)
	}
	if l.TrimmedAt.IsZero() || time.Since(l.TrimmedAt) > time.Minute {
		t.Fatalf("the lease row says the log was trimmed at %v; want just now", l.TrimmedAt)
	}
	l.TrimmedAt = l.TrimmedAt.Add(-25 * time.Hour)
	if _, err := h.states.UpdateLease(context.Background(), h.tenant, h.user, l); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	if calls, n := trims.counts(); calls != 2 || n != 60 {
		t.Errorf("a day later: %d trims removing %d entries in all; want 2 removing 60 (the old newest; the edit stays)", calls, n)
	}
	assertConverged(t, h, "accounts", "contacts", "appointments")
}

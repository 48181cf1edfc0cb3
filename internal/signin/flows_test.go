package signin

import (
	"context"
	"testing"
	"time"
)

// TestAbandonedFlowsDoNotPileUp: anyone can start sign-ins without coming
// back (GET /api/login needs no authentication). Flows that expired unused
// are deleted by later starts, so the table holds about one TTL's worth of
// flows however long it goes on.
func TestAbandonedFlowsDoNotPileUp(t *testing.T) {
	h := newHarness(t)
	clock := time.Now()
	h.svc.now = func() time.Time { return clock }
	ctx := context.Background()
	for minute := 0; minute < 60; minute++ {
		for i := 0; i < 5; i++ { // five abandoned sign-ins a minute
			if _, err := h.svc.StartLogin(ctx, LoginRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		clock = clock.Add(time.Minute)
	}
	h.store.mu.Lock()
	n := len(h.store.flows)
	h.store.mu.Unlock()
	if limit := 5 * (int(flowTTL/time.Minute) + 1); n > limit { // flows expiring this very minute are swept next minute
		t.Errorf("after an hour of abandoned sign-ins the store holds %d flows, want at most %d (one TTL's worth)", n, limit)
	}
}

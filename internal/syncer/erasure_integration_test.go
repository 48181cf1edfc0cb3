package syncer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncer"
)

// TestErasureHoldsTheLease: a user whose erasure took the sync lease is
// never synced again: the job ends quietly, sends nothing to Dataverse and
// is not rescheduled (a held lease would otherwise be waited for).
func TestErasureHoldsTheLease(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 2, cfg: smallPages})
	ctx := context.Background()
	if _, err := h.states.CreateLease(ctx, h.tenant, h.user, store.Lease{Owner: "erasure", Until: time.Now().AddDate(100, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	before := h.sim.Requests()
	h.run(t, syncer.OutcomeNotConnected)
	if h.sim.Requests() != before || len(h.requeue.jobs) != 0 {
		t.Errorf("%d Dataverse requests, %d jobs rescheduled; want none", h.sim.Requests()-before, len(h.requeue.jobs))
	}
}

// TestDisconnectBetweenCheckAndLease: the user disconnects after the
// worker read an active connection and before it took the lease. The
// worker reads the connection again once it holds the lease, gives the
// lease back (deleting the row it created, so nothing of the user is left)
// and writes nothing.
func TestDisconnectBetweenCheckAndLease(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 2, cfg: smallPages})
	ctx := context.Background()
	reads := 0
	conns := connFunc(func(tenant, user string) (store.Connection, error) {
		reads++
		if reads == 1 {
			return store.Connection{TenantID: tenant, UserID: user, Status: store.StatusActive, OrgURL: h.url}, nil
		}
		return store.Connection{}, store.ErrNotFound // erased meanwhile
	})
	w := syncer.NewWorker(h.cfg, h.tuning, syncer.Deps{Conns: conns, Vault: anyToken{}, States: h.states, Mirror: h.mirror, Requeue: h.requeue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Retry: dataverse.RetryPolicy{MaxAttempts: 1}})
	before := h.sim.Requests()
	res, err := w.Run(ctx, h.job())
	if err != nil || res.Outcome != syncer.OutcomeNotConnected {
		t.Fatalf("Run = %+v, %v; want not_connected", res, err)
	}
	if h.sim.Requests() != before {
		t.Errorf("%d Dataverse requests after the user disconnected", h.sim.Requests()-before)
	}
	if _, err := h.states.Lease(ctx, h.tenant, h.user); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease after the run: %v, want none left", err)
	}
	if sets, err := h.states.Sets(ctx, h.tenant, h.user); err != nil || len(sets) != 0 {
		t.Errorf("sync state after the run: %v, %v; want none", sets, err)
	}
}

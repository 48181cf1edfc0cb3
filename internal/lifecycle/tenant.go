package lifecycle

import (
	"context"
	"errors"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
)

// OffboardTenant erases every connection of tenant as EraseUser does, then
// whatever else carries the tenant's id (per-user partitions and blobs
// under its prefix, sign-ins in progress, dead letters) and last its
// approval row. The first pass marks the tenant offboarding, which
// withdraws its approval at once (no sign-in, no API call). It fails with
// a NotFound error, touching nothing, for a tenant the connector does not
// know.
func (e *Eraser) OffboardTenant(ctx context.Context, tenant, by string) (Result, error) {
	return e.offboard(ctx, tenant, by, false)
}

// ContinueOffboarding goes on with an offboarding that began; a tenant
// that is not being offboarded (its offboarding finished, and it may have
// approved the app again since) is left alone.
func (e *Eraser) ContinueOffboarding(ctx context.Context, tenant string) (Result, error) {
	return e.offboard(ctx, tenant, "", true)
}

func (e *Eraser) offboard(ctx context.Context, tenant, by string, continuing bool) (Result, error) {
	now := e.d.Now().UTC()
	t, err := e.d.Tenants.Get(ctx, tenant)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Result{}, apperr.Wrap(apperr.Transient, err, "could not read the tenant")
	}
	known := err == nil
	conns, err := e.d.Conns.List(ctx, tenant)
	if err != nil {
		return Result{}, apperr.Wrap(apperr.Transient, err, "could not list the tenant's connections")
	}
	if continuing && t.OffboardingAt.IsZero() {
		return Result{Done: true, Counts: Counts{}}, nil
	}
	if !known && len(conns) == 0 {
		return Result{}, apperr.E(apperr.NotFound, "tenant %s is unknown: it has no approval and no connections, so there is nothing to offboard (check the id with connectorctl tenants list)", tenant)
	}
	if t.OffboardingAt.IsZero() {
		t.OffboardingAt, t.OffboardingBy = now, by
		if err := e.d.Tenants.MarkOffboarding(ctx, tenant, by, now, "{}"); err != nil {
			return Result{}, apperr.Wrap(apperr.Transient, err, "could not mark the tenant offboarding")
		}
	}
	// counts are what is gone for good, kept on the tenant's row: users
	// whose erasure completed and the tenant's sweeps. pending are the
	// users still being erased: their connection rows keep their counts,
	// and eraseUser returns them cumulated, so they are never stored here.
	counts, pending := parseCounts(t.OffboardCounts), Counts{}
	res := Result{}
	req := Request{Kind: store.ErasureOffboard, By: t.OffboardingBy}
	// Every connection is fenced before any is erased, so a pass that
	// runs out of time leaves no user of the tenant syncing.
	for _, c := range conns {
		if _, _, err := e.fence(ctx, tenant, c.UserID, req, now); err != nil {
			return e.offboardProgress(ctx, tenant, t, res, counts, pending), err
		}
	}
	for _, c := range conns {
		r, err := e.eraseUser(ctx, tenant, c.UserID, req, true)
		if r.Done {
			counts.add(r.Counts)
		} else {
			pending.add(r.Counts)
		}
		if err != nil {
			return e.offboardProgress(ctx, tenant, t, res, counts, pending), err
		}
		res = e.merge(res, r)
	}
	if res.RetryAt.IsZero() {
		if err := e.sweepTenant(ctx, tenant, counts); err != nil {
			return e.offboardProgress(ctx, tenant, t, res, counts, pending), err
		}
	}
	res = e.offboardProgress(ctx, tenant, t, res, counts, pending)
	if !res.RetryAt.IsZero() {
		return res, nil
	}
	counts = res.Counts // pending is empty: every user's erasure completed
	if err := e.d.Audit.Record(ctx, store.ErasureRecord{Kind: store.ErasureOffboard, Tenant: e.d.Pseudo.Tenant(tenant),
		By: t.OffboardingBy, RequestedAt: t.OffboardingAt, CompletedAt: now, Counts: (Counts{store.TenantsTable: 1}).plus(counts).String()}); err != nil {
		return res, err
	}
	if err := e.d.Tenants.Delete(ctx, tenant); err != nil {
		return res, err
	}
	counts[store.TenantsTable]++
	e.d.Logger.Info("tenant offboarded", "tenant", tenant, "counts", counts.String())
	res.Done = true
	return res, nil
}

// merge takes the earliest retry of the users still being erased.
func (e *Eraser) merge(res Result, r Result) Result {
	if !r.Done && (res.RetryAt.IsZero() || r.RetryAt.Before(res.RetryAt)) {
		res.RetryAt, res.Waiting = r.RetryAt, r.Waiting
	}
	return res
}

// offboardProgress stores the counts of what is gone for good on the
// tenant's row and returns res with every count so far (those and the
// pending users').
func (e *Eraser) offboardProgress(ctx context.Context, tenant string, t store.Tenant, res Result, counts, pending Counts) Result {
	if err := e.d.Tenants.MarkOffboarding(ctx, tenant, t.OffboardingBy, t.OffboardingAt, counts.String()); err != nil {
		e.d.Logger.Warn("could not record the offboarding's progress; the counts start again", "tenant", tenant, "error", err.Error())
	}
	res.Counts = counts.plus(pending)
	return res
}

func (c Counts) plus(o Counts) Counts {
	sum := Counts{}
	sum.add(c)
	sum.add(o)
	return sum
}

// sweepTenant deletes what is left under the tenant's keys once every
// connection is erased: partitions "<tenant>_…" of the per-user tables
// (uploads of users without a connection, leftovers), blobs under
// "<tenant>/", sign-ins in progress for the tenant, dead letters.
func (e *Eraser) sweepTenant(ctx context.Context, tenant string, counts Counts) error {
	prefix := store.PrefixFilter(store.TenantPrefix(tenant))
	for _, t := range []string{mirror.RecordsTable, mirror.ChangesTable, store.SyncStateTable, store.UploadsTable} {
		n, err := e.d.DB.Purge(ctx, t, prefix)
		counts[t] += n
		if err != nil {
			return err
		}
	}
	n, err := e.d.DB.Purge(ctx, store.AuthFlowsTable, "Tenant eq '"+tenant+"'")
	counts[store.AuthFlowsTable] += n
	if err != nil {
		return err
	}
	for _, c := range e.d.Blobs {
		if err := e.deletePrefix(ctx, c, tenant+"/", counts); err != nil {
			return err
		}
	}
	return e.purgeDeadLetters(ctx, tenant, "", counts)
}

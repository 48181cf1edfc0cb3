package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
)

// watermark syncs a table without change tracking: the rows modified after
// the stored watermark, ordered by modifiedon. A row's modifiedon is set
// when its transaction starts, so a row can become visible after a later
// one was read: rows modified less than WatermarkOverlap before the
// previous read started are read again, and those the mirror already holds
// unchanged are skipped, so they are not logged twice. Deletions leave no
// trace in such a table, so every ReconcileInterval the set's ids are read
// in full and the mirror's rows not among them are removed.
func (r *setRun) watermark(ctx context.Context) error {
	prev, gen := r.st.Watermark, r.st.Generation
	full := prev.IsZero()
	filter := r.cfg.Filter
	readAt := r.w.d.Now()
	// Rows at or before settled were committed when the previous read
	// started; later ones may have been invisible to it.
	settled := r.st.WatermarkReadAt.Add(-r.w.tuning.WatermarkOverlap)
	switch {
	case full:
		gen++
		r.res.Full = true
	case prev.Before(settled):
		filter = and(filter, "modifiedon gt "+prev.UTC().Format(time.RFC3339))
	default:
		filter = and(filter, "modifiedon ge "+settled.UTC().Format(time.RFC3339))
	}
	q := &dataverse.Query{Select: r.sel, Filter: filter, OrderBy: []string{"modifiedon asc", r.st.PrimaryKey + " asc"}}
	pager := r.client.NewListPager(r.cfg.Name, q, &dataverse.ListOptions{MaxPageSize: r.cfg.PageSize, PrimaryKey: r.st.PrimaryKey})
	seen := prev
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("read %s page %d: %w", r.cfg.Name, r.res.Pages+1, err)
		}
		r.res.Pages++
		entries := make([]mirror.Entry, 0, len(page.Rows))
		for _, row := range page.Rows {
			m, err := modifiedOn(row.Data)
			if err != nil || row.ID == "" {
				return fmt.Errorf("read %s page %d: a row without %s or a valid modifiedon", r.cfg.Name, r.res.Pages, r.st.PrimaryKey)
			}
			if m.After(seen) {
				seen = m
			}
			if !full && !m.After(prev) { // seen before, maybe unchanged
				same, err := r.w.d.Mirror.Same(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, row.ID, row.Data)
				if err != nil {
					return err
				}
				if same {
					continue
				}
			}
			entries = append(entries, mirror.Entry{ID: row.ID, Data: row.Data})
		}
		if err := r.apply(ctx, entries, gen); err != nil {
			return err
		}
	}
	if full && r.st.Generation > 0 {
		if err := r.sweep(ctx, gen); err != nil {
			return err
		}
	}
	r.st.Watermark, r.st.WatermarkReadAt, r.st.Generation = seen, readAt, gen
	now := r.w.d.Now()
	if full {
		r.st.LastReconcile = now
		return nil
	}
	if now.Sub(r.st.LastReconcile) < r.w.tuning.ReconcileInterval {
		return nil
	}
	return r.reconcile(ctx, now)
}

// reconcile reads every id of the set, marks the mirror's rows that still
// exist with a new generation and removes the others.
func (r *setRun) reconcile(ctx context.Context, now time.Time) error {
	gen := r.st.Generation + 1
	r.res.Full = true
	q := &dataverse.Query{Select: []string{r.st.PrimaryKey}, Filter: r.cfg.Filter}
	pager := r.client.NewListPager(r.cfg.Name, q, &dataverse.ListOptions{MaxPageSize: r.cfg.PageSize, PrimaryKey: r.st.PrimaryKey})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("reconcile %s page: %w", r.cfg.Name, err)
		}
		r.res.Pages++
		ids := make([]string, 0, len(page.Rows))
		for _, row := range page.Rows {
			ids = append(ids, row.ID)
		}
		if err := r.w.d.Mirror.Mark(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, ids, gen); err != nil {
			return err
		}
	}
	if err := r.sweep(ctx, gen); err != nil {
		return err
	}
	r.st.Generation, r.st.LastReconcile = gen, now
	return nil
}

// modifiedOn reads a row's modifiedon.
func modifiedOn(row json.RawMessage) (time.Time, error) {
	var v struct {
		ModifiedOn time.Time `json:"modifiedon"`
	}
	if err := json.Unmarshal(row, &v); err != nil {
		return time.Time{}, err
	}
	if v.ModifiedOn.IsZero() {
		return time.Time{}, fmt.Errorf("no modifiedon")
	}
	return v.ModifiedOn, nil
}

// and joins two filters.
func and(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") and " + b
}

package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
)

// watermark syncs a table without change tracking: the rows modified after
// the stored watermark, ordered by modifiedon. A row's modifiedon is set
// when its transaction starts, so a row can become visible after a later
// one was read: rows modified less than WatermarkOverlap before the
// previous read started are read again, and those the mirror already holds
// unchanged are skipped, so they are not logged twice. Deletions leave no
// trace in such a table, so every ReconcileInterval the set's ids are read
// in full and the mirror's rows not among them are removed. A full read or
// reconcile in progress (checkpointed by an earlier run) goes on first,
// before any incremental read: every write then carries its generation.
func (r *setRun) watermark(ctx context.Context) error {
	switch {
	case r.st.FullKind == store.FullIDs:
		return r.reconcile(ctx)
	case r.st.FullKind == store.FullRows || r.st.Watermark.IsZero():
		return r.watermarkFull(ctx)
	}
	prev := r.st.Watermark
	readAt := r.w.d.Now()
	// Rows at or before settled were committed when the previous read
	// started; later ones may have been invisible to it.
	settled := r.st.WatermarkReadAt.Add(-r.w.tuning.WatermarkOverlap)
	filter := "modifiedon ge " + settled.UTC().Format(time.RFC3339)
	if prev.Before(settled) {
		filter = "modifiedon gt " + prev.UTC().Format(time.RFC3339)
	}
	pager := r.client.NewListPager(r.cfg.Name, r.byModifiedOn(filter), r.listOptions())
	seen := prev
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("read %s page %d: %w", r.cfg.Name, r.res.Pages+1, err)
		}
		r.res.Pages++
		entries := make([]mirror.Entry, 0, len(page.Rows))
		for _, row := range page.Rows {
			m, err := r.modifiedOn(row)
			if err != nil {
				return err
			}
			seen = later(seen, m)
			if !m.After(prev) { // seen before, maybe unchanged
				stored := row.Data // as the mirror keeps it: without the columns read only for the profile
				if len(r.strip) > 0 {
					if stored, err = stripColumns(row.Data, r.strip); err != nil {
						return fmt.Errorf("read %s: row %s: %w", r.cfg.Name, row.ID, err)
					}
				}
				same, err := r.w.d.Mirror.Same(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, row.ID, stored)
				if err != nil {
					return err
				}
				if same {
					continue
				}
			}
			entries = append(entries, mirror.Entry{ID: row.ID, Data: row.Data})
		}
		if err := r.write(ctx, entries, r.st.Generation, false); err != nil {
			return err
		}
	}
	r.st.Watermark, r.st.WatermarkReadAt = seen, readAt
	if r.w.d.Now().Sub(r.st.LastReconcile) < r.w.tuning.ReconcileInterval {
		return nil
	}
	return r.reconcile(ctx)
}

// watermarkFull reads every row of a table without change tracking,
// ordered by modifiedon (so rows changed while the read goes on come again
// at its end), and removes the mirror's rows it did not see.
func (r *setRun) watermarkFull(ctx context.Context) error {
	_, err := r.runFull(ctx, fullRead{
		kind: store.FullRows,
		open: func(link string) (*dataverse.Pager, error) {
			if link == "" {
				return r.client.NewListPager(r.cfg.Name, r.byModifiedOn(""), r.listOptions()), nil
			}
			return r.client.ResumeListPager(link, r.listOptions())
		},
		persist: func(ctx context.Context, page *dataverse.Page, gen int64) error {
			entries := make([]mirror.Entry, 0, len(page.Rows))
			for _, row := range page.Rows {
				m, err := r.modifiedOn(row)
				if err != nil {
					return err
				}
				r.st.FullWatermark = later(r.st.FullWatermark, m)
				entries = append(entries, mirror.Entry{ID: row.ID, Data: row.Data})
			}
			return r.write(ctx, entries, gen, true)
		},
	})
	if err != nil {
		return err
	}
	gen := r.st.FullGeneration
	if gen > 1 {
		if err := r.sweep(ctx, gen); err != nil {
			return err
		}
	}
	r.st.Watermark, r.st.WatermarkReadAt, r.st.Generation = r.st.FullWatermark, r.st.FullStarted, gen
	r.st.LastReconcile = r.w.d.Now()
	r.endFull()
	return nil
}

// reconcile reads every id of the set, marks the mirror's rows that still
// exist with a new generation and removes the others.
func (r *setRun) reconcile(ctx context.Context) error {
	_, err := r.runFull(ctx, fullRead{
		kind: store.FullIDs,
		open: func(link string) (*dataverse.Pager, error) {
			if link == "" {
				q := &dataverse.Query{Select: []string{r.st.PrimaryKey}}
				return r.client.NewListPager(r.cfg.Name, q, r.listOptions()), nil
			}
			return r.client.ResumeListPager(link, r.listOptions())
		},
		persist: func(ctx context.Context, page *dataverse.Page, gen int64) error {
			ids := make([]string, 0, len(page.Rows))
			for _, row := range page.Rows {
				ids = append(ids, row.ID)
			}
			if r.filter != nil || r.asChild() != nil {
				// Most of a profiled set's rows are not in the mirror:
				// mark only those that are (a read each, not a failed write).
				held, err := r.w.d.Mirror.Has(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, ids)
				if err != nil {
					return err
				}
				ids = slices.DeleteFunc(ids, func(id string) bool { return !held[id] })
			}
			return r.w.d.Mirror.Mark(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, ids, gen)
		},
	})
	if err != nil {
		return err
	}
	gen := r.st.FullGeneration
	if err := r.sweep(ctx, gen); err != nil {
		return err
	}
	r.st.Generation, r.st.LastReconcile = gen, r.w.d.Now()
	r.endFull()
	return nil
}

// byModifiedOn is the query of a watermark read: the configured columns,
// filter, oldest change first.
func (r *setRun) byModifiedOn(filter string) *dataverse.Query {
	return &dataverse.Query{Select: r.sel, Filter: filter, OrderBy: []string{"modifiedon asc", r.st.PrimaryKey + " asc"}}
}

func (r *setRun) listOptions() *dataverse.ListOptions {
	return &dataverse.ListOptions{MaxPageSize: r.cfg.PageSize, PrimaryKey: r.st.PrimaryKey}
}

// modifiedOn reads the modifiedon of a row of a watermark read.
func (r *setRun) modifiedOn(row dataverse.Row) (time.Time, error) {
	m, err := modifiedOn(row.Data)
	if err != nil || row.ID == "" {
		return time.Time{}, fmt.Errorf("read %s page %d: a row without %s or a valid modifiedon", r.cfg.Name, r.res.Pages, r.st.PrimaryKey)
	}
	return m, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
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

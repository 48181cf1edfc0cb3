package syncer

import (
	"context"
	"fmt"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
)

// changeTracking syncs a table with Dataverse change tracking: from the
// stored delta link, or (first run, changed columns, expired token) a full
// read that starts a new delta link, followed by a sweep of the rows it did
// not see when the mirror may hold rows from before. A full read in
// progress (checkpointed by an earlier run) goes on first.
func (r *setRun) changeTracking(ctx context.Context) error {
	opts := &dataverse.ChangesOptions{Select: r.sel, MaxPageSize: r.cfg.PageSize, PrimaryKey: r.st.PrimaryKey}
	if r.st.DeltaLink != "" && r.st.FullKind == "" {
		pager, err := r.client.ResumeChangesPager(r.st.DeltaLink, opts)
		if err != nil {
			r.log.Warn("the stored delta link is not usable; reading the set in full", "error", err.Error())
		} else {
			link, err := r.readDelta(ctx, pager)
			switch {
			case err == nil:
				r.st.DeltaLink = link
				return nil
			case !dataverse.IsExpiredDeltaToken(err):
				return err
			}
			r.log.Warn("the delta token has expired; reading the set in full and removing the rows deleted meanwhile")
		}
	}
	pager, err := r.runFull(ctx, fullRead{
		kind: store.FullRows,
		open: func(link string) (*dataverse.Pager, error) {
			if link == "" {
				return r.client.NewChangesPager(r.cfg.Name, opts), nil
			}
			return r.client.ResumeChangesFrom(link, opts)
		},
		persist: func(ctx context.Context, page *dataverse.Page, gen int64) error {
			entries, err := r.entries(page, nil)
			if err != nil {
				return err
			}
			return r.write(ctx, entries, gen, true)
		},
	})
	if err != nil {
		return err
	}
	// The delta link of a read that took several runs stands for the
	// state when its first page was read (see docs/decisions.md).
	link := pager.DeltaLink()
	if link == "" {
		return fmt.Errorf("read %s: the last page carried no delta link", r.cfg.Name)
	}
	gen := r.st.FullGeneration
	if gen > 1 { // an earlier generation may have left rows deleted since
		if err := r.sweep(ctx, gen); err != nil {
			return err
		}
	}
	r.endFull()
	r.st.DeltaLink, r.st.Generation = link, gen
	return nil
}

// readDelta applies every page of a delta read and returns its new delta
// link, which the caller stores only after this returns: a crash before
// then repeats the read, never skips it.
//
// In a delta, Dataverse lists the latest state of every row that exists first
// and the deletions after (docs/reference/dataverse-webapi.md §3.2), so a row
// that was deleted and created again with the same id comes as a row and then
// a tombstone: the row exists, and the tombstone is dropped. Only a delta's
// upserted ids are remembered for this, so memory follows the number of
// changes, never the size of the table.
func (r *setRun) readDelta(ctx context.Context, pager *dataverse.Pager) (string, error) {
	upserted := map[string]bool{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("read %s page %d: %w", r.cfg.Name, r.res.Pages+1, err)
		}
		r.res.Pages++
		entries, err := r.entries(page, upserted)
		if err != nil {
			return "", err
		}
		if err := r.write(ctx, entries, r.st.Generation, false); err != nil {
			return "", err
		}
	}
	link := pager.DeltaLink()
	if link == "" {
		return "", fmt.Errorf("read %s: the last page carried no delta link", r.cfg.Name)
	}
	return link, nil
}

// entries turns a page of a change-tracking read into mirror entries. With
// upserted (a delta read) a tombstone of a row the read has upserted is
// dropped, and the page's upserts are added to it.
func (r *setRun) entries(page *dataverse.Page, upserted map[string]bool) ([]mirror.Entry, error) {
	entries := make([]mirror.Entry, 0, len(page.Rows))
	for _, row := range page.Rows {
		if row.ID == "" {
			return nil, fmt.Errorf("read %s page %d: a row has no %s", r.cfg.Name, r.res.Pages, r.st.PrimaryKey)
		}
		if row.Deleted && upserted[row.ID] {
			continue
		}
		if !row.Deleted && upserted != nil {
			upserted[row.ID] = true
		}
		entries = append(entries, mirror.Entry{ID: row.ID, Deleted: row.Deleted, Data: row.Data})
	}
	return entries, nil
}

// apply reserves change-log numbers and writes entries. Within a full
// read's pages (r.behind) it returns once their changes are logged, and
// the mirror's writes go on beside the next page's (settle waits for them).
func (r *setRun) apply(ctx context.Context, entries []mirror.Entry, gen int64) error {
	if len(entries) == 0 {
		return nil
	}
	if err := r.settleOverlaps(entries); err != nil {
		return err
	}
	first, err := r.l.reserve(ctx, len(entries))
	if err != nil {
		return err
	}
	wait, err := r.w.d.Mirror.Begin(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, entries, gen, first)
	if err != nil {
		return err
	}
	if !r.behind {
		if err := wait(); err != nil {
			return err
		}
	} else {
		r.writing = append(r.writing, pendingWrite{wait: wait, entries: entries})
	}
	r.wroteSinceCheckpoint += len(entries)
	for _, e := range entries {
		if e.Deleted {
			r.res.Deleted++
		} else {
			r.res.Upserted++
		}
	}
	return nil
}

// sweep deletes the rows of the set a full read of generation gen did not
// see: they were deleted in Dynamics while their tombstones were out of
// reach (an expired token, or a table without change tracking), or left
// the profile. Their children follow (writeAdmitted records them).
func (r *setRun) sweep(ctx context.Context, gen int64) error {
	return r.w.d.Mirror.Stale(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, gen, func(ids []string) error {
		entries := make([]mirror.Entry, len(ids))
		for i, id := range ids {
			entries[i] = mirror.Entry{ID: id, Deleted: true}
		}
		return r.writeAdmitted(ctx, entries, gen)
	})
}

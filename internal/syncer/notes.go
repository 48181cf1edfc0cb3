package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
)

// Notes (annotations) are synced after the configured sets, with change
// tracking like any set, but only the notes regarding a row the user's
// mirror holds, in a set whose notes are on, reach the mirror and change
// log; the others are dropped before any write. A note is admitted on its
// new state: one that now regards a row outside the mirror leaves it.
//
// A note can be read before the row it regards is in the mirror (a row
// shared with the user later, or created between the reads of its set and
// of the notes). So a delta of a set with notes remembers the rows that
// enter the mirror (by point reads before they are written) in the notes'
// state, committed before they are written; the notes' next run reads
// their notes by a query. A set read in full instead starts the notes over
// with a full read. docs/decisions.md ("Notes") has the costs.

// maxPending bounds the rows remembered as entered (the characters of
// Pending: a Table string property holds 32,768 UTF-16 units); past it the
// notes are read in full, which costs less than so many queries.
const maxPending = 30000

// maxKnown bounds the rows a run remembers the mirror holding or not.
const maxKnown = 20000

// pendingChunk is how many rows one query for their notes names.
const pendingChunk = 25

// notesRun is what one run's sets share about notes.
type notesRun struct {
	// parents maps a table's logical name (a note's objecttypecode) to the
	// synced entity set whose notes are on.
	parents map[string]string
	// sets are the entity sets whose notes are on.
	sets map[string]bool
	// st is the notes' state as stored: the parents' runs add to Pending.
	st store.SetState
	// known caches which rows the mirror holds ("<set>_<id>"), for this run.
	known map[string]bool
}

func newNotesRun(sets []syncconfig.EntitySet, st store.SetState) *notesRun {
	nr := &notesRun{parents: map[string]string{}, sets: map[string]bool{}, st: st, known: map[string]bool{}}
	nr.st.EntitySet = syncconfig.NotesSet
	for _, es := range sets {
		if es.Name != syncconfig.NotesSet && es.NotesOn() {
			nr.sets[es.Name] = true
		}
	}
	return nr
}

// setsOf returns the synced sets a note with objecttypecode table may
// regard: the set of that table (none for a table not synced, or synced
// without its notes), or every set with notes when Dataverse left
// objecttypecode out.
func (nr *notesRun) setsOf(table string) []string {
	if table != "" {
		if set, ok := nr.parents[table]; ok {
			return []string{set}
		}
		return nil
	}
	sets := make([]string, 0, len(nr.parents))
	for _, set := range nr.parents {
		sets = append(sets, set)
	}
	slices.Sort(sets)
	return sets
}

// watches reports whether r's rows can have notes that are synced.
func (r *setRun) watches() bool { return r.nr != nil && r.nr.sets[r.cfg.Name] }

// isNotes reports whether r is the notes' run.
func (r *setRun) isNotes() bool { return r.nr != nil && r.cfg.Name == syncconfig.NotesSet }

// startOver makes the notes' next run a full read (which also covers
// whatever was pending).
func startOver(st *store.SetState) {
	st.DeltaLink, st.Watermark, st.FullKind, st.FullNextLink, st.Pending = "", time.Time{}, "", "", ""
}

// noteEntered remembers, before entries of a delta are written, the rows
// among them that the mirror does not hold yet: their notes may have been
// read (and dropped) before. The notes' state is committed with the lease
// first, so a crash after the write cannot forget them.
func (r *setRun) noteEntered(ctx context.Context, entries []mirror.Entry) error {
	if !r.watches() {
		return nil
	}
	var ids []string
	for _, e := range entries {
		if !e.Deleted {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	has, err := r.w.d.Mirror.Has(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, ids)
	if err != nil {
		return err
	}
	st := &r.nr.st
	added := false
	for _, id := range ids {
		if has[id] {
			continue
		}
		r.nr.known[r.cfg.Name+"_"+id] = true // it is, once written
		if st.FullKind == "" && st.DeltaLink == "" && st.Watermark.IsZero() {
			continue // the notes are read in full next anyway
		}
		entry := r.cfg.Name + ":" + id
		if len(st.Pending)+1+len(entry) > maxPending {
			startOver(st)
			added = true
			break
		}
		if st.Pending != "" {
			st.Pending += " "
		}
		st.Pending += entry
		added = true
	}
	if !added {
		return nil
	}
	if err := r.l.commit(ctx, *st); err != nil {
		return fmt.Errorf("remember the rows of %s that entered the mirror: %w", r.cfg.Name, err)
	}
	return nil
}

// admitNotes keeps the notes of entries that regard a row the mirror
// holds. In a delta (full false) a note that does not, or a deletion, is
// written as a deletion when the mirror holds the note, and dropped
// otherwise; a full read drops them (its sweep removes what it did not
// see).
func (r *setRun) admitNotes(ctx context.Context, entries []mirror.Entry, full bool) ([]mirror.Entry, error) {
	if len(r.nr.known) > maxKnown {
		clear(r.nr.known) // a full read of many rows' notes: memory before point reads
	}
	// The rows each upserted note may regard, "<set>_<id>" (setsOf).
	parents := make([][]string, len(entries))
	need := map[string][]string{}
	for i, e := range entries {
		if e.Deleted {
			continue
		}
		var n struct {
			Object string `json:"_objectid_value"`
			Table  string `json:"objecttypecode"`
		}
		if err := json.Unmarshal(e.Data, &n); err != nil {
			return nil, fmt.Errorf("read %s: note %s: %w", r.cfg.Name, e.ID, err)
		}
		if n.Object == "" {
			continue
		}
		sets := r.nr.setsOf(n.Table)
		id := strings.ToLower(n.Object)
		for _, set := range sets {
			key := set + "_" + id
			parents[i] = append(parents[i], key)
			if _, ok := r.nr.known[key]; !ok && !slices.Contains(need[set], id) {
				need[set] = append(need[set], id)
			}
		}
	}
	for set, ids := range need {
		has, err := r.w.d.Mirror.Has(ctx, r.job.TenantID, r.job.UserID, set, ids)
		if err != nil {
			return nil, err
		}
		for id, ok := range has {
			r.nr.known[set+"_"+id] = ok
		}
	}
	keep := func(i int) bool {
		return slices.ContainsFunc(parents[i], func(k string) bool { return r.nr.known[k] })
	}
	var doubt []string // notes to delete if the mirror holds them
	if !full {
		for i, e := range entries {
			if !keep(i) {
				doubt = append(doubt, e.ID)
			}
		}
	}
	held := map[string]bool{}
	if len(doubt) > 0 {
		var err error
		if held, err = r.w.d.Mirror.Has(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, doubt); err != nil {
			return nil, err
		}
	}
	// Keep the read's order: a note's deletion goes where the note was.
	var out []mirror.Entry
	for i, e := range entries {
		switch {
		case keep(i):
			out = append(out, e)
		case held[e.ID]:
			out = append(out, mirror.Entry{ID: e.ID, Deleted: true})
		}
	}
	return out, nil
}

// readPending reads the notes of the rows that entered the mirror since
// the notes' last run, a few rows per query.
func (r *setRun) readPending(ctx context.Context) error {
	bySet := map[string][]string{}
	for _, p := range strings.Fields(r.st.Pending) {
		set, id, ok := strings.Cut(p, ":")
		if ok && uuid.Validate(id) == nil {
			bySet[set] = append(bySet[set], id)
		}
	}
	for _, ids := range bySet {
		for chunk := range slices.Chunk(ids, pendingChunk) {
			terms := make([]string, len(chunk))
			for i, id := range chunk {
				terms[i] = "_objectid_value eq " + id
			}
			q := &dataverse.Query{Select: r.sel, Filter: strings.Join(terms, " or ")}
			pager := r.client.NewListPager(r.cfg.Name, q, r.listOptions())
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					return fmt.Errorf("read the notes of rows that entered the mirror: %w", err)
				}
				r.res.Pages++
				entries := make([]mirror.Entry, 0, len(page.Rows))
				for _, row := range page.Rows {
					entries = append(entries, mirror.Entry{ID: row.ID, Data: row.Data})
				}
				if entries, err = r.admitNotes(ctx, entries, true); err != nil {
					return err
				}
				if err := r.apply(ctx, entries, r.st.Generation); err != nil {
					return err
				}
			}
		}
	}
	r.st.Pending = ""
	return nil
}

// write applies the entries of a read (full: of a full read): a page of
// notes is filtered first; before a delta of a set with notes is written,
// the rows entering the mirror are remembered; after a delta of notes, the
// cached documents of the notes it changed are forgotten.
func (r *setRun) write(ctx context.Context, entries []mirror.Entry, gen int64, full bool) error {
	var err error
	switch {
	case r.isNotes():
		if entries, err = r.admitNotes(ctx, entries, full); err != nil {
			return err
		}
	case !full:
		if err := r.noteEntered(ctx, entries); err != nil {
			return err
		}
	}
	if err := r.apply(ctx, entries, gen); err != nil {
		return err
	}
	if full {
		return nil
	}
	return r.forget(ctx, entries)
}

// forget drops the cached documents of notes a delta or sweep changed or
// deleted: a cached file is never served for another version, and this
// frees its storage.
func (r *setRun) forget(ctx context.Context, entries []mirror.Entry) error {
	if !r.isNotes() || r.w.d.Documents == nil || len(entries) == 0 {
		return nil
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return r.w.d.Documents.Forget(ctx, r.job.TenantID, r.job.UserID, ids)
}

package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/rowfilter"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
)

// Related rows. Some sets' rows belong in a user's mirror only with the row
// they belong to (their parent): the rows of a set configured relatedTo
// another (the contacts of the user's accounts), and the notes
// (annotations) of the rows of the sets whose notes are on. A child row is
// admitted on its new state when the mirror holds its parent, and leaves
// the mirror when it no longer does; the others are dropped before any
// write. Parents are synced first (they come earlier in the configuration;
// the notes last).
//
// A parent can enter the mirror after its children were read (a row shared
// with the user later, created between the reads of the two sets, or
// entering the user's profile), and leave it while its children stay in
// Dynamics (reassigned, deactivated). So a delta of a parent set finds the
// rows that enter the mirror (a point read each, before they are written)
// and those that leave it, and records them in each child set's state
// (Pending, Gone), committed with the lease before the parent's rows are
// written: a crash cannot forget them. The child's next run reads the
// children of the parents that entered by a query and deletes those of
// the parents that left, found by the parent id kept with each child
// record (mirror.Entry.Rel). A parent set read in full instead starts its
// children over with a full read. docs/decisions.md ("Related rows") has
// the costs.

// maxPending bounds the characters of Pending and of Gone (a Table string
// property holds 32,768 UTF-16 units); past it the child set is read in
// full, which costs less than so many queries.
const maxPending = 30000

// maxKnown bounds the rows a run remembers the mirror holding or not.
const maxKnown = 20000

// pendingChunk is how many parents one query for their children names.
const pendingChunk = 25

// child is a set whose rows belong to rows of other sets.
type child struct {
	set    string // the child entity set
	lookup string // its column naming the parent row
	// parents are the parent sets. typed (the notes) means the row's
	// objecttypecode names which one.
	parents []string
	typed   bool
	st      store.SetState // as stored: the parents' runs add to Pending and Gone
}

// relations is what one run's sets share about related rows.
type relations struct {
	children map[string]*child   // by child set
	of       map[string][]*child // by parent set
	// logical maps a table's logical name to its set, for typed children.
	logical map[string]string
	// known caches which rows the mirror holds ("<set>_<id>"), for this run.
	known map[string]bool
}

// newRelations returns the relations of sets (the notes set last, if
// synced), with the children's states as stored; nil when there are none.
func newRelations(sets []syncconfig.EntitySet, states map[string]store.SetState) *relations {
	rel := &relations{children: map[string]*child{}, of: map[string][]*child{}, logical: map[string]string{}, known: map[string]bool{}}
	var withNotes []string
	for _, es := range sets {
		var c *child
		switch {
		case es.Name == syncconfig.NotesSet:
			c = &child{set: es.Name, lookup: "_objectid_value", parents: withNotes, typed: true}
		case es.RelatedTo != nil:
			c = &child{set: es.Name, lookup: es.RelatedTo.Lookup, parents: []string{es.RelatedTo.Set}}
		}
		if es.Name != syncconfig.NotesSet && es.NotesOn() {
			withNotes = append(withNotes, es.Name)
		}
		if c == nil {
			continue
		}
		c.st = states[c.set]
		c.st.EntitySet = c.set
		rel.children[c.set] = c
		for _, p := range c.parents {
			rel.of[p] = append(rel.of[p], c)
		}
	}
	if len(rel.children) == 0 {
		return nil
	}
	return rel
}

// parentsOf returns the sets a child row may belong to: for the notes, the
// set of the table its objecttypecode names (none for a table not synced,
// or synced without its notes), or every set with notes when Dataverse
// left objecttypecode out.
func (rel *relations) parentsOf(c *child, data map[string]json.RawMessage) []string {
	if !c.typed {
		return c.parents
	}
	var table string
	if raw, ok := data["objecttypecode"]; ok {
		_ = json.Unmarshal(raw, &table)
	}
	if table == "" {
		return c.parents
	}
	if set, ok := rel.logical[table]; ok && slices.Contains(c.parents, set) {
		return []string{set}
	}
	return nil
}

// child is set as a child; nil when it is none (or rel is nil).
func (rel *relations) child(set string) *child {
	if rel == nil {
		return nil
	}
	return rel.children[set]
}

// asChild is r's set as a child; nil when it is none.
func (r *setRun) asChild() *child { return r.rel.child(r.cfg.Name) }

// fullNext reports whether st's next read is a full one anyway.
func fullNext(st store.SetState) bool {
	return st.FullKind == "" && st.DeltaLink == "" && st.Watermark.IsZero()
}

// startOver makes a child set's next run a full read (which also covers
// whatever was pending or gone).
func startOver(st *store.SetState) {
	st.DeltaLink, st.Watermark, st.FullKind, st.FullNextLink, st.Pending, st.Gone = "", time.Time{}, "", "", "", ""
}

// addTokens appends "<set>:<id>" of ids to list, or starts st over when
// the list would grow past maxPending.
func addTokens(st *store.SetState, list *string, set string, ids []string) {
	for _, id := range ids {
		if fullNext(*st) {
			return
		}
		token := set + ":" + id
		if len(*list)+1+len(token) > maxPending {
			startOver(st)
			return
		}
		if *list != "" {
			*list += " "
		}
		*list += token
	}
}

// watchChildren records, before entries of a delta of a parent set are
// written, the rows that enter the mirror (upserts it does not hold yet)
// and those that leave it (deletions) in each child set's state, committed
// with the lease first.
func (r *setRun) watchChildren(ctx context.Context, entries []mirror.Entry) error {
	if r.rel == nil || len(r.rel.of[r.cfg.Name]) == 0 {
		return nil
	}
	var ups, gone []string
	for _, e := range entries {
		if e.Deleted {
			gone = append(gone, e.ID)
		} else {
			ups = append(ups, e.ID)
		}
	}
	var entered []string
	if len(ups) > 0 {
		has, err := r.w.d.Mirror.Has(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, ups)
		if err != nil {
			return err
		}
		for _, id := range ups {
			if !has[id] {
				entered = append(entered, id)
			}
		}
	}
	for _, id := range entered {
		r.rel.known[r.cfg.Name+"_"+id] = true // it is, once written
	}
	for _, id := range gone {
		r.rel.known[r.cfg.Name+"_"+id] = false
	}
	if len(entered) == 0 && len(gone) == 0 {
		return nil
	}
	var sts []store.SetState
	for _, c := range r.rel.of[r.cfg.Name] {
		before := c.st
		addTokens(&c.st, &c.st.Pending, r.cfg.Name, entered)
		addTokens(&c.st, &c.st.Gone, r.cfg.Name, gone)
		if c.st != before {
			sts = append(sts, c.st)
		}
	}
	if len(sts) == 0 {
		return nil
	}
	if err := r.l.commit(ctx, sts...); err != nil {
		return fmt.Errorf("remember the rows of %s that entered or left the mirror: %w", r.cfg.Name, err)
	}
	return nil
}

// admit keeps the rows of entries that belong in the user's mirror: for a
// child set, those whose parent the mirror holds (with Rel set to it). In
// a delta (full false) a row that does not belong, or a deletion, is
// written as a deletion when the mirror holds the row, and dropped
// otherwise; a full read drops them (its sweep removes what it did not
// see).
func (r *setRun) admit(ctx context.Context, entries []mirror.Entry, full bool) ([]mirror.Entry, error) {
	c, rel := r.asChild(), r.rel
	if c == nil && r.filter == nil {
		return entries, nil
	}
	// Each upsert's verdict on the set's filter, its parent's id and the
	// sets that parent may be in.
	type parent struct {
		id   string
		sets []string
	}
	matched := make([]bool, len(entries))
	parents := make([]parent, len(entries))
	need := map[string][]string{}
	if c != nil && len(rel.known) > maxKnown {
		clear(rel.known) // a full read of many rows: memory before point reads
	}
	for i, e := range entries {
		if e.Deleted {
			continue
		}
		if r.filter != nil {
			ok, err := r.filter.Match(e.Data, r.params)
			if err != nil {
				r.mismatches++ // a row the filter cannot judge is not in the profile
			}
			if matched[i] = ok && err == nil; !matched[i] {
				continue
			}
		}
		matched[i] = true
		if c == nil {
			continue
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(e.Data, &data); err != nil {
			return nil, fmt.Errorf("read %s: row %s: %w", r.cfg.Name, e.ID, err)
		}
		var id string
		if raw, ok := data[c.lookup]; ok {
			_ = json.Unmarshal(raw, &id)
		}
		if id == "" {
			matched[i] = false
			continue
		}
		id = strings.ToLower(id)
		parents[i] = parent{id: id, sets: rel.parentsOf(c, data)}
		for _, set := range parents[i].sets {
			if _, ok := rel.known[set+"_"+id]; !ok && !slices.Contains(need[set], id) {
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
			rel.known[set+"_"+id] = ok
		}
	}
	keep := func(i int) bool {
		if !matched[i] {
			return false
		}
		return c == nil || slices.ContainsFunc(parents[i].sets, func(set string) bool { return rel.known[set+"_"+parents[i].id] })
	}
	var doubt []string // rows to delete if the mirror holds them
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
	// Keep the read's order: a row's deletion goes where the row was.
	var out []mirror.Entry
	for i, e := range entries {
		switch {
		case keep(i):
			e.Rel = parents[i].id
			if len(r.strip) > 0 {
				data, err := stripColumns(e.Data, r.strip)
				if err != nil {
					return nil, fmt.Errorf("read %s: row %s: %w", r.cfg.Name, e.ID, err)
				}
				e.Data = data
			}
			out = append(out, e)
		case held[e.ID]:
			out = append(out, mirror.Entry{ID: e.ID, Deleted: true})
		}
	}
	return out, nil
}

// stripColumns removes cols (read only for the filter or the relation)
// from a row before it is stored.
func stripColumns(row []byte, cols []string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(row, &m); err != nil {
		return nil, err
	}
	for _, c := range cols {
		delete(m, c)
	}
	return json.Marshal(m)
}

// readPending deletes the children of the parents that left the mirror
// since the set's last run, and reads the children of those that entered
// it, a few parents per query. Leavers go first, and a leaver the mirror
// holds again by now (it came back, or its deletion was never written) is
// skipped: its children stay, and those of an entering parent, read next,
// are not deleted after they arrive.
func (r *setRun) readPending(ctx context.Context) error {
	c := r.asChild()
	if c == nil {
		return nil
	}
	for set, ids := range parentIDs(r.st.Gone) {
		back, err := r.w.d.Mirror.Has(ctx, r.job.TenantID, r.job.UserID, set, ids)
		if err != nil {
			return err
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return back[id] })
		err = r.w.d.Mirror.Related(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, ids, func(ids []string) error {
			entries := make([]mirror.Entry, len(ids))
			for i, id := range ids {
				entries[i] = mirror.Entry{ID: id, Deleted: true}
			}
			return r.writeAdmitted(ctx, entries, r.st.Generation) // from the mirror: no need to ask it again
		})
		if err != nil {
			return fmt.Errorf("remove the %s of rows that left the mirror: %w", r.cfg.Name, err)
		}
	}
	r.st.Gone = ""
	for _, ids := range parentIDs(r.st.Pending) {
		for chunk := range slices.Chunk(ids, pendingChunk) {
			terms := make([]string, len(chunk))
			for i, id := range chunk {
				terms[i] = c.lookup + " eq " + id
			}
			q := &dataverse.Query{Select: r.sel, Filter: strings.Join(terms, " or ")}
			pager := r.client.NewListPager(r.cfg.Name, q, r.listOptions())
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					return fmt.Errorf("read the %s of rows that entered the mirror: %w", r.cfg.Name, err)
				}
				r.res.Pages++
				entries := make([]mirror.Entry, 0, len(page.Rows))
				for _, row := range page.Rows {
					entries = append(entries, mirror.Entry{ID: row.ID, Data: row.Data})
				}
				if err := r.write(ctx, entries, r.st.Generation, false); err != nil {
					return err
				}
			}
		}
	}
	r.st.Pending = ""
	return nil
}

// parentIDs parses a Pending or Gone list into ids by parent set.
func parentIDs(list string) map[string][]string {
	out := map[string][]string{}
	for _, t := range strings.Fields(list) {
		set, id, ok := strings.Cut(t, ":")
		if ok && uuid.Validate(id) == nil {
			out[set] = append(out[set], id)
		}
	}
	return out
}

// write applies the entries of a read (full: of a full read): a child
// set's rows are admitted first; before a delta of a parent set is
// written, the rows entering and leaving the mirror are recorded for its
// children; after a delta of notes, the cached documents of the notes it
// changed are forgotten.
func (r *setRun) write(ctx context.Context, entries []mirror.Entry, gen int64, full bool) error {
	profiled := r.filter != nil || r.asChild() != nil
	entries, err := r.admit(ctx, entries, full)
	if err != nil {
		return err
	}
	if full && profiled {
		r.held = append(r.held, entries...) // readPages writes them (flushHeld)
		return nil
	}
	if full {
		return r.applyFull(ctx, entries, gen)
	}
	return r.writeAdmitted(ctx, entries, gen)
}

// writeAdmitted writes entries that belong in the mirror, outside a full
// read (a delta, a sweep, the children of parents that left): the rows
// entering and leaving the mirror are recorded for the set's children
// first, and the cached documents of the notes written are forgotten
// after.
func (r *setRun) writeAdmitted(ctx context.Context, entries []mirror.Entry, gen int64) error {
	if err := r.watchChildren(ctx, entries); err != nil {
		return err
	}
	if err := r.apply(ctx, entries, gen); err != nil {
		return err
	}
	return r.forget(ctx, entries)
}

// forget drops the cached documents of notes a delta or sweep changed or
// deleted: a cached file is never served for another version, and this
// frees its storage.
func (r *setRun) forget(ctx context.Context, entries []mirror.Entry) error {
	if r.cfg.Name != syncconfig.NotesSet || r.w.d.Documents == nil || len(entries) == 0 {
		return nil
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return r.w.d.Documents.Forget(ctx, r.job.TenantID, r.job.UserID, ids)
}

// profileParams reads the values of the parameters the sets' filters use,
// once per sync: @me is the connection's Dataverse user; @mybusinessunit
// comes from WhoAmI and @myteams from the user's team membership, each
// read only when a filter uses it.
func (w *Worker) profileParams(ctx context.Context, client *dataverse.Client, conn store.Connection) (rowfilter.Params, error) {
	used := map[string]bool{}
	for _, es := range w.sets {
		if f := es.RowFilter(); f != nil {
			for _, p := range f.Params() {
				used[p] = true
			}
		}
	}
	p := rowfilter.Params{Me: strings.ToLower(conn.DataverseUserID)}
	if !used["@mybusinessunit"] && !used["@myteams"] && (p.Me != "" || !used["@me"]) {
		return p, nil
	}
	who, err := client.WhoAmI(ctx)
	if err != nil {
		return p, fmt.Errorf("read the user's business unit (WhoAmI) for the sync's filters: %w", err)
	}
	p.MyBusinessUnit = strings.ToLower(who.BusinessUnitID)
	if p.Me == "" {
		p.Me = strings.ToLower(who.UserID)
	}
	if used["@myteams"] {
		if p.MyTeams, err = client.TeamsOf(ctx, p.Me); err != nil {
			return p, fmt.Errorf("read the user's teams for the sync's filters: %w", err)
		}
		slices.Sort(p.MyTeams)
	}
	return p, nil
}

// needsRead reports whether f uses parameters profileParams reads from
// Dataverse: all but @me, which the connection holds (unless it lacks it).
func needsRead(f *rowfilter.Filter, p rowfilter.Params) bool {
	if f == nil {
		return false
	}
	return slices.ContainsFunc(f.Params(), func(name string) bool { return name != "@me" || p.Me == "" })
}

// paramsUsed is a digest of the values of the parameters r's filter uses:
// part of the set's profile, so a change of them (the user joined a team,
// moved to another business unit) reads the set again.
func (r *setRun) paramsUsed() string {
	var b strings.Builder
	for _, p := range r.filter.Params() {
		b.WriteString(p + "=")
		switch p {
		case "@me":
			b.WriteString(strings.ToLower(r.params.Me))
		case "@mybusinessunit":
			b.WriteString(r.params.MyBusinessUnit)
		case "@myteams":
			b.WriteString(strings.Join(r.params.MyTeams, ","))
		}
		b.WriteString(";")
	}
	if b.Len() == 0 {
		return ""
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "|params=" + hex.EncodeToString(sum[:8])
}

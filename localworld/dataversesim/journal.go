package dataversesim

import (
	"encoding/json"
)

// The write journal lets a test see every committed write of a row, not
// only the row's last state: which columns a sync sent, in which order its
// writes and a colleague's edits landed. It is off by default, so large
// environments (benchmarks seed a million rows) pay nothing for it; once
// on, it keeps every write made from then on, for the simulator's lifetime.
// Seeding (New, Seed) is not journaled: seeded rows are the starting state.

// JournalEntry is one committed write of a row.
type JournalEntry struct {
	// Version is the row version the write produced: the number in the
	// row's ETag W/"<n>" after it, or, for a delete, the version of its
	// change-tracking tombstone.
	Version int64 `json:"version"`
	// Deleted marks a delete, which has no Values.
	Deleted bool `json:"deleted"`
	// Values are the columns the write set, by their Web API JSON names
	// (lookups as _<name>_value holding the target id), as a GET returns
	// them and encoding/json decodes them; a cleared column is present
	// with a nil value. An update lists the columns it changed; an insert
	// every column it gave a value: the primary key, the columns of the
	// request and defaults such as the caller as owner. Columns the system
	// keeps (createdon, modifiedon, versionnumber, fullname, owninguser,
	// owningteam, owningbusinessunit, objecttypecode) are left out.
	Values map[string]any `json:"values,omitempty"`
}

type journalKey struct{ set, id string }

// journalWrite is a JournalEntry as the store keeps it: values by
// attribute index, rendered only when read.
type journalWrite struct {
	version int64
	deleted bool
	vals    map[int]any
}

// EnableJournal starts the write journal (Journal); Options.Journal does
// the same from New on. Writes before it are not journaled; enabling it
// again changes nothing.
func (s *Sim) EnableJournal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.enableJournal()
}

// Journal returns the committed writes of row id of set since the journal
// was enabled, oldest first: creates, updates and deletes, by the Web API,
// inside $batch change sets that succeeded, and by the controls (CreateRow,
// UpdateRow, DeleteRow and the /_sim/ admin API). The writes of a change
// set that failed were undone and are not in it. A row deleted and created
// again has both lives in one history. Journal returns nil when the
// journal is off (EnableJournal) or set is unknown.
func (s *Sim) Journal(set, id string) []JournalEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.st.tables[set]
	if s.st.journal == nil || t == nil {
		return nil
	}
	if c, ok := canonicalID(id); ok {
		id = c
	}
	writes := s.st.journal[journalKey{set, id}]
	out := make([]JournalEntry, 0, len(writes))
	for _, w := range writes {
		e := JournalEntry{Version: w.version, Deleted: w.deleted}
		if !w.deleted {
			e.Values = make(map[string]any, len(w.vals))
			for i, v := range w.vals {
				a := t.attrs[i]
				var b []byte
				if a.typ == typeParties {
					b = appendParties(nil, v)
				} else {
					b = appendValue(nil, v)
				}
				var decoded any
				_ = json.Unmarshal(b, &decoded) // the renderer writes valid JSON
				e.Values[a.jsonName()] = decoded
			}
		}
		out = append(out, e)
	}
	return out
}

// journalOn reports whether the journal is enabled.
func (s *Sim) journalOn() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.journal != nil
}

func (s *store) enableJournal() {
	if s.journal == nil {
		s.journal = map[journalKey][]journalWrite{}
	}
}

// setColumns returns the non-null values of a row about to be inserted,
// when the journal is on.
func (s *store) setColumns(vals []any) map[int]any {
	if s.journal == nil {
		return nil
	}
	set := map[int]any{}
	for i, v := range vals {
		if v != nil {
			set[i] = v
		}
	}
	return set
}

// record appends w to the journal of row id of t, when the journal is on;
// inside a change set the entry goes again if the change set fails.
func (s *store) record(t *table, id string, w journalWrite) {
	if s.journal == nil {
		return
	}
	k := journalKey{t.set, id}
	s.journal[k] = append(s.journal[k], w)
	s.onUndo(func() {
		if ws := s.journal[k]; len(ws) <= 1 {
			delete(s.journal, k)
		} else {
			s.journal[k] = ws[:len(ws)-1]
		}
	})
}

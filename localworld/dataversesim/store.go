package dataversesim

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// row is one record. vals is indexed like the table's attributes; version is
// the row's rowversion, the ETag and change-tracking position.
type row struct {
	id      string
	vals    []any
	version int64
}

// tombstone records a delete for change tracking.
type tombstone struct {
	id      string
	version int64
}

// lookupValue is the value of a lookup column: the target row and its set.
type lookupValue struct {
	id  string
	set string
}

// store holds the tables. Callers hold Sim.mu: reads under RLock, writes
// under Lock. Inside a $batch change set every write registers an undo step,
// so a failed change set leaves no trace.
type store struct {
	tables  map[string]*table
	version int64 // the last rowversion handed out
	now     func() time.Time
	undo    *[]func() // non-nil while a change set runs
	// journal is the write history per row, non-nil once the journal is
	// enabled (Sim.EnableJournal); see journal.go.
	journal map[journalKey][]journalWrite
	// members is teammembership_association: team id -> its users' ids.
	members map[string]map[string]bool
}

func (s *store) onUndo(f func()) {
	if s.undo != nil {
		*s.undo = append(*s.undo, f)
	}
}

func (s *store) nextVersion() int64 {
	s.version++
	return s.version
}

// stamp sets the audit columns and computed columns of r for a write now:
// fullname from the names, and a note's objecttypecode from its objectid,
// which Dataverse keeps in step whichever way objectid was written.
func (s *store) stamp(t *table, r *row, created bool) {
	now := s.now().UTC().Truncate(time.Second)
	r.version = s.nextVersion()
	if created {
		if i, ok := t.byJSON["createdon"]; ok {
			r.vals[i] = now
		}
	}
	r.vals[t.byJSON["modifiedon"]] = now
	r.vals[t.byJSON["versionnumber"]] = r.version
	if i, ok := t.byJSON["fullname"]; ok {
		first, _ := r.vals[t.byJSON["firstname"]].(string)
		last, _ := r.vals[t.byJSON["lastname"]].(string)
		r.vals[i] = strings.TrimSpace(first + " " + last)
	}
	if i, ok := t.byJSON["objecttypecode"]; ok {
		var code any // null when the note regards nothing
		if lv, ok := r.vals[t.byJSON["_objectid_value"]].(lookupValue); ok && s.tables[lv.set] != nil {
			code = s.tables[lv.set].logical
		}
		r.vals[i] = code
	}
}

// own sets the system's owner columns of a row of a user-owned table from
// its ownerid: owninguser or owningteam, and owningbusinessunit, the
// owner's business unit (docs/reference/dataverse-webapi.md §6.4). It runs
// when a row is created and when its owner changes, not on other writes.
func (s *store) own(t *table, vals []any) {
	if !t.owned {
		return
	}
	owner, _ := vals[t.byJSON["_ownerid_value"]].(lookupValue)
	var user, team, unit any
	switch owner.set {
	case "systemusers":
		user = owner
	case "teams":
		team = owner
	}
	if pt := s.tables[owner.set]; pt != nil {
		if p := pt.rows[owner.id]; p != nil {
			if bu, ok := p.vals[pt.byJSON["_businessunitid_value"]].(lookupValue); ok {
				unit = bu
			}
		}
	}
	vals[t.byJSON["_owninguser_value"]] = user
	vals[t.byJSON["_owningteam_value"]] = team
	vals[t.byJSON["_owningbusinessunit_value"]] = unit
}

// insert adds a new row with the given values (vals[pk] holds the id).
func (s *store) insert(t *table, vals []any) *row {
	id := vals[t.pk].(string)
	r := &row{id: id, vals: vals}
	set := s.setColumns(vals) // before the system fills in its columns
	s.own(t, vals)
	s.stamp(t, r, true)
	s.record(t, id, journalWrite{version: r.version, vals: set})
	t.rows[id] = r
	pos, _ := slices.BinarySearch(t.ids, id)
	t.ids = slices.Insert(t.ids, pos, id)
	s.onUndo(func() { s.removeRow(t, id) })
	return r
}

// update applies changes (attribute index -> value) to r.
func (s *store) update(t *table, r *row, changes map[int]any) {
	old, oldVersion := slices.Clone(r.vals), r.version
	for i, v := range changes {
		r.vals[i] = v
	}
	if t.owned {
		if _, ok := changes[t.byJSON["_ownerid_value"]]; ok {
			s.own(t, r.vals)
		}
	}
	s.stamp(t, r, false)
	s.onUndo(func() { r.vals, r.version = old, oldVersion })
	if s.journal != nil {
		s.record(t, r.id, journalWrite{version: r.version, vals: maps.Clone(changes)})
	}
}

// delete removes r and leaves a tombstone for change tracking. The notes
// regarding r go first, each leaving its own tombstone: a note's objectid
// relationships are parental, Delete: Cascade
// (docs/reference/dataverse-webapi.md §6.1).
func (s *store) delete(t *table, r *row) {
	if t.hasNotes {
		notes := s.tables["annotations"]
		obj := notes.byJSON["_objectid_value"]
		for _, id := range slices.Clone(notes.ids) { // delete shrinks notes.ids
			n := notes.rows[id]
			if lv, ok := n.vals[obj].(lookupValue); ok && lv.set == t.set && lv.id == r.id {
				s.delete(notes, n)
			}
		}
	}
	s.forgetMemberships(t, r.id)
	s.removeRow(t, r.id)
	version := s.nextVersion()
	t.tombstones = append(t.tombstones, tombstone{id: r.id, version: version})
	s.onUndo(func() {
		t.tombstones = t.tombstones[:len(t.tombstones)-1]
		t.rows[r.id] = r
		pos, _ := slices.BinarySearch(t.ids, r.id)
		t.ids = slices.Insert(t.ids, pos, r.id)
	})
	s.record(t, r.id, journalWrite{version: version, deleted: true})
}

// forgetMemberships drops the team memberships of a deleted team or user,
// as the intersect rows go with either side.
func (s *store) forgetMemberships(t *table, id string) {
	switch t.set {
	case "teams":
		if users, ok := s.members[id]; ok {
			delete(s.members, id)
			s.onUndo(func() { s.members[id] = users })
		}
	case "systemusers":
		for team, users := range s.members {
			if users[id] {
				delete(users, id)
				s.onUndo(func() { s.members[team][id] = true })
			}
		}
	}
}

func (s *store) removeRow(t *table, id string) {
	delete(t.rows, id)
	if pos, ok := slices.BinarySearch(t.ids, id); ok {
		t.ids = slices.Delete(t.ids, pos, pos+1)
	}
}

// findByKey returns the row whose alternate key k has the values vals.
func (t *table) findByKey(k altKey, vals []any) *row {
	for _, id := range t.ids {
		r := t.rows[id]
		match := true
		for j, a := range k.attrs {
			if !equalValues(r.vals[a], vals[j]) {
				match = false
				break
			}
		}
		if match {
			return r
		}
	}
	return nil
}

// keyTaken reports whether another row than except already has the
// alternate-key values that vals would give it. Keys with a null part are
// not enforced, as in Dataverse.
func (t *table) keyTaken(vals []any, except string) (altKey, bool) {
	for _, k := range t.keys {
		kv := make([]any, len(k.attrs))
		null := false
		for j, a := range k.attrs {
			kv[j] = vals[a]
			null = null || vals[a] == nil
		}
		if null {
			continue
		}
		if r := t.findByKey(k, kv); r != nil && r.id != except {
			return k, true
		}
	}
	return altKey{}, false
}

// equalValues compares two stored values; strings case-insensitively, as
// Dataverse's collation does.
func equalValues(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && strings.EqualFold(x, y)
	case lookupValue:
		y, ok := b.(lookupValue)
		return ok && x.id == y.id
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return a == b
}

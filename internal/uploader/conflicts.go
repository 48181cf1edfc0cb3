package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/report"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/uploadconfig"
)

// Conflict is a row a report updates that changed in Dynamics since the
// app's copy (the version the customer's ifMatch names).
type Conflict struct {
	Item      string `json:"item"`
	EntitySet string `json:"entitySet"`
	ID        string `json:"id"`
	// IfMatch is the app's version; ETag the row's in Dynamics ("" when
	// the row was deleted there).
	IfMatch string `json:"ifMatch"`
	ETag    string `json:"etag,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Fields are the report's fields whose value in Dynamics changed since
	// the app's version and differs from the app's: the ones that clash.
	Fields []string `json:"fields"`
	// Current is the row in Dynamics, its columns the report may write;
	// absent when deleted (or, for a very large set of conflicts, left
	// out: the next sync brings the row).
	Current map[string]any `json:"current,omitempty"`
	// Written: the app's values were written over Dynamics' (client-wins).
	Written bool `json:"written"`
}

// maxResolveRounds bounds the writes of one attempt that find a row
// changed in Dynamics: each finding is resolved by policy and the report
// sent again, conditional on the version just read.
const maxResolveRounds = 3

// resolution is what reading the rows of a report that met a changed row
// found, and what to do about it.
type resolution struct {
	// committed: the report's change set is in Dynamics already (an
	// earlier delivery wrote it and its answer was lost); records are the
	// records it wrote.
	committed bool
	records   []Record
	// blocked: a conflict the policy does not write over; the report is
	// not written.
	blocked bool
}

// rowRead is one read of resolve: a customer of the report, or its
// meeting (customer -1).
type rowRead struct {
	customer int
	es       uploadconfig.EntitySet
}

// resolve reads, in one $batch, the report's conditional rows (the
// columns it may write), its customers named by key, and its meeting. A
// meeting in Dynamics means the report's change set was committed by an
// earlier delivery: its own write changed the rows' versions, which is no
// conflict. Otherwise each row that changed since the version writes[i]
// was conditional on is decided by its set's policy: writes and conflicts
// are updated in place.
func (s *Service) resolve(ctx context.Context, c *dataverse.Client, o Owner, r *report.Report, p *plan, writes []customerWrite, conflicts map[int]Conflict) (resolution, error) {
	b := &dataverse.Batch{}
	var reads []rowRead
	for i, cu := range r.Customers {
		es, _ := s.cfg.Allow.EntitySet(cu.EntitySet)
		switch {
		case cu.IfMatch != "":
			b.Add(dataverse.GetRequest(dataverse.ByID(es.Name, cu.ID), &dataverse.Query{Select: es.Fields}))
		case cu.ID == "" && cu.Key != nil: // its id, should the report be in Dynamics already
			ref, err := existingRef(es, "", cu.Key)
			if err != nil {
				return resolution{}, &notAllowedError{item: report.Item("customers", i), what: err.Error()}
			}
			b.Add(dataverse.GetRequest(ref, &dataverse.Query{Select: []string{es.PrimaryKey}}))
		default:
			continue
		}
		reads = append(reads, rowRead{customer: i, es: es})
	}
	b.Add(dataverse.GetRequest(p.meeting, &dataverse.Query{Select: []string{"activityid"}}))
	reads = append(reads, rowRead{customer: -1})
	res, err := c.ExecuteBatch(ctx, b, &dataverse.BatchOptions{ContinueOnError: true})
	if err != nil {
		return resolution{}, err
	}
	if len(res.Parts) != len(reads) {
		return resolution{}, fmt.Errorf("dataverse: %d reads were answered %d times", len(reads), len(res.Parts))
	}
	rows := map[int]map[string]any{} // by customer; absent: not in Dynamics
	meeting := false
	for k, part := range res.Parts {
		switch {
		case part.StatusCode == http.StatusNotFound:
			continue
		case part.Err != nil:
			return resolution{}, part.Err
		}
		row, err := decodeRow(part.Body)
		if err != nil {
			return resolution{}, fmt.Errorf("dataverse: a row read to resolve a conflict: %w", err)
		}
		if reads[k].customer < 0 {
			meeting = true
			continue
		}
		rows[reads[k].customer] = row
	}
	if meeting {
		return resolution{committed: true, records: s.committedRecords(o, r, p, rows)}, nil
	}

	var out resolution
	for i, cu := range r.Customers {
		if cu.IfMatch == "" {
			continue
		}
		es, _ := s.cfg.Allow.EntitySet(cu.EntitySet)
		cur, exists := rows[i]
		if exists && etagOf(cur) == writes[i].ifMatch {
			continue // not a row that changed
		}
		base, known, err := s.base(ctx, o, es.Name, cu.ID, cu.IfMatch)
		if err != nil {
			return resolution{}, err
		}
		f := Conflict{Item: report.Item("customers", i), EntitySet: es.Name, ID: cu.ID, IfMatch: cu.IfMatch, Deleted: !exists, Fields: []string{}}
		if exists {
			f.ETag, f.Current = etagOf(cur), columns(cur, es.Fields)
		}
		// Only the fields the app changed are written, and a field changed
		// in Dynamics too, to another value, clashes. Without the app's
		// version of the row (trimmed from the log, or a column the sync
		// does not read) every field counts as changed on both sides.
		write := map[string]any{}
		for _, name := range slices.Sorted(maps.Keys(cu.Fields)) {
			v := cu.Fields[name]
			bv, inBase := base[name]
			if (known && inBase && same(v, bv)) || (exists && same(v, cur[name])) {
				continue // the app did not change it, or Dynamics has its value
			}
			write[name] = v
			if !exists || !known || !inBase || !same(cur[name], bv) {
				f.Fields = append(f.Fields, name)
			}
		}
		clash := !exists || len(f.Fields) > 0
		switch policy := es.Policy(); {
		case policy == uploadconfig.ConflictsServerWins, policy == uploadconfig.ConflictsMerge && clash:
			out.blocked = true
			conflicts[i] = f
			continue
		case clash: // client-wins
			f.Written = true
			conflicts[i] = f
		default:
			delete(conflicts, i) // merged: an earlier round's finding no longer holds
		}
		switch {
		case !exists:
			writes[i] = customerWrite{fields: fieldsOf(cu)} // client-wins: the row is created again
		case len(write) == 0:
			writes[i] = customerWrite{skip: true}
		default:
			writes[i] = customerWrite{fields: write, ifMatch: f.ETag}
		}
	}
	if out.blocked {
		for i, f := range conflicts {
			f.Written = false
			conflicts[i] = f
		}
	}
	return out, nil
}

// committedRecords are the records of a report found in Dynamics: the
// customers' ids (read for those named by key), and the records whose ids
// the plan knows.
func (s *Service) committedRecords(o Owner, r *report.Report, p *plan, rows map[int]map[string]any) []Record {
	var out []Record
	for i, cu := range r.Customers {
		es, _ := s.cfg.Allow.EntitySet(cu.EntitySet)
		item := report.Item("customers", i)
		_, id, _ := customerRef(es, cu, report.RecordID(o.TenantID, o.UserID, r.UploadID, item))
		row := rows[i]
		if v, ok := row[es.PrimaryKey].(string); ok && id == "" {
			id = strings.ToLower(v)
		}
		if id != "" {
			// No version: the row's version now may be a later writer's.
			out = append(out, Record{Item: item, EntitySet: es.Name, ID: id})
		}
	}
	for _, rec := range p.records {
		if !strings.HasPrefix(rec.Item, "customers[") {
			out = append(out, rec)
		}
	}
	return out
}

// base is the row id of set as the app's version etag had it, from the
// user's mirror or change log; known is false when neither holds it.
func (s *Service) base(ctx context.Context, o Owner, set, id, etag string) (map[string]any, bool, error) {
	if s.Versions == nil {
		return nil, false, nil
	}
	data, ok, err := s.Versions.Version(ctx, o.TenantID, o.UserID, set, id, etag)
	if err != nil || !ok {
		return nil, false, err
	}
	row, err := decodeRow(data)
	if err != nil {
		return nil, false, nil // a damaged copy is no base
	}
	return row, true, nil
}

// decodeRow decodes a row's JSON, numbers as json.Number (as a report's).
func decodeRow(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var row map[string]any
	if err := dec.Decode(&row); err != nil {
		return nil, err
	}
	return row, nil
}

// etagOf is a row's @odata.etag.
func etagOf(row map[string]any) string {
	e, _ := row["@odata.etag"].(string)
	return e
}

// columns is the row's value of each of names (null when it has none).
func columns(row map[string]any, names []string) map[string]any {
	out := make(map[string]any, len(names))
	for _, n := range names {
		out[n] = row[n]
	}
	return out
}

// same compares two column values as the Web API writes them: numbers by
// value (1 and 1.0 are the same), and an empty string like null (Dynamics
// stores no empty strings).
func same(a, b any) bool {
	if a == "" {
		a = nil
	}
	if b == "" {
		b = nil
	}
	na, aNum := a.(json.Number)
	nb, bNum := b.(json.Number)
	if aNum && bNum {
		fa, errA := strconv.ParseFloat(string(na), 64)
		fb, errB := strconv.ParseFloat(string(nb), 64)
		if errA == nil && errB == nil {
			return fa == fb
		}
		return na == nb
	}
	return a == b
}

// maxConflictsJSON bounds the conflicts kept on an upload's row (a string
// property holds 32,768 UTF-16 units).
const maxConflictsJSON = 30000

// setConflicts records conflicts on the row, in item order. Should they
// not fit, the rows' current values are left out from the last one back.
func setConflicts(row *store.Upload, conflicts map[int]Conflict) {
	if len(conflicts) == 0 {
		row.Conflicts = ""
		return
	}
	list := make([]Conflict, 0, len(conflicts))
	for _, i := range slices.Sorted(maps.Keys(conflicts)) {
		list = append(list, conflicts[i])
	}
	for k := len(list); ; k-- {
		b, _ := json.Marshal(list)
		if len(b) <= maxConflictsJSON || k == 0 {
			row.Conflicts = string(b)
			return
		}
		list[k-1].Current = nil
	}
}

func conflicts(row store.Upload) []Conflict {
	var out []Conflict
	if row.Conflicts != "" {
		_ = json.Unmarshal([]byte(row.Conflicts), &out)
	}
	return out
}

// customerIndex reads i from the item "customers[i]".
func customerIndex(item string) (int, bool) {
	rest, ok := strings.CutPrefix(item, "customers[")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	return i, err == nil
}

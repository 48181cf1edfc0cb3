package uploader

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/report"
	"github.com/pitcher/connector/internal/uploadconfig"
)

// plan is how a report is written: one $batch holding one change set of
// upserts (customers, then the meeting, then its notes and the documents
// that travel inline), then the chunked uploads of the other documents.
type plan struct {
	batch *dataverse.Batch
	// items names the report's item of each request, by Content-ID.
	items map[string]string
	// customers maps the Content-ID of each customer's write to its index
	// in the report; conditional those sent with an If-Match version.
	customers, conditional map[string]int
	// rows says, for each customer, its entity set, primary key column,
	// id when known before writing ("" for a row named by key), and
	// whether its write is conditional on the app's own version.
	rows []customerRow
	// records are the records whose ids are known before writing.
	records []Record
	// chunked are the documents to upload in blocks afterwards.
	chunked []int
	// meeting is the activity the notes and documents are attached to.
	meeting dataverse.Ref
}

type customerRow struct {
	set, pk, id string
	// based: the write is conditional on the version the app sent
	// (ifMatch), so the row after it is the app's copy with the report's
	// fields, and its new version is one the app may base its next edit on.
	based bool
}

// customerWrite is how one customer of a report is written: the fields
// to send, and the version of the row the write is conditional on (""
// for an upsert, which creates the row or updates whatever is there).
type customerWrite struct {
	fields  map[string]any
	ifMatch string
	// skip: Dynamics holds the app's values already; nothing is sent.
	skip bool
}

// firstWrites is how a report's customers are written at first: their
// fields, conditional on the app's version where the app gave one.
func firstWrites(r *report.Report) []customerWrite {
	out := make([]customerWrite, len(r.Customers))
	for i, c := range r.Customers {
		out[i] = customerWrite{fields: fieldsOf(c), ifMatch: c.IfMatch}
	}
	return out
}

// inline decides which documents travel inside the batch: in order, while
// their total stays within budget bytes.
func inline(docs []report.Document, budget int64) []bool {
	out := make([]bool, len(docs))
	for i, d := range docs {
		if d.Size <= budget {
			out[i] = true
			budget -= d.Size
		}
	}
	return out
}

// newPlan builds the plan of r for o, its customers written as writes
// says. content returns the bytes of an inline document.
func (s *Service) newPlan(ctx context.Context, o Owner, r *report.Report, writes []customerWrite, content func(ctx context.Context, d report.Document) ([]byte, error)) (*plan, error) {
	allow := s.cfg.Allow
	id := func(item string) string { return report.RecordID(o.TenantID, o.UserID, r.UploadID, item) }
	p := &plan{batch: &dataverse.Batch{}, items: map[string]string{}, customers: map[string]int{}, conditional: map[string]int{}}
	cs := p.batch.ChangeSet()
	add := func(item string, req dataverse.Request, err error) (string, error) {
		if err != nil {
			return "", fmt.Errorf("build %s: %w", item, err)
		}
		cid := cs.Add(req).Path()[1:]
		p.items[cid] = item
		return cid, nil
	}

	type target struct {
		ref     dataverse.Ref
		logical string
	}
	customers := make([]target, len(r.Customers))
	for i, c := range r.Customers {
		item := report.Item("customers", i)
		es, ok := allow.EntitySet(c.EntitySet)
		if !ok {
			return nil, &notAllowedError{item: item, what: "entity set " + c.EntitySet}
		}
		ref, known, err := customerRef(es, c, id(item))
		if err != nil {
			return nil, &notAllowedError{item: item, what: err.Error()}
		}
		customers[i] = target{ref: ref, logical: es.LogicalName}
		w := writes[i]
		p.rows = append(p.rows, customerRow{set: es.Name, pk: es.PrimaryKey, id: known, based: w.ifMatch != "" && w.ifMatch == c.IfMatch})
		if w.skip {
			p.records = append(p.records, Record{Item: item, EntitySet: es.Name, ID: known})
			continue
		}
		// The row comes back (its key only) to learn its version, and its
		// id when it is named by alternate key.
		var req dataverse.Request
		if w.ifMatch != "" {
			req, err = dataverse.UpdateRequest(ref, w.fields, &dataverse.WriteOptions{IfMatch: w.ifMatch, Return: true, Select: []string{es.PrimaryKey}})
		} else {
			req, err = dataverse.UpsertRequest(ref, w.fields, &dataverse.UpsertOptions{Return: true, Select: []string{es.PrimaryKey}})
		}
		cid, err := add(item, req, err)
		if err != nil {
			return nil, err
		}
		p.customers[cid] = i
		if w.ifMatch != "" {
			p.conditional[cid] = i
		}
	}

	act := allow.Activity
	meetingID := id(report.ItemMeeting)
	p.meeting = dataverse.ByID(act.EntitySet, meetingID)
	m := r.Meeting
	rec := map[string]any{"subject": m.Subject, "scheduledstart": m.Start.UTC().Format(time.RFC3339), "scheduledend": m.End.UTC().Format(time.RFC3339)}
	if m.Location != "" {
		rec["location"] = m.Location
	}
	if m.Description != "" {
		rec["description"] = m.Description
	}
	if ref := m.Regarding; ref != nil {
		var t target
		if ref.Customer != nil {
			t = customers[*ref.Customer]
		} else {
			es, ok := allow.EntitySet(ref.EntitySet)
			if !ok {
				return nil, &notAllowedError{item: report.ItemMeeting, what: "entity set " + ref.EntitySet}
			}
			r, err := existingRef(es, ref.ID, ref.Key)
			if err != nil {
				return nil, &notAllowedError{item: report.ItemMeeting, what: err.Error()}
			}
			t = target{ref: r, logical: es.LogicalName}
		}
		rec["regardingobjectid_"+t.logical+"_"+act.LogicalName+"@odata.bind"] = t.ref.Bind()
	}
	req, err := dataverse.UpsertRequest(p.meeting, rec, nil)
	if _, err := add(report.ItemMeeting, req, err); err != nil {
		return nil, err
	}
	p.records = append(p.records, Record{Item: report.ItemMeeting, EntitySet: act.EntitySet, ID: meetingID})

	for i, n := range r.Notes {
		item := report.Item("notes", i)
		req, err := dataverse.NoteRequest(dataverse.Note{ID: id(item), Subject: n.Subject, Text: n.Text, Regarding: p.meeting, RegardingTable: act.LogicalName})
		if _, err := add(item, req, err); err != nil {
			return nil, err
		}
		p.records = append(p.records, Record{Item: item, EntitySet: "annotations", ID: id(item)})
	}
	for i, in := range inline(r.Documents, s.cfg.InlineDocumentBytes) {
		if !in {
			p.chunked = append(p.chunked, i)
			continue
		}
		item := report.Item("documents", i)
		d := r.Documents[i]
		b, err := content(ctx, d)
		if err != nil {
			return nil, err
		}
		req, err := dataverse.NoteRequest(documentNote(id(item), d, p.meeting, act, b))
		if _, err := add(item, req, err); err != nil {
			return nil, err
		}
		p.records = append(p.records, Record{Item: item, EntitySet: "annotations", ID: id(item)})
	}
	return p, nil
}

// documentNote is the annotation holding document d.
func documentNote(id string, d report.Document, meeting dataverse.Ref, act uploadconfig.Activity, content []byte) dataverse.Note {
	return dataverse.Note{ID: id, Subject: d.Name, FileName: d.Name, MimeType: d.MimeType, Document: content, Regarding: meeting, RegardingTable: act.LogicalName}
}

// customerRef is the row customer c addresses: by its id, by its key, or
// (neither) the new row with id newID. known is the row's id when it is
// known before the write.
func customerRef(es uploadconfig.EntitySet, c report.Customer, newID string) (ref dataverse.Ref, known string, err error) {
	switch {
	case c.ID != "":
		return dataverse.ByID(es.Name, c.ID), c.ID, nil
	case c.Key != nil:
		ref, err := existingRef(es, "", c.Key)
		return ref, "", err
	}
	return dataverse.ByID(es.Name, newID), newID, nil
}

// existingRef addresses a row by id or by alternate key, the key's columns
// in the order the configuration declares them.
func existingRef(es uploadconfig.EntitySet, id string, key map[string]any) (dataverse.Ref, error) {
	if id != "" {
		return dataverse.ByID(es.Name, id), nil
	}
	names := make([]string, 0, len(key))
	for k := range key {
		names = append(names, k)
	}
	cols, ok := es.Key(names)
	if !ok {
		return dataverse.Ref{}, fmt.Errorf("the key (%s) of %s", strings.Join(names, ", "), es.Name)
	}
	pairs := make([]any, 0, 2*len(cols))
	for _, col := range cols {
		pairs = append(pairs, col, keyValue(key[col]))
	}
	return dataverse.ByKey(es.Name, pairs...), nil
}

// notAllowedError: the report was accepted under an allow-list that has
// changed since, and what it names may no longer be written.
type notAllowedError struct{ item, what string }

func (e *notAllowedError) Error() string {
	return e.item + ": " + e.what + " is no longer allowed by UPLOAD_CONFIG"
}

// keyValue turns a decoded key value into what dataverse.Literal renders.
func keyValue(v any) any {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i
		}
		return n.String()
	}
	return v
}

// fieldsOf is the body of a customer's upsert. An empty object is still a
// body: a PATCH without fields would create a bare row.
func fieldsOf(c report.Customer) map[string]any {
	if c.Fields == nil {
		return map[string]any{}
	}
	return c.Fields
}

package dataversesim

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// create answers POST <set> (docs/reference/dataverse-webapi.md §4.1): 204 with
// OData-EntityId, or 201 with the row under Prefer: return=representation.
// A primary key in the body is used as the new row's id.
func (s *Sim) create(c *call, t *table) *response {
	prefs, ch, err := s.parseWrite(c, t)
	if err != nil {
		return errorResponse(err)
	}
	id, _ := ch[t.pk].(string)
	if id == "" {
		id = uuid.NewString()
	}
	if t.rows[id] != nil {
		return errorResponse(errf(http.StatusPreconditionFailed, codeDuplicate, "Cannot insert duplicate key."))
	}
	r, err := s.insertRow(c, t, id, ch)
	if err != nil {
		return errorResponse(err)
	}
	return s.written(c, t, r, t.set+"("+id+")", true, prefs)
}

// parseWrite reads the preferences and the body of a create or update.
func (s *Sim) parseWrite(c *call, t *table) (preferences, changeSet, *apiError) {
	prefs, err := parsePrefer(c.header)
	if err != nil {
		return prefs, nil, err
	}
	body, err := decodeObject(t, c.body)
	if err != nil {
		return prefs, nil, err
	}
	ch, err := s.parseChanges(c, t, body)
	return prefs, ch, err
}

// insertRow adds a row with id and the changes, enforcing alternate keys.
// A user-owned row created without an owner is owned by the caller of c
// (ownerFor).
func (s *Sim) insertRow(c *call, t *table, id string, ch changeSet) (*row, *apiError) {
	vals := make([]any, len(t.attrs))
	for i, v := range ch {
		vals[i] = v
	}
	vals[t.pk] = id
	if owner := t.byJSON["_ownerid_value"]; t.owned && vals[owner] == nil {
		vals[owner] = ownerFor(c)
	}
	if _, taken := t.keyTaken(vals, ""); taken {
		return nil, errf(http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists.")
	}
	return s.st.insert(t, vals), nil
}

// written is the answer to a successful create or upsert.
func (s *Sim) written(c *call, t *table, r *row, keySegment string, created bool, prefs preferences) *response {
	if prefs.representation {
		q, err := parseQuery(c.query, t, s.st.tables)
		if err != nil {
			return errorResponse(err)
		}
		rd := renderer{t: t, sel: q.sel, tables: s.st.tables, prefs: prefs}
		b := []byte(`{"@odata.context":`)
		b = appendJSONString(b, contextURL(c.base, t, q.selNames, nil)+"/$entity")
		b = append(b, ',')
		b = append(b, rd.appendRow(nil, r)[1:]...)
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		resp := jsonResponse(status, b)
		resp.header.Set("Preference-Applied", "return=representation")
		resp.header.Set("ETag", etag(r.version))
		return resp
	}
	resp := newResponse(http.StatusNoContent)
	resp.header.Set("OData-EntityId", c.base+keySegment)
	if c.batch != nil {
		resp.header.Set("Location", c.base+keySegment)
	}
	return resp
}

// patch answers PATCH <set>(<key>): an upsert unless If-Match or
// If-None-Match says otherwise (docs/reference/dataverse-webapi.md §4.3, §4.5).
func (s *Sim) patch(c *call, t *table, keySeg string, k rowKey) *response {
	prefs, ch, err := s.parseWrite(c, t)
	if err != nil {
		return errorResponse(err)
	}
	r := k.find(t)
	access := AccessWrite
	if r == nil {
		access = AccessCreate // an upsert that creates needs create, not write
	}
	if e := s.checkAccess(c, t, access); e != nil {
		return errorResponse(e)
	}
	ifMatch, ifNoneMatch := c.header.Get("If-Match"), c.header.Get("If-None-Match")
	if r == nil {
		if ifMatch != "" { // update only, "*" or an ETag: nothing to update
			return errorResponse(k.notFound(t))
		}
		id := k.id
		if id == "" {
			id, _ = ch[t.pk].(string)
			if id == "" {
				id = uuid.NewString()
			}
			for j, a := range k.alt.attrs {
				if _, inBody := ch[a]; !inBody {
					ch[a] = k.vals[j] // body values win over URL values
				}
			}
		} else if pk, ok := ch[t.pk].(string); ok && pk != id {
			return errorResponse(errf(http.StatusBadRequest, codeQuery, "The primary key in the body (%s) does not match the key in the URL (%s).", pk, id))
		}
		if t.rows[id] != nil {
			return errorResponse(errf(http.StatusPreconditionFailed, codeDuplicate, "Cannot insert duplicate key."))
		}
		created, err := s.insertRow(c, t, id, ch)
		if err != nil {
			return errorResponse(err)
		}
		return s.written(c, t, created, keySeg, true, prefs)
	}
	if ifNoneMatch == "*" { // create only; the documented answer has an empty code (§4.3)
		return errorResponse(errf(http.StatusPreconditionFailed, codeNone, "A record with matching key values already exists."))
	}
	if err := checkIfMatch(ifMatch, r); err != nil {
		return errorResponse(err)
	}
	delete(ch, t.pk)
	for _, a := range k.alt.attrs {
		delete(ch, a) // key values in the body are dropped when the row exists
	}
	vals := append([]any(nil), r.vals...)
	for i, v := range ch {
		vals[i] = v
	}
	if _, taken := t.keyTaken(vals, r.id); taken {
		return errorResponse(errf(http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists."))
	}
	s.st.update(t, r, ch)
	return s.written(c, t, r, keySeg, false, prefs)
}

// checkIfMatch compares an If-Match ETag with the version of r, an
// existing row (a missing row is 404 before this). "*" and no header match
// any version; a stale ETag, or a value that is no ETag at all, is 412
// ConcurrencyVersionMismatch with its code 0x80060882, which the
// documented example leaves empty (docs/reference/dataverse-webapi.md
// §4.5, §10 item 5). The other 412, If-None-Match: * on an existing row
// (patch), keeps the empty code of its documented answer.
func checkIfMatch(ifMatch string, r *row) *apiError {
	if ifMatch == "" || ifMatch == "*" {
		return nil
	}
	if v, ok := parseETag(ifMatch); !ok || v != r.version {
		return errf(http.StatusPreconditionFailed, codeConcurrency, "The version of the existing record doesn't match the RowVersion property provided.")
	}
	return nil
}

// remove answers DELETE <set>(<key>); the row's notes go with it.
func (s *Sim) remove(c *call, t *table, k rowKey) *response {
	r := k.find(t)
	if r == nil {
		return errorResponse(k.notFound(t))
	}
	if err := checkIfMatch(c.header.Get("If-Match"), r); err != nil {
		return errorResponse(err)
	}
	s.st.delete(t, r)
	return newResponse(http.StatusNoContent)
}

// property answers PUT and DELETE of one column: <set>(<key>)/<column>.
func (s *Sim) property(c *call, t *table, r *row, name string) *response {
	i, ok := t.attr(name)
	if !ok || t.attrs[i].typ == typeLookup {
		return errorResponse(errNoProperty(t, name))
	}
	a := t.attrs[i]
	var v any
	if c.method == http.MethodPut {
		body, err := decodeObject(t, c.body)
		if err != nil {
			return errorResponse(err)
		}
		if v, err = convert(t, a, body["value"]); err != nil {
			return errorResponse(err)
		}
	}
	if i == t.pk || a.readOnly {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "The property '%s' cannot be set.", name))
	}
	ch := changeSet{i: v}
	if t.set == "annotations" {
		if err := s.checkDocument(t, ch); err != nil {
			return errorResponse(err)
		}
	}
	s.st.update(t, r, ch)
	return newResponse(http.StatusNoContent)
}

// reference answers PUT and DELETE of <set>(<key>)/<nav>/$ref, which set and
// clear a single-valued navigation property
// (docs/reference/dataverse-webapi.md §4.6).
func (s *Sim) reference(c *call, t *table, r *row, nav string) *response {
	n, ok := t.navs[nav]
	if !ok {
		return errorResponse(errNoSegment(nav))
	}
	var v any
	switch c.method {
	case http.MethodPut:
		body, err := decodeObject(t, c.body)
		if err != nil {
			return errorResponse(err)
		}
		ref, _ := body["@odata.id"].(string)
		target, tr, err := s.resolveRef(c, ref)
		if err != nil {
			return errorResponse(err)
		}
		if !n.accepts(target.set) {
			return errorResponse(errf(http.StatusBadRequest, codePayload, "'%s' must refer to a record in %s.", nav, strings.Join(n.sets(), " or ")))
		}
		v = lookupValue{id: tr.id, set: target.set}
	case http.MethodDelete:
		if n.target == "" {
			return errorResponse(errOwnerRequired(t))
		}
		if lv, ok := r.vals[n.attr].(lookupValue); !ok || !strings.EqualFold(lv.set, n.target) {
			return newResponse(http.StatusNoContent)
		}
	default:
		return errorResponse(errNoHTTPResource(c.rawURL))
	}
	s.st.update(t, r, changeSet{n.attr: v})
	return newResponse(http.StatusNoContent)
}

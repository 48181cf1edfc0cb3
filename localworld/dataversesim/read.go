package dataversesim

import (
	"net/http"
	"slices"
	"strconv"
)

// Paging limits (docs/reference/dataverse-webapi.md §2.4, §2.5).
const (
	maxPageSize = 5000
	maxCount    = 5000
)

// readCollection answers GET <set>: a page of rows, or with
// Prefer: odata.track-changes the initial change-tracking read, or with
// $deltatoken a delta read.
func (s *Sim) readCollection(c *call, t *table) *response {
	return s.readRows(c, t, t.set, nil)
}

// readRows answers a read of the rows of t at path (t's set, or a
// collection-valued navigation property such as
// systemusers(<id>)/teammembership_association), limited to the rows scope
// accepts when it is not nil. Change tracking is for entity sets only.
func (s *Sim) readRows(c *call, t *table, path string, scope filterNode) *response {
	prefs, err := parsePrefer(c.header)
	if err != nil {
		return errorResponse(err)
	}
	q, err := parseQuery(c.query, t, s.st.tables)
	if err != nil {
		return errorResponse(err)
	}
	if scope != nil {
		if q.hasDelta || prefs.trackChanges {
			return errorResponse(errf(http.StatusBadRequest, codeQuery, "Change tracking is available on an entity set, not on the navigation property '%s'.", path))
		}
		if f := q.filter; f != nil {
			q.filter = func(r *row) bool { return scope(r) && f(r) }
		} else {
			q.filter = scope
		}
	}
	if q.hasDelta {
		return s.readDelta(c, t, q, prefs)
	}
	var cur *cursor
	tracking := prefs.trackChanges
	if q.skiptoken != "" {
		cols := orderColumns(t, q.order)
		cc, err := decodeCursor(t, q.skiptoken, cols)
		if err != nil {
			return errorResponse(err)
		}
		cur, tracking = &cc, tracking || cc.tracking
		if cc.tracking && scope != nil {
			return errorResponse(errf(http.StatusBadRequest, codeQuery, "The $skiptoken value is not valid. Follow @odata.nextLink exactly as returned."))
		}
	}
	if tracking {
		if err := checkTrackable(t, q); err != nil {
			return errorResponse(err)
		}
	}
	size, applied := pageSize(prefs)
	limit := size
	if q.top > 0 && prefs.maxPageSize == 0 && !tracking {
		limit = min(q.top, maxPageSize)
	}
	rows, more := s.selectRows(t, q, cur, limit)
	if q.top > 0 && prefs.maxPageSize == 0 {
		more = false // $top caps the result; it is ignored only with maxpagesize
	}

	rd := renderer{t: t, sel: q.sel, expand: q.expand, tables: s.st.tables, prefs: prefs}
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, contextURL(c.base, t, q.selNames, q.expand))
	if q.count {
		total := s.countRows(t, q)
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, int64(min(total, maxCount)), 10)
		if prefs.wantsAnnotation("Microsoft.Dynamics.CRM.totalrecordcount") {
			b = append(b, `,"@Microsoft.Dynamics.CRM.totalrecordcount":`...)
			b = strconv.AppendInt(b, int64(min(total, maxCount)), 10)
			b = append(b, `,"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded":`...)
			b = strconv.AppendBool(b, total > maxCount)
		}
	}
	b = append(b, `,"value":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = rd.appendRow(b, r)
	}
	b = append(b, ']')
	version := s.st.version
	page := 2
	if cur != nil {
		version, page = cur.version, cur.page+1
	}
	switch {
	case more:
		last := rows[len(rows)-1]
		next := cursor{page: page, tracking: tracking, version: version, cols: orderColumns(t, q.order)}
		for _, col := range next.cols {
			next.last = append(next.last, last.vals[col])
		}
		b = append(b, `,"@odata.nextLink":`...)
		b = appendJSONString(b, linkWith(c.base, path, c.rawQry, []string{"$skiptoken"}, "$skiptoken="+escapeQuery(encodeCursor(t, next))))
	case tracking:
		b = append(b, `,"@odata.deltaLink":`...)
		b = appendJSONString(b, s.deltaLink(c, t, version))
	}
	b = append(b, '}')
	resp := jsonResponse(http.StatusOK, b)
	if tracking && prefs.trackChanges {
		applied = append(applied, "odata.track-changes")
	}
	if prefs.annotations != "" {
		applied = append(applied, `odata.include-annotations="`+prefs.annotations+`"`)
	}
	setApplied(resp, applied)
	return resp
}

// pageSize is the page size a request asked for, capped at 5000, and the
// preference to echo in Preference-Applied.
func pageSize(p preferences) (int, []string) {
	if p.maxPageSize == 0 {
		return maxPageSize, nil
	}
	n := min(p.maxPageSize, maxPageSize)
	return n, []string{"odata.maxpagesize=" + strconv.Itoa(n)}
}

func setApplied(r *response, applied []string) {
	for _, a := range applied {
		r.header.Add("Preference-Applied", a)
	}
}

// orderColumns are the columns a read is keyed by: the $orderby columns,
// then the primary key, which makes the order total.
func orderColumns(t *table, order []orderKey) []int {
	cols := make([]int, 0, len(order)+1)
	for _, o := range order {
		cols = append(cols, o.attr)
	}
	return append(cols, t.pk)
}

// selectRows returns up to limit rows after cur in the read's order, and
// whether more follow.
func (s *Sim) selectRows(t *table, q *queryOptions, cur *cursor, limit int) ([]*row, bool) {
	var out []*row
	if len(q.order) == 0 {
		start := 0
		if cur != nil {
			after, _ := cur.last[0].(string)
			start, _ = slices.BinarySearch(t.ids, after)
			if start < len(t.ids) && t.ids[start] == after {
				start++
			}
		}
		for _, id := range t.ids[start:] {
			r := t.rows[id]
			if q.filter != nil && !q.filter(r) {
				continue
			}
			if len(out) == limit {
				return out, true
			}
			out = append(out, r)
		}
		return out, false
	}
	cols := orderColumns(t, q.order)
	desc := make([]bool, len(cols))
	for i, o := range q.order {
		desc[i] = o.desc
	}
	var all []*row
	for _, id := range t.ids {
		r := t.rows[id]
		if q.filter == nil || q.filter(r) {
			all = append(all, r)
		}
	}
	cmp := func(a []any, b []any) int {
		for i := range cols {
			c := compareNullable(a[i], b[i])
			if desc[i] {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
	key := func(r *row) []any {
		k := make([]any, len(cols))
		for i, col := range cols {
			k[i] = r.vals[col]
		}
		return k
	}
	slices.SortFunc(all, func(a, b *row) int { return cmp(key(a), key(b)) })
	for _, r := range all {
		if cur != nil && cmp(key(r), cur.last) <= 0 {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, r)
	}
	return out, false
}

// compareNullable orders values with nulls first, as SQL Server does.
func compareNullable(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	c, _ := compareValues(a, b)
	return c
}

func (s *Sim) countRows(t *table, q *queryOptions) int {
	if q.filter == nil {
		return len(t.ids)
	}
	n := 0
	for _, id := range t.ids {
		if q.filter(t.rows[id]) {
			n++
		}
	}
	return n
}

// readCount answers GET <set>/$count as text/plain, and with $deltatoken
// the number of changes since the token.
func (s *Sim) readCount(c *call, t *table) *response {
	q, err := parseQuery(c.query, t, s.st.tables)
	if err != nil {
		return errorResponse(err)
	}
	var n int
	if q.hasDelta {
		from, err := s.checkDeltaToken(t, q.deltatoken)
		if err != nil {
			return errorResponse(err)
		}
		rows, tombs := s.changesSince(t, from, s.st.version)
		n = len(rows) + len(tombs)
	} else {
		n = min(s.countRows(t, q), maxCount)
	}
	r := newResponse(http.StatusOK)
	r.header.Set("Content-Type", "text/plain")
	r.body = strconv.AppendInt(nil, int64(n), 10)
	return r
}

package dataversesim

import "net/http"

// readRow answers GET <set>(<key>): the row, or 304 when If-None-Match
// holds its current ETag (never with $expand or include-annotations,
// docs/reference/dataverse-webapi.md §4.5).
func (s *Sim) readRow(c *call, t *table, k rowKey) *response {
	prefs, err := parsePrefer(c.header)
	if err != nil {
		return errorResponse(err)
	}
	q, err := parseQuery(c.query, t, s.st.tables)
	if err != nil {
		return errorResponse(err)
	}
	r := k.find(t)
	if r == nil {
		return errorResponse(k.notFound(t))
	}
	if inm := c.header.Get("If-None-Match"); inm != "" && inm != "null" && len(q.expand) == 0 && prefs.annotations == "" {
		if v, ok := parseETag(inm); ok && v == r.version {
			resp := newResponse(http.StatusNotModified)
			resp.header.Set("ETag", etag(r.version))
			return resp
		}
	}
	rd := renderer{t: t, sel: q.sel, expand: q.expand, tables: s.st.tables, prefs: prefs}
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, contextURL(c.base, t, q.selNames, q.expand)+"/$entity")
	b = append(b, ',')
	b = append(b, rd.appendRow(nil, r)[1:]...)
	resp := jsonResponse(http.StatusOK, b)
	resp.header.Set("ETag", etag(r.version))
	if prefs.annotations != "" {
		resp.header.Set("Preference-Applied", `odata.include-annotations="`+prefs.annotations+`"`)
	}
	return resp
}

// readProperty answers GET <set>(<key>)/<column>[/$value].
func (s *Sim) readProperty(c *call, t *table, r *row, name string, raw bool) *response {
	i, ok := t.attr(name)
	if !ok {
		return errorResponse(errNoSegment(name))
	}
	v := r.vals[i]
	if t.attrs[i].typ == typeParties {
		if raw {
			return errorResponse(errNoSegment("$value"))
		}
		b := []byte(`{"@odata.context":`)
		b = appendJSONString(b, c.base+"$metadata#activityparties")
		b = append(b, `,"value":`...)
		b = appendParties(b, v)
		return jsonResponse(http.StatusOK, append(b, '}'))
	}
	if raw {
		if v == nil {
			return newResponse(http.StatusNoContent)
		}
		resp := newResponse(http.StatusOK)
		resp.header.Set("Content-Type", "text/plain")
		out := appendValue(nil, v)
		if s, ok := v.(string); ok {
			out = []byte(s)
		}
		resp.body = out
		return resp
	}
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, c.base+"$metadata#"+t.set+"("+r.id+")/"+name)
	b = append(b, `,"value":`...)
	b = appendValue(b, v)
	return jsonResponse(http.StatusOK, append(b, '}'))
}

package dataversesim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The $skiptoken is Dataverse's URL-encoded
// <cookie pagenumber="2" pagingcookie="…" istracking="False" />, whose
// pagingcookie is a URL-encoded <cookie page="1"><col last="…" first="…" />…</cookie>
// naming the last row of the previous page for every ordering column and
// the primary key (docs/reference/dataverse-webapi.md §2.4). Paging is by
// key, not by offset, so pages stay consistent while rows change.

type outerCookie struct {
	XMLName      xml.Name `xml:"cookie"`
	PageNumber   int      `xml:"pagenumber,attr"`
	PagingCookie string   `xml:"pagingcookie,attr"`
	IsTracking   string   `xml:"istracking,attr"`
}

type innerCookie struct {
	XMLName xml.Name    `xml:"cookie"`
	Page    int         `xml:"page,attr"`
	Version int64       `xml:"version,attr,omitempty"` // change tracking: the snapshot being read
	Phase   string      `xml:"phase,attr,omitempty"`   // delta: "rows" or "deleted"
	Keys    []cookieKey `xml:",any"`
}

type cookieKey struct {
	XMLName xml.Name
	Last    string `xml:"last,attr"`
	First   string `xml:"first,attr,omitempty"`
}

// cursor is a decoded $skiptoken: where the next page starts.
type cursor struct {
	page     int // number of the next page
	tracking bool
	version  int64
	phase    string
	cols     []int // attribute indexes of last, for ordinary reads
	last     []any // values of the last row returned, by ordering column
}

// encodeCursor renders c as a $skiptoken value (not yet URL-encoded for the link).
func encodeCursor(t *table, c cursor) string {
	in := innerCookie{Page: c.page - 1, Version: c.version, Phase: c.phase}
	for j, v := range c.last {
		name := "versionnumber"
		if c.cols != nil {
			name = t.attrs[c.cols[j]].jsonName()
		}
		in.Keys = append(in.Keys, cookieKey{XMLName: xml.Name{Local: name}, Last: cookieValue(v)})
	}
	inner, _ := xml.Marshal(in)
	tracking := "False"
	if c.tracking {
		tracking = "True"
	}
	out, _ := xml.Marshal(outerCookie{PageNumber: c.page, PagingCookie: escapeQuery(string(inner)), IsTracking: tracking})
	return strings.Replace(string(out), "></cookie>", " />", 1)
}

// decodeCursor parses a $skiptoken for an ordinary read ordered by cols
// (or, when cols is nil, a change-tracking read keyed by version).
func decodeCursor(t *table, s string, cols []int) (cursor, *apiError) {
	bad := errf(http.StatusBadRequest, codeQuery, "The $skiptoken value is not valid. Follow @odata.nextLink exactly as returned.")
	var out outerCookie
	if err := xml.Unmarshal([]byte(s), &out); err != nil || out.PageNumber < 2 {
		return cursor{}, bad
	}
	raw, err := url.QueryUnescape(out.PagingCookie)
	if err != nil {
		return cursor{}, bad
	}
	var in innerCookie
	if err := xml.Unmarshal([]byte(raw), &in); err != nil {
		return cursor{}, bad
	}
	c := cursor{page: out.PageNumber, tracking: out.IsTracking == "True", version: in.Version, phase: in.Phase, cols: cols}
	if cols == nil {
		if len(in.Keys) != 1 {
			return cursor{}, bad
		}
		v, err := strconv.ParseInt(in.Keys[0].Last, 10, 64)
		if err != nil {
			return cursor{}, bad
		}
		c.last = []any{v}
		return c, nil
	}
	if len(in.Keys) != len(cols) {
		return cursor{}, bad
	}
	for j, k := range in.Keys {
		a := t.attrs[cols[j]]
		if k.XMLName.Local != a.jsonName() {
			return cursor{}, bad
		}
		v, ok := decodeCookieValue(t, a, k.Last)
		if !ok {
			return cursor{}, bad
		}
		c.last = append(c.last, v)
	}
	return c, nil
}

// cookieValue renders a key value the way Dataverse's paging cookies do:
// GUIDs upper-case in braces, other values as JSON literals.
func cookieValue(v any) string {
	switch x := v.(type) {
	case lookupValue:
		return "{" + strings.ToUpper(x.id) + "}"
	case string:
		if _, ok := canonicalID(x); ok {
			return "{" + strings.ToUpper(x) + "}"
		}
	}
	return string(appendValue(nil, v))
}

func decodeCookieValue(t *table, a *attribute, s string) (any, bool) {
	if a.typ == typeGUID || a.typ == typeLookup {
		if s == "null" {
			return nil, a.typ == typeLookup
		}
		id, ok := canonicalID(strings.Trim(s, "{}"))
		if a.typ == typeLookup {
			return lookupValue{id: id}, ok
		}
		return id, ok
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, false
	}
	v, err := convert(t, &attribute{logical: a.logical, typ: a.typ}, raw)
	return v, err == nil
}

// escapeQuery URL-encodes s for a query string value, spaces as %20.
func escapeQuery(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// linkWith returns base+path?query with the query options of rawQuery
// except those named in drop, then extra appended.
func linkWith(base, path, rawQuery string, drop []string, extra string) string {
	var keep []string
	for _, p := range strings.Split(rawQuery, "&") {
		if p == "" {
			continue
		}
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		dropped := false
		for _, d := range drop {
			dropped = dropped || name == d
		}
		if !dropped {
			keep = append(keep, p)
		}
	}
	if extra != "" {
		keep = append(keep, extra)
	}
	if len(keep) == 0 {
		return base + path
	}
	return base + path + "?" + strings.Join(keep, "&")
}

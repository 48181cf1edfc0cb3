package dataversesim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// queryOptions are the parsed system query options of a read.
type queryOptions struct {
	sel        []int // attribute indexes; nil means every column
	selNames   []string
	filter     filterNode
	order      []orderKey
	top        int
	count      bool
	expand     []expandOption
	skiptoken  string
	deltatoken string
	hasDelta   bool
	rejected   []string // options change tracking refuses, in the order seen
}

type orderKey struct {
	attr int
	desc bool
}

// expandOption is one single-valued navigation to expand, with its $select.
type expandOption struct {
	name     string
	parties  int // index of the activity-parties collection, or -1
	nav      *navigation
	sel      []int
	selNames []string
}

// maxExpand is Dataverse's limit on $expand options
// (docs/reference/dataverse-webapi.md §2.1).
const maxExpand = 15

// parseQuery reads the system query options of a request on table t.
func parseQuery(q url.Values, t *table, tables map[string]*table) (*queryOptions, *apiError) {
	o := &queryOptions{}
	for name := range q {
		switch name {
		case "$select", "$filter", "$orderby", "$top", "$expand", "$count", "$skiptoken", "$deltatoken":
		case "$apply":
			return nil, errf(http.StatusNotImplemented, codeQuery, "The simulator does not implement $apply.")
		case "$skip", "$search", "$format":
			return nil, errf(http.StatusBadRequest, codeQuery, "The query parameter %s is not supported", name)
		default:
			if strings.HasPrefix(name, "$") {
				return nil, errf(http.StatusBadRequest, codeQuery, "The query parameter %s is not supported", name)
			}
		}
	}
	var err *apiError
	if v := q.Get("$select"); v != "" {
		if o.sel, o.selNames, err = parseSelect(v, t); err != nil {
			return nil, err
		}
	}
	if v := q.Get("$filter"); v != "" {
		o.rejected = append(o.rejected, "filter")
		if o.filter, err = parseFilter(v, t, tables); err != nil {
			return nil, err
		}
	}
	if v := q.Get("$orderby"); v != "" {
		o.rejected = append(o.rejected, "orderby")
		if o.order, err = parseOrderBy(v, t); err != nil {
			return nil, err
		}
	}
	if v := q.Get("$expand"); v != "" {
		o.rejected = append(o.rejected, "expand")
		if o.expand, err = parseExpand(v, t, tables); err != nil {
			return nil, err
		}
	}
	if v := q.Get("$top"); v != "" {
		o.rejected = append(o.rejected, "top")
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			return nil, errf(http.StatusBadRequest, codeQuery, "Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", v)
		}
		o.top = n
	}
	if v := q.Get("$count"); v != "" {
		if v != "true" && v != "false" {
			return nil, errf(http.StatusBadRequest, codeQuery, "'%s' is not a valid count option.", v)
		}
		o.count = v == "true"
	}
	o.skiptoken = q.Get("$skiptoken")
	o.deltatoken, o.hasDelta = q.Get("$deltatoken"), q.Has("$deltatoken")
	return o, nil
}

func parseSelect(v string, t *table) ([]int, []string, *apiError) {
	var idx []int
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		i, ok := t.attr(n)
		if !ok || !t.attrs[i].isColumn() {
			return nil, nil, errNoProperty(t, n)
		}
		idx = append(idx, i)
		names = append(names, n)
	}
	return idx, names, nil
}

func parseOrderBy(v string, t *table) ([]orderKey, *apiError) {
	var keys []orderKey
	for _, part := range strings.Split(v, ",") {
		f := strings.Fields(part)
		if len(f) == 0 || len(f) > 2 || (len(f) == 2 && f[1] != "asc" && f[1] != "desc") {
			return nil, errf(http.StatusBadRequest, codeQuery, "Syntax error in $orderby '%s'.", v)
		}
		i, ok := t.attr(f[0])
		if !ok || !t.attrs[i].isColumn() {
			return nil, errNoProperty(t, f[0])
		}
		keys = append(keys, orderKey{attr: i, desc: len(f) == 2 && f[1] == "desc"})
	}
	return keys, nil
}

// parseExpand reads nav or nav($select=a,b), comma separated.
func parseExpand(v string, t *table, tables map[string]*table) ([]expandOption, *apiError) {
	var out []expandOption
	depth, start := 0, 0
	var items []string
	for i := 0; i <= len(v); i++ {
		if i == len(v) || (v[i] == ',' && depth == 0) {
			items = append(items, strings.TrimSpace(v[start:i]))
			start = i + 1
			continue
		}
		switch v[i] {
		case '(':
			depth++
		case ')':
			depth--
		}
	}
	if len(items) > maxExpand {
		return nil, errf(http.StatusBadRequest, codeQuery, "The limit of '%d' for the number of expand options was exceeded.", maxExpand)
	}
	for _, item := range items {
		name, inner, _ := strings.Cut(item, "(")
		if i, ok := t.attr(name); ok && t.attrs[i].typ == typeParties {
			out = append(out, expandOption{name: name, parties: i, selNames: []string{"activitypartyid", "_partyid_value", "participationtypemask"}})
			continue
		}
		nav, ok := t.navs[name]
		if !ok {
			return nil, errNoProperty(t, name)
		}
		if nav.target == "" {
			return nil, errf(http.StatusNotImplemented, codeQuery, "The simulator does not expand '%s', whose target may be a user or a team: read _%s_value and its lookuplogicalname annotation.", name, name)
		}
		e := expandOption{name: name, nav: nav, parties: -1}
		if inner != "" {
			inner = strings.TrimSuffix(inner, ")")
			sel, found := strings.CutPrefix(inner, "$select=")
			if !found || strings.Contains(sel, ";") {
				return nil, errf(http.StatusBadRequest, codeQuery, "Only $select is supported inside $expand here: '%s'.", item)
			}
			var err *apiError
			if e.sel, e.selNames, err = parseSelect(sel, tables[nav.target]); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// preferences are the Prefer header values the Web API understands.
type preferences struct {
	maxPageSize     int // 0 when absent
	trackChanges    bool
	representation  bool
	continueOnError bool
	annotations     string // the include-annotations value, unquoted
}

// parsePrefer reads every Prefer header of h.
func parsePrefer(h http.Header) (preferences, *apiError) {
	var p preferences
	for _, line := range h.Values("Prefer") {
		for _, item := range strings.Split(line, ",") {
			item = strings.TrimSpace(item)
			name, val, _ := strings.Cut(item, "=")
			switch strings.TrimSpace(name) {
			case "odata.maxpagesize":
				n, err := strconv.Atoi(strings.TrimSpace(val))
				if err != nil || n <= 0 {
					return p, errf(http.StatusBadRequest, codeQuery, "The odata.maxpagesize preference '%s' is not a positive integer.", val)
				}
				p.maxPageSize = n
			case "odata.track-changes":
				p.trackChanges = true
			case "return":
				p.representation = strings.TrimSpace(val) == "representation"
			case "odata.continue-on-error":
				p.continueOnError = true
			case "odata.include-annotations":
				p.annotations = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return p, nil
}

// wantsAnnotation reports whether the include-annotations preference covers
// the annotation term, e.g. Microsoft.Dynamics.CRM.lookuplogicalname.
func (p preferences) wantsAnnotation(term string) bool {
	for _, pat := range strings.Split(p.annotations, ",") {
		pat = strings.TrimSpace(pat)
		if pat == "*" || pat == term || (strings.HasSuffix(pat, "*") && strings.HasPrefix(term, strings.TrimSuffix(pat, "*"))) {
			return true
		}
	}
	return false
}

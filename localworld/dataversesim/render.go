package dataversesim

import "strings"

// renderer writes rows as the Web API's JSON.
type renderer struct {
	t      *table
	sel    []int // nil means every column
	expand []expandOption
	tables map[string]*table
	prefs  preferences
}

// appendRow writes r: its ETag, the selected columns (all when none are
// selected), the primary key even when not selected, and expansions.
func (rd *renderer) appendRow(b []byte, r *row) []byte {
	b = append(b, `{"@odata.etag":`...)
	b = appendJSONString(b, etag(r.version))
	if rd.sel == nil {
		for i, a := range rd.t.attrs {
			if a.isColumn() {
				b = rd.appendColumn(b, r, i)
			}
		}
	} else {
		pkDone := false
		for _, i := range rd.sel {
			b = rd.appendColumn(b, r, i)
			pkDone = pkDone || i == rd.t.pk
		}
		if !pkDone {
			b = rd.appendColumn(b, r, rd.t.pk)
		}
	}
	for _, e := range rd.expand {
		b = append(b, ',')
		if e.parties >= 0 {
			b = appendJSONString(b, rd.t.attrs[e.parties].jsonName())
			b = appendParties(append(b, ':'), r.vals[e.parties])
			continue
		}
		b = appendJSONString(b, e.nav.name)
		b = append(b, ':')
		lv, ok := r.vals[e.nav.attr].(lookupValue)
		target := rd.tables[e.nav.target]
		var tr *row
		if ok && lv.set == e.nav.target {
			tr = target.rows[lv.id]
		}
		if tr == nil {
			b = append(b, "null"...)
			continue
		}
		inner := renderer{t: target, sel: e.sel, tables: rd.tables}
		b = inner.appendRow(b, tr)
	}
	return append(b, '}')
}

func (rd *renderer) appendColumn(b []byte, r *row, i int) []byte {
	a := rd.t.attrs[i]
	b = append(b, ',')
	b = appendJSONString(b, a.jsonName())
	b = append(b, ':')
	b = appendValue(b, r.vals[i])
	lv, ok := r.vals[i].(lookupValue)
	if !ok || rd.prefs.annotations == "" {
		return b
	}
	if rd.prefs.wantsAnnotation("Microsoft.Dynamics.CRM.associatednavigationproperty") {
		for _, n := range rd.t.navs {
			if n.attr == i && n.accepts(lv.set) {
				b = appendJSONString(append(b, ','), a.jsonName()+"@Microsoft.Dynamics.CRM.associatednavigationproperty")
				b = appendJSONString(append(b, ':'), n.name)
			}
		}
	}
	if rd.prefs.wantsAnnotation("Microsoft.Dynamics.CRM.lookuplogicalname") {
		b = appendJSONString(append(b, ','), a.jsonName()+"@Microsoft.Dynamics.CRM.lookuplogicalname")
		b = appendJSONString(append(b, ':'), rd.tables[lv.set].logical)
	}
	return b
}

// contextURL is the @odata.context of a collection of t with the selection.
func contextURL(base string, t *table, selNames []string, expand []expandOption) string {
	var parts []string
	parts = append(parts, selNames...)
	for _, e := range expand {
		parts = append(parts, e.name+"("+strings.Join(e.selNames, ",")+")")
	}
	s := base + "$metadata#" + t.set
	if len(parts) > 0 {
		s += "(" + strings.Join(parts, ",") + ")"
	}
	return s
}

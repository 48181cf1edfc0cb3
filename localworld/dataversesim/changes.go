package dataversesim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A delta token is "<version>!<MM/dd/yyyy HH:mm:ss>" like Dataverse's
// (docs/reference/dataverse-webapi.md §3.2): the rowversion the client has
// seen up to and when the token was issued. Clients must treat it as opaque.
const tokenTimeLayout = "01/02/2006 15:04:05"

func formatDeltaToken(version int64, at time.Time) string {
	return strconv.FormatInt(version, 10) + "!" + at.UTC().Format(tokenTimeLayout)
}

// checkTrackable refuses change tracking on a table without it and with the
// query options it does not support (docs/reference/dataverse-webapi.md §3.3).
func checkTrackable(t *table, q *queryOptions) *apiError {
	if !t.tracked {
		return errf(http.StatusBadRequest, codeQuery, "Entity: %s isn't enabled for change tracking.", t.logical)
	}
	if len(q.rejected) > 0 {
		return errf(http.StatusBadRequest, codeQuery, `The "$%s" query parameter isn't supported when Change Tracking is enabled.`, q.rejected[0])
	}
	return nil
}

// deltaLink is the link to the changes after version, keeping $select.
func (s *Sim) deltaLink(c *call, t *table, version int64) string {
	return linkWith(c.base, t.set, c.rawQry, []string{"$skiptoken", "$deltatoken"}, "$deltatoken="+escapeQuery(formatDeltaToken(version, s.now())))
}

// checkDeltaToken parses a delta token and refuses it when it has expired:
// older than the organization's expirechangetrackingindays, or issued
// before the last ExpireDeltaTokens.
func (s *Sim) checkDeltaToken(t *table, tok string) (int64, *apiError) {
	if !t.tracked {
		return 0, errf(http.StatusBadRequest, codeQuery, "Entity: %s isn't enabled for change tracking.", t.logical)
	}
	v, at, ok := strings.Cut(tok, "!")
	version, err := strconv.ParseInt(v, 10, 64)
	issued, terr := time.Parse(tokenTimeLayout, at)
	if !ok || err != nil || terr != nil || version < 0 || version > s.st.version {
		return 0, errf(http.StatusBadRequest, codeQuery, "The $deltatoken '%s' is not valid.", tok)
	}
	days := s.organization().expireDays
	if version <= s.minToken || s.now().Sub(issued) > time.Duration(days)*24*time.Hour {
		return 0, errf(http.StatusBadRequest, codeExpiredVersion, "Version stamp associated with the client has expired. Please perform a full sync.")
	}
	return version, nil
}

// changesSince returns the rows changed and the tombstones written after
// version from and up to version to, each in version order.
func (s *Sim) changesSince(t *table, from, to int64) ([]*row, []tombstone) {
	var rows []*row
	for _, id := range t.ids {
		r := t.rows[id]
		if r.version > from && r.version <= to {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *row) int { return cmpOrdered(a.version, b.version) })
	lo, _ := slices.BinarySearchFunc(t.tombstones, from+1, func(x tombstone, v int64) int { return cmpOrdered(x.version, v) })
	hi, _ := slices.BinarySearchFunc(t.tombstones, to+1, func(x tombstone, v int64) int { return cmpOrdered(x.version, v) })
	return rows, t.tombstones[lo:hi]
}

// readDelta answers a $deltatoken read: the latest state of every row
// changed since the token (new and updated alike), then the deleted ids,
// paged, with a new delta link on the last page.
func (s *Sim) readDelta(c *call, t *table, q *queryOptions, prefs preferences) *response {
	from, err := s.checkDeltaToken(t, q.deltatoken)
	if err != nil {
		return errorResponse(err)
	}
	if err := checkTrackable(t, q); err != nil {
		return errorResponse(err)
	}
	cur := cursor{page: 1, tracking: true, version: s.st.version, phase: "rows", last: []any{from}}
	if q.skiptoken != "" {
		if cur, err = decodeCursor(t, q.skiptoken, nil); err != nil {
			return errorResponse(err)
		}
	}
	size, applied := pageSize(prefs)
	after := cur.last[0].(int64)
	rows, tombs := s.changesSince(t, from, cur.version)
	if cur.phase == "deleted" {
		rows = nil
	}
	rd := renderer{t: t, sel: q.sel, tables: s.st.tables, prefs: prefs}
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, contextURL(c.base, t, q.selNames, nil)+"/$delta")
	b = append(b, `,"value":[`...)
	n, next := 0, cursor{}
	for _, r := range rows {
		if r.version <= after {
			continue
		}
		if n == size {
			next = cursor{page: cur.page + 1, tracking: true, version: cur.version, phase: "rows", last: []any{rows[0].version}}
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = rd.appendRow(b, r)
		n++
		after = r.version
	}
	if next.page == 0 {
		if cur.phase == "rows" {
			after = from
		}
		for _, d := range tombs {
			if d.version <= after {
				continue
			}
			if n == size {
				next = cursor{page: cur.page + 1, tracking: true, version: cur.version, phase: "deleted"}
				break
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `{"@odata.context":%s,"id":"%s","reason":"deleted"}`, appendJSONString(nil, c.base+"$metadata#"+t.set+"/$deletedEntity"), d.id)
			n++
			after = d.version
		}
	}
	b = append(b, ']')
	if next.page != 0 {
		next.last = []any{after}
		b = append(b, `,"@odata.nextLink":`...)
		b = appendJSONString(b, linkWith(c.base, t.set, c.rawQry, []string{"$skiptoken"}, "$skiptoken="+escapeQuery(encodeCursor(t, next))))
	} else {
		b = append(b, `,"@odata.deltaLink":`...)
		b = appendJSONString(b, s.deltaLink(c, t, cur.version))
	}
	b = append(b, '}')
	resp := jsonResponse(http.StatusOK, b)
	if prefs.trackChanges {
		applied = append(applied, "odata.track-changes")
	}
	setApplied(resp, applied)
	return resp
}

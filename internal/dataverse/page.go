package dataverse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Page is one page of a read. Rows are in the order Dataverse sent them;
// in a change-tracking read they are upserts (new and updated rows look the
// same) and Deleted tombstones.
type Page struct {
	Rows      []Row
	NextLink  string // the next page, followed verbatim; empty on the last page
	DeltaLink string // on the last page of a change-tracking read
	Count     int64  // @odata.count, or -1 when the response has none
}

// Row is one entry of a page.
type Row struct {
	// ID is the record's primary key: for rows when the read knows the
	// table's primary key column, for tombstones always.
	ID string
	// Deleted marks a $deletedEntity tombstone; Data is then nil.
	Deleted bool
	// Data is the row as Dataverse sent it: "@odata.etag", the selected
	// columns and the primary key.
	Data json.RawMessage
}

// pageWire is the JSON shape of a collection response.
type pageWire struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
	Count     *int64            `json:"@odata.count"`
}

// decodePage parses a collection response. pk names the primary key
// column whose value becomes Row.ID ("" to skip). An object without a
// value array is a page without rows: Microsoft documents that a delta
// read of a table without changes "contains empty JSON"
// (docs/reference/dataverse-webapi.md §3.2).
func decodePage(body []byte, pk string) (*Page, error) {
	var w pageWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("dataverse: decode page: %w", err)
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("dataverse: decode page: the response is not a JSON object")
	}
	p := &Page{Rows: make([]Row, len(w.Value)), NextLink: w.NextLink, DeltaLink: w.DeltaLink, Count: -1}
	if w.Count != nil {
		p.Count = *w.Count
	}
	for i, raw := range w.Value {
		r, err := decodeRow(raw, pk)
		if err != nil {
			return nil, fmt.Errorf("dataverse: decode page: row %d: %w", i, err)
		}
		p.Rows[i] = r
	}
	return p, nil
}

// decodeRow classifies one valid JSON value of a page: a tombstone
// ({"@odata.context":"…/$deletedEntity","id":…,"reason":"deleted"}) or a row.
func decodeRow(raw json.RawMessage, pk string) (Row, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return Row{}, fmt.Errorf("not a JSON object")
	}
	var id, tombID []byte
	deleted := false
	eachMember(raw, func(key, val []byte) {
		switch {
		case pk != "" && string(key) == pk:
			id = val
		case string(key) == "id":
			tombID = val
		case string(key) == "@odata.context":
			deleted = bytes.Contains(val, []byte("$deletedEntity"))
		}
	})
	if deleted {
		s, ok := jsonString(tombID)
		if !ok {
			return Row{}, fmt.Errorf("a deleted entity without a string id")
		}
		return Row{ID: strings.ToLower(s), Deleted: true}, nil
	}
	r := Row{Data: raw}
	if id != nil {
		s, ok := jsonString(id)
		if !ok {
			return Row{}, fmt.Errorf("primary key %s is not a string", pk)
		}
		r.ID = strings.ToLower(s)
	}
	return r, nil
}

// jsonString returns the text of a JSON string token.
func jsonString(tok []byte) (string, bool) {
	if len(tok) < 2 || tok[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1]), true
	}
	var s string
	err := json.Unmarshal(tok, &s)
	return s, err == nil
}

// eachMember calls fn with the key (unquoted, escapes kept) and raw value
// of each member of obj, which must be a valid JSON object.
func eachMember(obj []byte, fn func(key, val []byte)) {
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		kEnd := skipString(obj, i)
		key := obj[i+1 : kEnd-1]
		i = skipSpace(obj, kEnd)
		i = skipSpace(obj, i+1) // the colon
		vEnd := skipValue(obj, i)
		fn(key, obj[i:vEnd])
		i = skipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
		i++
	}
	return i
}

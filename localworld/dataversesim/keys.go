package dataversesim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// keyPart is one name=value of a key segment; name is empty for the bare
// (guid) form. quoted says the value was a 'string' literal.
type keyPart struct {
	name   string
	value  string
	quoted bool
}

// splitResource splits "accounts(accountnumber='A”1')" into the set name
// and its key parts; a segment without parentheses has no key.
func splitResource(seg string) (name string, key []keyPart, hasKey bool, err *apiError) {
	open := strings.IndexByte(seg, '(')
	if open < 0 {
		return seg, nil, false, nil
	}
	if !strings.HasSuffix(seg, ")") {
		return "", nil, false, errf(http.StatusBadRequest, codeQuery, "Bad Request - Error in query syntax: the key in '%s' is not closed.", seg)
	}
	key, err = parseKey(seg[open+1 : len(seg)-1])
	return seg[:open], key, true, err
}

// parseKey parses the inside of a key segment: guid, name=value, or
// name=value pairs separated by commas, where string values are quoted with
// two single quotes for a quote.
func parseKey(s string) ([]keyPart, *apiError) {
	bad := func() *apiError {
		return errf(http.StatusBadRequest, codeQuery, "Bad Request - Error in query syntax: the key '(%s)' is not valid.", s)
	}
	var parts []keyPart
	for i := 0; ; {
		var p keyPart
		eq := strings.IndexByte(s[i:], '=')
		quote := strings.IndexByte(s[i:], '\'')
		if eq >= 0 && (quote < 0 || eq < quote) {
			p.name = strings.TrimSpace(s[i : i+eq])
			i += eq + 1
		}
		if i < len(s) && s[i] == '\'' {
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, bad()
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			p.value, p.quoted = b.String(), true
			i = j + 1
		} else {
			end := strings.IndexByte(s[i:], ',')
			if end < 0 {
				end = len(s) - i
			}
			p.value = strings.TrimSpace(s[i : i+end])
			i += end
		}
		if p.value == "" && !p.quoted {
			return nil, bad()
		}
		parts = append(parts, p)
		if i >= len(s) {
			break
		}
		if s[i] != ',' {
			return nil, bad()
		}
		i++
	}
	if len(parts) > 1 || parts[0].name != "" {
		for _, p := range parts {
			if p.name == "" {
				return nil, bad()
			}
		}
	}
	return parts, nil
}

// rowKey is a resolved key: a primary key id, or an alternate key with its
// values converted to column types.
type rowKey struct {
	id   string // primary key form
	alt  altKey
	vals []any
}

// resolveKey checks the key parts against t's primary and alternate keys.
func resolveKey(t *table, parts []keyPart) (rowKey, *apiError) {
	if len(parts) == 1 && (parts[0].name == "" || parts[0].name == t.pkName()) {
		id, ok := canonicalID(parts[0].value)
		if !ok || parts[0].quoted {
			return rowKey{}, errf(http.StatusBadRequest, codeQuery, "Bad Request - Error in query syntax: '%s' is not a valid key for '%s'.", parts[0].value, t.set)
		}
		return rowKey{id: id}, nil
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	k, ok := t.key(names)
	if !ok {
		return rowKey{}, errf(http.StatusBadRequest, codeQuery, "Invalid key specified for entity '%s': %s does not match an alternate key of the table.", t.logical, strings.Join(names, ","))
	}
	vals := make([]any, len(k.attrs))
	for j, a := range k.attrs {
		attr := t.attrs[a]
		for _, p := range parts {
			if p.name != attr.jsonName() {
				continue
			}
			var raw any = p.value
			if !p.quoted && attr.typ != typeGUID && attr.typ != typeLookup {
				raw = jsonNumber(p.value)
			}
			if attr.typ == typeLookup {
				id, ok := canonicalID(p.value)
				if !ok {
					return rowKey{}, errf(http.StatusBadRequest, codeQuery, "Cannot convert the literal '%s' to the expected type 'Edm.Guid'.", p.value)
				}
				vals[j] = lookupValue{id: id}
				continue
			}
			v, err := convert(t, attr, raw)
			if err != nil {
				return rowKey{}, err
			}
			vals[j] = v
		}
	}
	return rowKey{alt: k, vals: vals}, nil
}

// find returns the row k names, or nil.
func (k rowKey) find(t *table) *row {
	if k.id != "" {
		return t.rows[k.id]
	}
	return t.findByKey(k.alt, k.vals)
}

// notFound is the 404 for a key that names no row.
func (k rowKey) notFound(t *table) *apiError {
	if k.id != "" {
		return errNoRow(t, k.id)
	}
	return errf(http.StatusNotFound, codeKeyNotExist, "A record with the specified key values does not exist in %s entity", t.logical)
}

func jsonNumber(s string) json.Number { return json.Number(s) }

package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pitcher/connector/internal/apperr"
)

// object walks one JSON object of the report: each field is taken by name
// and checked, and whatever was not taken is reported as unknown, so a
// report with several mistakes is described in full.
type object struct {
	m     map[string]json.RawMessage
	path  string // "meeting." or "" at the top
	taken map[string]bool
	p     *apperr.Problems
}

// newObject decodes raw as an object at path (field names are prefixed by
// path). It reports a problem under name and returns nil when raw is not
// a JSON object.
func newObject(raw json.RawMessage, name, path string, p *apperr.Problems) *object {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		p.Add(name, "must be a JSON object")
		return nil
	}
	o := &object{m: m, path: path, taken: map[string]bool{}, p: p}
	o.twice(duplicateKeys(raw))
	return o
}

// twice reports keys given more than once in the object.
func (o *object) twice(keys []string) {
	for _, k := range keys {
		o.p.Add(o.field(shorten(k)), "is given twice; give each field once")
	}
}

// duplicateKeys returns the keys given more than once in the JSON object
// raw (each once, in order), which encoding/json would otherwise take as
// the last one given.
func duplicateKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	var dups []string
	for dec.More() {
		t, err := dec.Token()
		k, ok := t.(string)
		if err != nil || !ok {
			return dups
		}
		if seen[k] {
			dups = appendOnce(dups, k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return dups
		}
	}
	return dups
}

// shorten makes a key fit a problem's field: "" is shown quoted, a long
// one cut at 64 bytes.
func shorten(k string) string {
	switch {
	case k == "":
		return `""`
	case len(k) > 64:
		return strings.ToValidUTF8(k[:64], "") + "…"
	}
	return k
}

func (o *object) field(key string) string { return o.path + key }

// raw takes key; JSON null counts as absent.
func (o *object) raw(key string) (json.RawMessage, bool) {
	o.taken[key] = true
	v, ok := o.m[key]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, false
	}
	return v, true
}

// str takes a string of at most maxLen characters; required says that an
// absent or empty one is a problem.
func (o *object) str(key string, required bool, maxLen int) string {
	v, ok := o.raw(key)
	if !ok {
		if required {
			o.p.Add(o.field(key), "missing")
		}
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		o.p.Add(o.field(key), "must be a string")
		return ""
	}
	switch {
	case required && strings.TrimSpace(s) == "":
		o.p.Add(o.field(key), "is empty")
	case utf8.RuneCountInString(s) > maxLen:
		o.p.Add(o.field(key), "is %d characters long; at most %d are allowed", utf8.RuneCountInString(s), maxLen)
	}
	return s
}

// object takes a nested object.
func (o *object) object(key string, required bool) *object {
	v, ok := o.raw(key)
	if !ok {
		if required {
			o.p.Add(o.field(key), "missing")
		}
		return nil
	}
	return newObject(v, o.field(key), o.field(key)+".", o.p)
}

// array takes an optional array of at most max elements.
func (o *object) array(key string, max int) []json.RawMessage {
	v, ok := o.raw(key)
	if !ok {
		return nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(v, &a); err != nil {
		o.p.Add(o.field(key), "must be a JSON array")
		return nil
	}
	if len(a) > max {
		o.p.Add(o.field(key), "has %d elements; at most %d are allowed", len(a), max)
		return nil
	}
	return a
}

// values takes an object of scalar values (strings, numbers, booleans,
// null), numbers kept as json.Number.
func (o *object) values(key string) (map[string]any, bool) {
	v, ok := o.raw(key)
	if !ok {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		o.p.Add(o.field(key), "must be a JSON object")
		return nil, false
	}
	for _, k := range duplicateKeys(v) {
		o.p.Add(o.field(key+"."+shorten(k)), "is given twice; give each field once")
	}
	return m, true
}

// done reports every field of the object that was not taken.
func (o *object) done(known string) {
	var unknown []string
	for k := range o.m {
		if !o.taken[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		o.p.Add(o.field(shorten(k)), "unknown field; the fields here are %s", known)
	}
}

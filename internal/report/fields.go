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
	return &object{m: m, path: path, taken: map[string]bool{}, p: p}
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
		switch {
		case k == "":
			k = `""`
		case len(k) > 64:
			k = strings.ToValidUTF8(k[:64], "") + "…"
		}
		o.p.Add(o.field(k), "unknown field; the fields here are %s", known)
	}
}

package funcwire

import (
	"encoding/json"
	"strings"

	"github.com/pitcher/connector/internal/apperr"
)

// fields decodes named values out of a JSON object, collecting a Problem for
// each one that has the wrong shape so that a bad payload is reported in full.
type fields struct {
	src      map[string]json.RawMessage
	path     string // e.g. "Metadata." or "Data.timer."
	problems *apperr.Problems
}

func newFields(src map[string]json.RawMessage, path string) fields {
	return fields{src: src, path: path, problems: new(apperr.Problems)}
}

// lookup finds key exactly, or else ignoring case (Newtonsoft and older hosts
// differ in casing).
func (f fields) lookup(key string) (json.RawMessage, bool) {
	if v, ok := f.src[key]; ok {
		return v, true
	}
	for k, v := range f.src {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// decode unmarshals key into dst if present; it reports whether key was present.
func (f fields) decode(key string, dst json.Unmarshaler) bool {
	raw, ok := f.lookup(key)
	if !ok {
		return false
	}
	if err := dst.UnmarshalJSON(raw); err != nil {
		f.problem(key, err.Error())
	}
	return true
}

// require is decode for a value that must be present.
func (f fields) require(key string, dst json.Unmarshaler) {
	if !f.decode(key, dst) {
		f.problem(key, "missing")
	}
}

// object returns the fields of the nested object under key (sent as an
// object or as JSON text), or ok=false if it is absent or malformed.
func (f fields) object(key string) (fields, bool) {
	var o hostObject
	if !f.decode(key, &o) || len(o) == 0 {
		return fields{}, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(o, &m); err != nil {
		f.problem(key, "is not a JSON object")
		return fields{}, false
	}
	return fields{src: m, path: f.path + key + ".", problems: f.problems}, true
}

func (f fields) problem(key, msg string) {
	f.problems.Add(f.path+key, "%s", msg)
}

// err returns an Invalid error listing every problem, or nil.
func (f fields) err(what string) error { return f.problems.Err(what + " is not valid") }

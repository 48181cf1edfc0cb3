package funcwire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Functions host serialises trigger values with Newtonsoft.Json before
// putting them in the invocation payload, so the same value can arrive in
// several shapes (docs/reference/functions-custom-handlers.md §2.2, §2.8):
//
//   - strings JSON-encoded twice: "\"abc\"" for abc;
//   - numbers and booleans as strings: "5", "true";
//   - times with or without an offset, with up to 7 fractional digits;
//   - objects as objects, or, from older hosts, as JSON text in a string.
//
// The types below accept every one of these shapes; encodeHostString writes
// the first. They are used only inside this package; decoded values are
// plain Go types.

// hostString is a string the host encoded once or twice.
type hostString string

func (s *hostString) UnmarshalJSON(b []byte) error {
	v, err := decodeHostString(b)
	*s = hostString(v)
	return err
}

func decodeHostString(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return "", nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", err
		}
		if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			var inner string
			if json.Unmarshal([]byte(s), &inner) == nil {
				return inner, nil
			}
		}
		return s, nil
	case b[0] == '{' || b[0] == '[':
		return "", fmt.Errorf("got a JSON %s, want a string", jsonKind(b))
	default: // a number or a boolean: its text is the value
		return string(b), nil
	}
}

// hostInt is an integer sent as a number or as a (possibly double-encoded) string.
type hostInt int64

func (n *hostInt) UnmarshalJSON(b []byte) error {
	s, err := decodeHostString(b)
	if err != nil || s == "" {
		*n = 0
		return err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*n = hostInt(v)
	return nil
}

// hostBool is a boolean sent as true/false or as a string.
type hostBool bool

func (v *hostBool) UnmarshalJSON(b []byte) error {
	s, err := decodeHostString(b)
	if err != nil || s == "" {
		*v = false
		return err
	}
	p, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not a boolean", s)
	}
	*v = hostBool(p)
	return nil
}

// hostTime is a time sent as ISO 8601 text; text without an offset is UTC
// (the host's *Utc keys, e.g. "2023-10-12T20:13:49").
type hostTime time.Time

func (t *hostTime) UnmarshalJSON(b []byte) error {
	s, err := decodeHostString(b)
	if err != nil || s == "" {
		*t = hostTime{}
		return err
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if v, err := time.Parse(layout, s); err == nil {
			*t = hostTime(v.UTC())
			return nil
		}
	}
	return fmt.Errorf("%q is not an ISO 8601 time", s)
}

// hostObject is a JSON object sent as an object or as JSON text in a string.
type hostObject json.RawMessage

func (o *hostObject) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		s, err := decodeHostString(b)
		if err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
	}
	if len(b) == 0 || string(b) == "null" {
		*o = nil
		return nil
	}
	if b[0] != '{' || !json.Valid(b) {
		return fmt.Errorf("got %s, want a JSON object", jsonKind(b))
	}
	*o = append((*o)[:0], b...)
	return nil
}

// decodeInto unmarshals o into v; an absent object leaves v unchanged.
func (o hostObject) decodeInto(v any) error {
	if len(o) == 0 {
		return nil
	}
	return json.Unmarshal(o, v)
}

// decodeHostText returns the bytes of a text payload (a message body): a
// JSON object or array is returned as it stands; a string, decoded once or
// twice, is returned as its text.
func decodeHostText(b []byte) ([]byte, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		if !json.Valid(b) {
			return nil, fmt.Errorf("malformed JSON %s", jsonKind(b))
		}
		return b, nil
	}
	s, err := decodeHostString(b)
	return []byte(s), err
}

// encodeHostString encodes s as the host does: serialised once by Newtonsoft
// before the payload itself is serialised, so it arrives JSON-encoded twice.
func encodeHostString(s string) json.RawMessage { return raw(string(raw(s))) }

func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == '"':
		return "string"
	case b[0] == 't' || b[0] == 'f':
		return "boolean"
	case b[0] == 'n':
		return "null"
	default:
		return "number"
	}
}

package apperr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// DescribeJSON turns an encoding/json decoding error into words that name
// the field or the byte offset, never echoing the input (which may carry a
// token or a customer's data). known, when not empty, follows an unknown
// field's name to say which fields exist, e.g. "the fields are v, tenantId
// and userId".
func DescribeJSON(err error, known string) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "the top level"
		}
		return fmt.Sprintf("%s is a JSON %s, want %s", field, typeErr.Value, typeErr.Type)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.EOF):
		return "empty; send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: it ends early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		msg := "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
		if known != "" {
			msg += "; " + known
		}
		return msg
	}
	return err.Error()
}

// DecodeStrict decodes the one JSON value in doc into dst, refusing unknown
// fields, a key given twice in one object (which encoding/json would settle
// silently, the last one winning) and anything after the value. It is the
// connector's one decoder of JSON that callers or operators write. It
// returns "" on success, or what is wrong in DescribeJSON's words (known as
// there), a repeated key as "entitySets[1].name is given twice; ...".
func DecodeStrict(doc []byte, dst any, known string) string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return DescribeJSON(err, known)
	}
	if dec.More() {
		return "has text after the JSON value"
	}
	if at := repeatedKey(doc); at != "" {
		return at + " is given twice; give each field once"
	}
	return ""
}

// repeatedKey returns where the JSON value in doc, known to be valid, first
// gives a key twice in one object (as entitySets[1].name), or "". Keys are
// compared as encoding/json matches them to a struct's fields: without
// regard to case (bytes.EqualFold).
func repeatedKey(doc []byte) string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var walk func(path string) string
	walk = func(path string) string {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				tok, err := dec.Token()
				key, ok := tok.(string)
				if err != nil || !ok {
					return ""
				}
				at := shortKey(key)
				if path != "" {
					at = path + "." + at
				}
				if seen[foldKey(key)] {
					return at
				}
				seen[foldKey(key)] = true
				if dup := walk(at); dup != "" {
					return dup
				}
			}
			_, _ = dec.Token() // '}'
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if dup := walk(fmt.Sprintf("%s[%d]", path, i)); dup != "" {
					return dup
				}
			}
			_, _ = dec.Token() // ']'
		}
		return ""
	}
	return walk("")
}

// foldKey maps every key that bytes.EqualFold equates to one string: each
// rune becomes the smallest of its simple case folding orbit.
func foldKey(key string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, key)
}

// shortKey is key as a message may quote it: at most 64 bytes.
func shortKey(key string) string {
	if len(key) <= 64 {
		return key
	}
	return strings.ToValidUTF8(key[:64], "") + "…"
}

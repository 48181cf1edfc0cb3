package apperr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
// fields and anything after the value. It returns "" on success, or what
// is wrong in DescribeJSON's words (known as there).
func DecodeStrict(doc []byte, dst any, known string) string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return DescribeJSON(err, known)
	}
	if dec.More() {
		return "has text after the JSON value"
	}
	return ""
}

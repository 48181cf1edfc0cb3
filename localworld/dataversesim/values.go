package dataversesim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// edmName is the OData type a column's values have, for error messages.
func (a *attribute) edmName() string {
	switch a.typ {
	case typeGUID, typeLookup:
		return "Edm.Guid"
	case typeInt, typePicklist:
		return "Edm.Int32"
	case typeBigInt:
		return "Edm.Int64"
	case typeMoney:
		return "Edm.Decimal"
	case typeDouble:
		return "Edm.Double"
	case typeBool:
		return "Edm.Boolean"
	case typeDateTime:
		return "Edm.DateTimeOffset"
	}
	return "Edm.String"
}

// convert turns a decoded JSON value (numbers as json.Number) into the
// stored value of column a of table t, validating type and length.
func convert(t *table, a *attribute, v any) (any, *apiError) {
	if v == nil {
		return nil, nil
	}
	bad := func() *apiError {
		return errf(http.StatusBadRequest, codeQuery, "Cannot convert the literal '%v' to the expected type '%s'.", v, a.edmName())
	}
	switch a.typ {
	case typeString, typeMemo, typeEntityName:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if a.maxLen > 0 && utf8.RuneCountInString(s) > a.maxLen {
			return nil, errf(http.StatusBadRequest, codeValidation,
				"A validation error occurred.  The length of the '%s' attribute of the '%s' entity exceeded the maximum allowed length of '%d'.", a.logical, t.logical, a.maxLen)
		}
		return s, nil
	case typeGUID:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		id, err := uuid.Parse(s)
		if err != nil || len(s) != 36 {
			return nil, bad()
		}
		return id.String(), nil
	case typeInt, typeBigInt, typePicklist:
		n, ok := v.(json.Number)
		if !ok {
			return nil, bad()
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || (a.typ != typeBigInt && (i > 1<<31-1 || i < -1<<31)) {
			return nil, bad()
		}
		return i, nil
	case typeMoney, typeDouble:
		n, ok := v.(json.Number)
		if !ok {
			return nil, bad()
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return nil, bad()
		}
		return f, nil
	case typeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, bad()
		}
		return b, nil
	case typeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		tm, err := parseDateTime(s)
		if err != nil {
			return nil, bad()
		}
		return tm, nil
	}
	return nil, bad()
}

// parseDateTime accepts the ISO 8601 forms Dataverse accepts: a full
// timestamp with offset, or a date.
func parseDateTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	return t.UTC(), err
}

// appendValue writes v, a value of column a, as JSON.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendJSONString(b, x)
	case lookupValue:
		return appendJSONString(b, x.id)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case bool:
		return strconv.AppendBool(b, x)
	case time.Time:
		b = append(b, '"')
		b = x.UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
		return append(b, '"')
	}
	panic("dataversesim: unexpected value type")
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// canonicalID returns the lower-case form of a GUID, or false.
func canonicalID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return id.String(), true
}

// etag is the weak ETag of a row version.
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// parseETag returns the version in a weak or strong ETag.
func parseETag(s string) (int64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	s = strings.Trim(s, `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

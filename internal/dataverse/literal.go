package dataverse

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Literal renders v as an OData literal: strings quoted with ' doubled,
// GUIDs bare, times in UTC ISO 8601, numbers and booleans as themselves,
// nil as null. It panics on other types, which are programming errors.
func Literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case uuid.UUID:
		return x.String()
	case GUID:
		return strings.ToLower(string(x))
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05Z")
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	panic(fmt.Sprintf("dataverse: no OData literal for %T", v))
}

// GUID marks a string as a GUID, so Literal writes it bare.
type GUID string

// Filterf formats an OData $filter expression, rendering every argument
// with Literal, so values can never change the expression's meaning:
//
//	Filterf("lastname eq %v and modifiedon ge %v", "O'Bryan", since)
//	// lastname eq 'O''Bryan' and modifiedon ge 2026-01-02T03:04:05Z
func Filterf(format string, args ...any) string {
	lits := make([]any, len(args))
	for i, a := range args {
		lits[i] = rawLiteral(Literal(a))
	}
	return fmt.Sprintf(format, lits...)
}

type rawLiteral string

func (r rawLiteral) String() string { return string(r) }

package rowfilter

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
)

// FuzzParse checks that Parse never panics, that an error is a
// *SyntaxError pointing into the filter (or just past it), and that an
// accepted filter's String() parses back to itself with the same columns
// and parameters.
func FuzzParse(f *testing.F) {
	for _, tt := range validFilters {
		f.Add(tt.in)
	}
	for _, s := range []string{"(statecode eq )", "name eq 'O''Brien", "x in (1,", "contains(name)", "@myteams ne x",
		"modifiedon ge 2026-02-30", "a1b2c3d4-e5f6-7890-abcd-ef12345678 eq x", "not(not(a eq 1))or(b eq 2)", "x eq -0", "x eq 0000-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Parse(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): %T %v, want a *SyntaxError", expr, err, err)
			}
			if se.Pos < 1 || se.Pos > max(len(expr), MaxLength)+1 || se.Msg == "" {
				t.Fatalf("Parse(%q): %v points outside the filter", expr, err)
			}
			return
		}
		text := flt.String()
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q, which does not parse: %v", expr, text, err)
		}
		if again.String() != text {
			t.Fatalf("Parse(%q).String() = %q, which parses to %q", expr, text, again.String())
		}
		if !slices.Equal(again.Columns(), flt.Columns()) || !slices.Equal(again.Params(), flt.Params()) {
			t.Fatalf("%q: columns or parameters changed through String()", expr)
		}
		cols := flt.Columns()
		if len(cols) == 0 || !slices.IsSorted(cols) || len(slices.Compact(slices.Clone(cols))) != len(cols) {
			t.Fatalf("%q: Columns() = %q, want sorted, unique and not empty", expr, cols)
		}
		for _, c := range cols {
			if c != strings.ToLower(c) || !isIdent(c) {
				t.Fatalf("%q: column %q is not a lower-case name", expr, c)
			}
		}
	})
}

// matchFilter reads every kind of column, with every kind of condition.
const matchFilter = "statecode eq 0 and (_ownerid_value eq @me or _ownerid_value in @myteams or _ownerid_value eq @mybusinessunit) " +
	"or not contains(name,'obr') and startswith(telephone1,'+1') or endswith(name,'N') " +
	"or modifiedon ge 2026-01-01 or revenue in (1,2.5,null) or creditonhold ne true or name gt 'm' or accountid eq 5a2b8a1e-0000-4000-8000-000000000001"

// FuzzMatch checks that Match never panics on any row, that it accepts
// only valid JSON, that it fails only for a row that is not an object or
// with an Invalid error, and that it gives the same answer for the row
// written out again by encoding/json (escapes, spacing, number forms).
func FuzzMatch(f *testing.F) {
	for _, row := range []string{account, "{}", "null", "[]", `{"statecode":0,"_ownerid_value":"` + me + `"}`,
		`{"name":"O\u0027Brien","telephone1":"+1 555","revenue":2.5}`, `{"name":{"a":[1,{"b":null}]}}`,
		`{"modifiedon":"2026-01-01T00:00:00+14:00","creditonhold":true}`, `{"name":"\xff\xfe","revenue":1e999}`, `{"statecode":0,}`} {
		f.Add([]byte(row))
	}
	flt, err := Parse(matchFilter)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, row []byte) {
		ok, err := flt.Match(row, user)
		if err != nil {
			if ok {
				t.Fatalf("Match(%q) = true with an error", row)
			}
			if _, typed := apperr.As(err); !typed && json.Valid(row) && isObject(row) {
				t.Fatalf("Match(%q): %v for a JSON object", row, err)
			}
			return
		}
		if !json.Valid(row) {
			t.Fatalf("Match(%q) accepted invalid JSON", row)
		}
		again, ok2 := rewrite(row)
		if !ok2 {
			return
		}
		if same, err := flt.Match(again, user); err != nil || same != ok {
			t.Fatalf("Match(%q) = %v, but Match(%q) = %v, %v", row, ok, again, same, err)
		}
	})
}

func isObject(row []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(row, &m) == nil && m != nil
}

// rewrite writes row out again through encoding/json, if that keeps its
// meaning: its keys must differ in more than case (whose last copy wins
// depends on their order) and its numbers fit a float64.
func rewrite(row []byte) ([]byte, bool) {
	var m map[string]any
	if json.Unmarshal(row, &m) != nil {
		return nil, false
	}
	seen := map[string]bool{}
	for k := range m {
		folded := strings.ToLower(k)
		for _, c := range folded {
			if c >= 0x80 {
				return nil, false // encoding/json folds a few non-ASCII letters too (ſ, K)
			}
		}
		if seen[folded] {
			return nil, false
		}
		seen[folded] = true
	}
	out, err := json.Marshal(m)
	return out, err == nil
}

package rowfilter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
)

// validFilters are filters Parse accepts, with their canonical form.
var validFilters = []struct{ in, want string }{
	{"statecode eq 0", "statecode eq 0"},
	{"StateCode EQ 0", "statecode eq 0"},
	{"  statecode\teq\n0  ", "statecode eq 0"},
	{"revenue ne 1000.5", "revenue ne 1000.5"},
	{"revenue gt -1.5e3 and revenue ge +2 and revenue lt 1E5 and revenue le 0.25", "revenue gt -1500 and revenue ge 2 and revenue lt 100000 and revenue le 0.25"},
	{"revenue lt 1e21 or revenue gt 1e-9", "revenue lt 1e21 or revenue gt 1e-9"},
	{"5 lt revenue", "revenue gt 5"},
	{"5 ge revenue", "revenue le 5"},
	{"null eq telephone1", "telephone1 eq null"},
	{"telephone1 ne NULL", "telephone1 ne null"},
	{"creditonhold eq TRUE or creditonhold eq false", "creditonhold eq true or creditonhold eq false"},
	{"name eq 'O''Brien'", "name eq 'O''Brien'"},
	{"name eq ''", "name eq ''"},
	{"name eq 'Zürich (HQ) and more'", "name eq 'Zürich (HQ) and more'"},
	{"_ownerid_value eq A1B2C3D4-0000-4000-8000-00000000000A", "_ownerid_value eq a1b2c3d4-0000-4000-8000-00000000000a"},
	{"_ownerid_value eq '5a2b8a1e-0000-4000-8000-000000000001'", "_ownerid_value eq '5a2b8a1e-0000-4000-8000-000000000001'"},
	{"modifiedon ge 2026-03-01", "modifiedon ge 2026-03-01"},
	{"modifiedon ge 2026-03-01T00:00:00Z", "modifiedon ge 2026-03-01"},
	{"modifiedon lt 2026-03-01T10:00:00+02:00", "modifiedon lt 2026-03-01T08:00:00Z"},
	{"modifiedon lt 2026-03-01T10:00:00.250-01:30", "modifiedon lt 2026-03-01T11:30:00.25Z"},
	{"contains(name,'obr')", "contains(name,'obr')"},
	{"StartsWith( name , 'O''B' )", "startswith(name,'O''B')"},
	{"endswith(emailaddress1,'@example.com')", "endswith(emailaddress1,'@example.com')"},
	{"statecode in (0,1)", "statecode in (0,1)"},
	{"name in ('a', 'B', null)", "name in ('a','B',null)"},
	{"_ownerid_value in (@me, @MyBusinessUnit, 5a2b8a1e-0000-4000-8000-000000000001)", "_ownerid_value in (@me,@mybusinessunit,5a2b8a1e-0000-4000-8000-000000000001)"},
	{"_ownerid_value in @myteams", "_ownerid_value in @myteams"},
	{"_ownerid_value eq @myteams", "_ownerid_value in @myteams"},
	{"@MyTeams eq _ownerid_value", "_ownerid_value in @myteams"},
	{"@me eq _ownerid_value", "_ownerid_value eq @me"},
	{"_owningbusinessunit_value ne @mybusinessunit", "_owningbusinessunit_value ne @mybusinessunit"},
	{"not statecode eq 1", "not (statecode eq 1)"},
	{"not (statecode eq 1)", "not (statecode eq 1)"},
	{"not contains(name,'x')", "not contains(name,'x')"},
	{"not not statecode eq 1", "not (not (statecode eq 1))"},
	{"NOT (a eq 1 OR b eq 2)", "not (a eq 1 or b eq 2)"},
	{"a eq 1 or b eq 2 and c eq 3", "a eq 1 or b eq 2 and c eq 3"},
	{"(a eq 1 or b eq 2) and c eq 3", "(a eq 1 or b eq 2) and c eq 3"},
	{"a eq 1 and (b eq 2 and (c eq 3))", "a eq 1 and b eq 2 and c eq 3"},
	{"((a eq 1) or (b eq 2 or c eq 3))", "a eq 1 or b eq 2 or c eq 3"},
	{"not(a eq 1)and(b eq 2 or c eq 3)", "not (a eq 1) and (b eq 2 or c eq 3)"},
	{"statecode eq 0 and (_ownerid_value eq @me or _ownerid_value in @myteams) and modifiedon ge 2026-01-01",
		"statecode eq 0 and (_ownerid_value eq @me or _ownerid_value in @myteams) and modifiedon ge 2026-01-01"},
	{strings.Repeat("(", MaxDepth) + "a eq 1" + strings.Repeat(")", MaxDepth), "a eq 1"},
	{strings.Repeat("not (", MaxDepth) + "a eq 1" + strings.Repeat(")", MaxDepth), strings.Repeat("not (", MaxDepth) + "a eq 1" + strings.Repeat(")", MaxDepth)},
	{"x in (" + strings.TrimSuffix(strings.Repeat("1,", MaxList), ",") + ")", "x in (" + strings.TrimSuffix(strings.Repeat("1,", MaxList), ",") + ")"},
}

func TestParseRoundTrips(t *testing.T) {
	for _, tt := range validFilters {
		f, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := f.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		again, err := Parse(f.String())
		if err != nil || again.String() != f.String() {
			t.Errorf("String() %q does not parse back to itself: %v, %v", f.String(), again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	nots := strings.Repeat("not a eq 1 and ", 239) + "not a eq 1" // 3,595 bytes, 4,075 rendered
	longList := "x in (" + strings.TrimSuffix(strings.Repeat("1,", MaxList+1), ",") + ")"
	tests := []struct {
		in  string
		pos int
		msg string
	}{
		// nothing, or not a condition
		{"", 1, "expected a condition (e.g. statecode eq 0), found the end of the filter"},
		{"   ", 4, "expected a condition (e.g. statecode eq 0), found the end of the filter"},
		{"and a eq 1", 1, `expected a condition (e.g. statecode eq 0), found "and"`},
		{"a eq 1 and", 11, "expected a condition (e.g. statecode eq 0), found the end of the filter"},
		{"a eq 1 b eq 2", 8, `expected "and", "or" or the end of the filter, found "b"`},
		// operators
		{"name like 'x'", 6, `unknown operator "like"; the operators are eq, ne, gt, ge, lt, le and in`},
		{"name = 'x'", 6, `'=' is not an operator; use eq, ne, gt, ge, lt or le`},
		{"statecode", 10, `expected an operator (eq, ne, gt, ge, lt, le or in) after "statecode", found the end of the filter`},
		{"statecode and a eq 1", 11, `expected an operator (eq, ne, gt, ge, lt, le or in) after "statecode", found "and"`},
		{"statecode 1", 11, `expected an operator (eq, ne, gt, ge, lt, le or in) after "statecode", found "1"`},
		// values
		{"(statecode eq )", 15, `expected a value after "eq", found ")"`},
		{"statecode eq", 13, `expected a value after "eq", found the end of the filter`},
		{"statecode eq and", 14, `expected a value after "eq", found "and"`},
		{"a eq b", 6, `"eq" compares two columns (a and b); compare a column with a value`},
		{"1 eq 2", 1, `"eq" compares two values ("1" and "2"); one side must be a column`},
		{"revenue gt null", 9, `"gt" cannot compare with null; use eq or ne`},
		{"creditonhold lt true", 14, `"lt" cannot compare with true or false; use eq or ne`},
		{"_ownerid_value ge 5a2b8a1e-0000-4000-8000-000000000001", 16, `"ge" cannot compare with a GUID; use eq or ne`},
		{"@me le _ownerid_value", 5, `"le" cannot compare with @me (a GUID); use eq or ne`},
		{`name eq "x"`, 9, `unexpected '"': write texts in single quotes, 'like this'`},
		{"x eq 12abc", 6, `"12abc" is not a number, GUID or date-time`},
		{"x eq 1.", 6, `"1." is not a number, GUID or date-time`},
		{"x eq 1e999", 6, `"1e999" is out of range for a number`},
		{"account.name eq 'x'", 1, `"account.name" is not a column name: use letters, digits and _ (paths into related tables are not supported)`},
		{"x eq $y", 6, `unexpected character '$'`},
		// parentheses
		{"(a eq 1", 8, `expected "and", "or" or the ")" closing the "(" at position 1, found the end of the filter`},
		{"((a eq 1) or b eq 2", 20, `expected "and", "or" or the ")" closing the "(" at position 1, found the end of the filter`},
		{"a eq 1)", 7, `this ")" has no "(" before it`},
		{"()", 2, `expected a condition (e.g. statecode eq 0), found ")"`},
		// texts
		{"name eq 'O''Brien", 9, `the text that starts here has no closing ' (write a quote inside a text as '')`},
		{"name eq 'O'Brien'", 12, `expected "and", "or" or the end of the filter, found "Brien"`},
		// GUIDs
		{"_ownerid_value eq a1b2c3d4-e5f6-7890-abcd-ef12345678", 19, `"a1b2c3d4-e5f6-7890-abcd-ef12345678" is not a GUID: write 8-4-4-4-12 hex digits`},
		{"_ownerid_value eq a1b2c3d4-e5f6-7890-abcd-ef123456789g", 19, "is not a GUID"},
		{"_ownerid_value eq {a1b2c3d4-e5f6-7890-abcd-ef1234567890}", 19, "unexpected '{': write GUIDs bare, without braces"},
		// dates
		{"modifiedon ge 2026-02-30", 15, `"2026-02-30" is not a date-time: write RFC 3339 with Z or an offset`},
		{"modifiedon ge 2026-03-01T10:00:00", 15, `"2026-03-01T10:00:00" is not a date-time`},
		{"modifiedon ge 2026-3-1", 15, `"2026-3-1" is not a date-time`},
		{"modifiedon ge 0000-01-01T00:30:00+01:00", 15, "from year 0001 to 9999"},
		// functions
		{"contains(name)", 14, `expected "," and a text after the column in contains(), found ")"`},
		{"contains('x',name)", 10, `expected a column as the first argument of contains(), found "'x'"`},
		{"startswith(name,5)", 17, `expected a text in single quotes as the second argument of startswith(), found "5"`},
		{"endswith(name,'a','b')", 18, `expected ")" after the two arguments of endswith(), found ","`},
		{"substringof('x',name)", 1, `unknown function "substringof"; the functions are contains, startswith and endswith`},
		{"contains(name,'x') eq true", 20, `expected "and", "or" or the end of the filter, found "eq"`},
		// in and parameters
		{"x in ()", 7, `expected a value in the list of "in", found ")"`},
		{"x in (1 2)", 9, `expected "," or the ")" closing the list at position 6, found "2"`},
		{"x in (1,", 9, `expected a value in the list of "in", found the end of the filter`},
		{"x in 1", 6, `expected a list in parentheses or @myteams after "in", found "1"`},
		{"x in @me", 6, `expected a list in parentheses or @myteams after "in", found "@me"`},
		{"1 in (1)", 1, `"in" needs a column on its left, found "1"`},
		{"@myteams in (1)", 1, `"in" needs a column on its left, found "@myteams"`},
		{"_ownerid_value ne @myteams", 19, `@myteams is a list of teams; write "_ownerid_value in @myteams" (or eq @myteams)`},
		{"@myteams gt _ownerid_value", 1, `@myteams is a list of teams`},
		{"_ownerid_value in (@me,@myteams)", 24, `@myteams is a list of its own; write "_ownerid_value in @myteams" as a separate condition`},
		{"_ownerid_value eq @you", 19, `unknown parameter "@you"; the parameters are @me, @myteams and @mybusinessunit`},
		{"_ownerid_value eq @", 19, `expected a parameter name after "@"`},
		// limits
		{strings.Repeat("(", MaxDepth+1) + "a eq 1" + strings.Repeat(")", MaxDepth+1), MaxDepth + 1, "the filter nests parentheses and \"not\" more than 32 deep here; simplify it"},
		{strings.Repeat("not ", MaxDepth+1) + "a eq 1", 4*MaxDepth + 1, "more than 32 deep"},
		{strings.Repeat("(", 100000), MaxLength + 1, "the filter is 100000 bytes long; the limit is 4000"},
		{longList, len(longList) - 1, "the list of \"in\" has more than 1000 values; split it with or"},
		{nots, len(nots) + 1, "written out in canonical form (single spaces, parentheses after not), the filter is 4075 bytes long; the limit is 4000"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%.60q) = %v, want a *SyntaxError", tt.in, err)
			continue
		}
		if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Parse(%.60q):\n got position %d: %s\nwant position %d: %s", tt.in, se.Pos, se.Msg, tt.pos, tt.msg)
		}
		if want := fmt.Sprintf("position %d: %s", se.Pos, se.Msg); err.Error() != want {
			t.Errorf("Error() = %q, want %q", err.Error(), want)
		}
		if apperr.KindOf(err) != apperr.Invalid {
			t.Errorf("Parse(%.60q): kind %q, want invalid", tt.in, apperr.KindOf(err))
		}
	}
}

func TestColumnsAndParams(t *testing.T) {
	tests := []struct {
		in             string
		columns, param []string
	}{
		{"statecode eq 0", []string{"statecode"}, nil},
		{"StateCode eq 0 and _OwnerId_Value eq @me or statecode eq 1", []string{"_ownerid_value", "statecode"}, []string{"@me"}},
		{"_ownerid_value in @myteams or _ownerid_value eq @me or _owningbusinessunit_value eq @MyBusinessUnit",
			[]string{"_ownerid_value", "_owningbusinessunit_value"}, []string{"@me", "@mybusinessunit", "@myteams"}},
		{"not contains(name,'x') and x in (1,@mybusinessunit) and @myteams eq y", []string{"name", "x", "y"}, []string{"@mybusinessunit", "@myteams"}},
	}
	for _, tt := range tests {
		f, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Columns(); !slices.Equal(got, tt.columns) {
			t.Errorf("Parse(%q).Columns() = %q, want %q", tt.in, got, tt.columns)
		}
		if got := f.Params(); !slices.Equal(got, tt.param) {
			t.Errorf("Parse(%q).Params() = %q, want %q", tt.in, got, tt.param)
		}
	}
	f, _ := Parse("b eq 1 and a eq 2")
	f.Columns()[0] = "changed"
	if f.Columns()[0] != "a" {
		t.Error("Columns() shares its slice with the filter")
	}
}

func TestNilFilter(t *testing.T) {
	var f *Filter
	if ok, err := f.Match([]byte(`{}`), Params{}); !ok || err != nil {
		t.Errorf("a nil filter: Match = %v, %v; want it to keep every row", ok, err)
	}
	if f.String() != "" || f.Columns() != nil || f.Params() != nil {
		t.Error("a nil filter has text, columns or parameters")
	}
}

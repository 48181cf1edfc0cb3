// Package rowfilter keeps the rows of a user's offline profile: it parses a
// filter written in a subset of OData v4 $filter and evaluates it on rows
// as the Dataverse Web API returns them. Dataverse refuses $filter together
// with change tracking, so the sync reads every row of a set and decides
// here, in the connector, which ones a user's mirror gets.
//
// # Grammar
//
// Exactly this is accepted (ABNF-like; the limits below apply):
//
//	filter    = or
//	or        = and *( "or" and )
//	and       = unary *( "and" unary )
//	unary     = "not" unary / "(" or ")" / condition
//	condition = column op value / value op column
//	          / column "eq" "@myteams" / "@myteams" "eq" column
//	          / column "in" "(" item *( "," item ) ")"
//	          / column "in" "@myteams"
//	          / fn "(" column "," string ")"
//	op        = "eq" / "ne" / "gt" / "ge" / "lt" / "le"
//	fn        = "contains" / "startswith" / "endswith"
//	value     = item
//	item      = literal / "@me" / "@mybusinessunit"
//	literal   = "null" / "true" / "false" / number / string / guid / datetime
//	column    = [A-Za-z_][A-Za-z0-9_]*
//	number    = ["+" / "-"] 1*DIGIT ["." 1*DIGIT] [("e" / "E") ["+" / "-"] 1*DIGIT]
//	string    = "'" *( any byte but "'" / "''" ) "'"    ; '' is one quote
//	guid      = 8HEX "-" 4HEX "-" 4HEX "-" 4HEX "-" 12HEX
//	datetime  = RFC 3339 date-time with Z or an offset   ; 2026-03-01T10:00:00Z
//	          / full-date                                ; 2026-03-01, midnight UTC
//
// Keywords (and, or, not, in, the operators, null, true, false) cannot
// name a column; they, function and parameter names are case-insensitive.
// Column names are read in lower case, as Dataverse spells its logical
// names. Spaces, tabs and line breaks separate tokens; a word (a column
// name, keyword, number, GUID or date-time) is read as one run of
// letters, digits and _ - + . : so "1and" is refused, not read as "1 and".
// A number must fit a float64; a date-time is refused outside the years
// 0001 to 9999 in UTC. not binds tighter than and, which binds tighter
// than or; not applies to the condition or parenthesized group after it,
// so "not statecode eq 1" is "not (statecode eq 1)". The ordering
// operators (gt, ge, lt, le) do not take null, true, false, GUIDs or
// parameters.
//
// Limits: a filter is at most 4,000 bytes (also once rendered by String),
// nests parentheses and not at most 32 deep (a "(" right after not counts
// with it), and an in list holds at most 1,000 values.
//
// # Meaning
//
// Rows carry no types, so a value is compared with the row's JSON value:
//   - text is compared case-insensitively, as every Dataverse collation
//     does: eq, ne, the ordering operators and contains, startswith and
//     endswith (Unicode simple case folding). It is compared
//     accent-sensitively, unlike the _AI collations of most languages
//     (English among them) where cafe equals café: write the accents as
//     the data has them, or list both spellings with in. Ordering compares
//     lower-cased code points, not the collation's order; prefer eq, in
//     and the functions for text;
//   - numbers are compared as float64 (integers beyond 2^53 lose precision);
//   - GUIDs equal the text of a lookup (_ownerid_value) in any case;
//   - date-times are compared by instant with the row's RFC 3339 text (a
//     date-only column's 2026-03-01 is midnight UTC);
//   - a value of another type than the row's is unequal: eq is false, ne is
//     true, gt, ge, lt and le are false (statecode eq '0' is false for 0);
//   - a row's keys match the column names in any case, and a missing
//     column is null. "x eq null" is true for null, "x ne null" for
//     anything else, and an ordering comparison with null is false;
//   - every condition is true or false (two-valued logic), so
//     "not (revenue gt 5)" keeps rows without revenue, which Dynamics would
//     leave out; write "revenue le 5" to leave them out here too;
//   - @me is the user's systemuserid, @mybusinessunit their business unit,
//     @myteams the teams they are a member of ("x eq @myteams" means "x in
//     @myteams"). A parameter without a value for the user makes every
//     comparison with it false, ne too (and "not" of it true);
//   - contains, startswith and endswith are false on null, and an error on
//     a number or a boolean; a column holding a JSON object or array (an
//     expanded record) is an error in any condition. Errors name the column
//     and the condition, never a row's value.
package rowfilter

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/pitcher/connector/internal/apperr"
)

// The limits keep a hostile or mistaken filter from costing more than a
// few microseconds per row or overflowing the stack.
const (
	MaxLength = 4000 // bytes of the filter, as written and as rendered
	MaxDepth  = 32   // nesting of parentheses and not
	MaxList   = 1000 // values in one in list
)

// Filter is a parsed filter. It is immutable and safe for concurrent use.
// A nil *Filter keeps every row.
type Filter struct {
	root    node
	columns []string
	params  []string
	text    string

	rowOnce sync.Once
	row     reflect.Type // a struct of the columns, built on first Match
}

// Params are one user's values of the filter's parameters: GUIDs, in any
// case. An empty value is unknown and matches nothing.
type Params struct {
	Me             string   // @me: the user's systemuserid
	MyTeams        []string // @myteams: the teams the user is a member of
	MyBusinessUnit string   // @mybusinessunit: the user's business unit
}

// SyntaxError is a filter that cannot be parsed: where (a 1-based byte
// offset), what was found there and what was expected.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("position %d: %s", e.Pos, e.Msg) }

// Class makes a syntax error Invalid for apperr.ClassOf: the admin fixes
// the filter.
func (e *SyntaxError) Class() apperr.Class { return apperr.Class{Kind: apperr.Invalid} }

// Parse parses expr (see the package documentation for the grammar). An
// error is a *SyntaxError.
func Parse(expr string) (*Filter, error) {
	if len(expr) > MaxLength {
		return nil, &SyntaxError{Pos: MaxLength + 1, Msg: fmt.Sprintf("the filter is %d bytes long; the limit is %d", len(expr), MaxLength)}
	}
	root, err := parse(expr)
	if err != nil {
		return nil, err
	}
	f := &Filter{root: root}
	f.columns, f.params = collect(root)
	var b strings.Builder
	root.write(&b)
	f.text = b.String()
	if len(f.text) > MaxLength {
		// Only a filter near the limit that leaves out optional spaces gets
		// here; refusing it keeps String() parseable.
		return nil, &SyntaxError{Pos: len(expr) + 1, Msg: fmt.Sprintf("written out in canonical form (single spaces, parentheses after not), the filter is %d bytes long; the limit is %d", len(f.text), MaxLength)}
	}
	return f, nil
}

// Columns lists the row columns the filter reads: lower case, sorted,
// unique. The sync must $select them.
func (f *Filter) Columns() []string {
	if f == nil {
		return nil
	}
	return slices.Clone(f.columns)
}

// Params lists the parameters the filter uses, sorted: any of "@me",
// "@mybusinessunit", "@myteams", so that the sync looks up only those
// (a user's teams cost a request).
func (f *Filter) Params() []string {
	if f == nil {
		return nil
	}
	return slices.Clone(f.params)
}

// String renders the filter in canonical form, for logs and diagnostics:
// keywords, columns and GUIDs in lower case, single spaces, the column
// left of its operator ("5 lt x" is "x gt 5"), "x in @myteams" for
// "x eq @myteams", what not applies to in parentheses, only the
// parentheses precedence needs, numbers without exponent unless very
// large or small, date-times in UTC (a date at midnight UTC). It parses
// back to itself.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

// collect lists the columns and parameters under n, sorted and unique, and
// numbers each column reference by its place in the columns.
func collect(n node) (columns, params []string) {
	var refs []*colRef
	walk(n, func(leaf node) {
		switch x := leaf.(type) {
		case *cmpNode:
			refs = append(refs, &x.colRef)
			params = appendParam(params, x.val)
		case *inNode:
			refs = append(refs, &x.colRef)
			if x.teams {
				params = append(params, "@myteams")
			}
			for _, v := range x.vals {
				params = appendParam(params, v)
			}
		case *funcNode:
			refs = append(refs, &x.colRef)
		}
	})
	for _, r := range refs {
		columns = append(columns, r.name)
	}
	slices.Sort(columns)
	columns = slices.Compact(columns)
	for _, r := range refs {
		r.idx, _ = slices.BinarySearch(columns, r.name)
	}
	slices.Sort(params)
	return columns, slices.Compact(params)
}

func appendParam(params []string, v value) []string {
	switch v.kind {
	case vMe:
		return append(params, "@me")
	case vBusinessUnit:
		return append(params, "@mybusinessunit")
	}
	return params
}

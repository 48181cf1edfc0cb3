package rowfilter

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pitcher/connector/internal/apperr"
)

// Match reports whether row, a JSON object as Dataverse returns it, passes
// the filter for the user whose parameters are p. It reads only the
// filter's Columns, which the read must $select.
//
// It fails when the row is not a JSON object (a plain error: Dataverse or
// the caller is at fault), or when a condition the row reaches does not
// apply to what its column holds, such as contains() on a number or any
// condition on a JSON object: an apperr Invalid error naming the condition
// and the column, for the admin to fix the filter. and and or stop at the
// first term that decides, so a condition behind it may fail only on
// some rows.
func (f *Filter) Match(row []byte, p Params) (bool, error) {
	if f == nil || f.root == nil {
		return true, nil
	}
	r, err := f.decode(row)
	if err != nil {
		return false, err
	}
	e := env{row: r, p: p}
	return e.eval(f.root)
}

// decode reads the filter's columns of row, and only those, into a struct
// with one cell per column: encoding/json skips the other fields without
// allocating, and matches the names case-insensitively. BenchmarkDecode
// measured it twice as fast as a map of raw values, four times as fast as
// the decoder's tokens, with 7 allocations to their 45 and 158.
func (f *Filter) decode(row []byte) (reflect.Value, error) {
	f.rowOnce.Do(func() { f.row = rowType(f.columns) })
	if trimmed := bytes.TrimLeft(row, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return reflect.Value{}, errors.New("rowfilter: the row is not a JSON object")
	}
	r := reflect.New(f.row)
	if err := json.Unmarshal(row, r.Interface()); err != nil {
		return reflect.Value{}, fmt.Errorf("rowfilter: the row is not a JSON object: %s", apperr.DescribeJSON(err, ""))
	}
	return r.Elem(), nil
}

var cellType = reflect.TypeFor[cell]()

// rowType is a struct of one cell per column, the field named by the
// column's JSON name.
func rowType(columns []string) reflect.Type {
	fields := make([]reflect.StructField, len(columns))
	for i, c := range columns {
		fields[i] = reflect.StructField{Name: "C" + strconv.Itoa(i), Type: cellType, Tag: reflect.StructTag(`json:"` + c + `"`)}
	}
	return reflect.StructOf(fields)
}

type cellKind uint8

const (
	cNull      cellKind = iota // null or missing
	cBool                      // true or false
	cNumber                    // any JSON number
	cString                    // text: also GUIDs and date-times
	cComposite                 // a JSON object or array
)

var cellKinds = [...]string{"null", "a boolean", "a number", "text", "a JSON object or array"}

// cell is one column's JSON value.
type cell struct {
	kind cellKind
	b    bool
	num  float64
	str  string
}

func (c *cell) UnmarshalJSON(data []byte) error {
	if len(data) == 0 {
		return errors.New("rowfilter: empty JSON value")
	}
	switch data[0] {
	case 'n':
		*c = cell{}
	case 't', 'f':
		*c = cell{kind: cBool, b: data[0] == 't'}
	case '"':
		s, err := unquote(data)
		if err != nil {
			return err
		}
		*c = cell{kind: cString, str: s}
	case '{', '[':
		*c = cell{kind: cComposite}
	default:
		n, err := strconv.ParseFloat(string(data), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return err
		}
		*c = cell{kind: cNumber, num: n}
	}
	return nil
}

// unquote decodes a JSON string, without encoding/json's machinery when
// it holds no escapes (Dataverse's texts rarely do).
func unquote(data []byte) (string, error) {
	inner := data[1 : len(data)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(data, &s)
	return s, err
}

// env is what conditions are evaluated against: one decoded row, one
// user's parameters.
type env struct {
	row reflect.Value
	p   Params
}

func (e *env) cell(r colRef) *cell { return e.row.Field(r.idx).Addr().Interface().(*cell) }

// eval evaluates n. It is a type switch rather than a method of node so
// that env stays on the stack: Match allocates only to decode the row.
func (e *env) eval(n node) (bool, error) {
	switch x := n.(type) {
	case andNode:
		for _, c := range x {
			if ok, err := e.eval(c); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case orNode:
		for _, c := range x {
			if ok, err := e.eval(c); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case notNode:
		ok, err := e.eval(x.x)
		return !ok && err == nil, err
	case *cmpNode:
		return e.compare(x)
	case *inNode:
		return e.in(x)
	case *funcNode:
		return e.call(x)
	}
	panic(fmt.Sprintf("rowfilter: no evaluation of %T", n))
}

func (e *env) compare(n *cmpNode) (bool, error) {
	c := e.cell(n.colRef)
	if c.kind == cComposite {
		return false, typeError(n, c, n.name)
	}
	return compare(c, n.op, n.val, &e.p), nil
}

func (e *env) in(n *inNode) (bool, error) {
	c := e.cell(n.colRef)
	if c.kind == cComposite {
		return false, typeError(n, c, n.name)
	}
	if n.teams {
		for _, team := range e.p.MyTeams {
			if team != "" && c.kind == cString && strings.EqualFold(c.str, team) {
				return true, nil
			}
		}
		return false, nil
	}
	for _, v := range n.vals {
		if compare(c, opEq, v, &e.p) {
			return true, nil
		}
	}
	return false, nil
}

func (e *env) call(n *funcNode) (bool, error) {
	c := e.cell(n.colRef)
	switch c.kind {
	case cNull:
		return false, nil
	case cString:
	default:
		return false, typeError(n, c, n.name)
	}
	switch n.fn {
	case fnStartsWith:
		return hasPrefixFold(c.str, n.text), nil
	case fnEndsWith:
		return hasSuffixFold(c.str, n.text), nil
	}
	return containsFold(c.str, n.text), nil
}

// typeError says which condition does not apply to what its column holds,
// without the row's value (it may be a customer's data).
func typeError(n node, c *cell, col string) error {
	var b strings.Builder
	n.write(&b)
	return apperr.E(apperr.Invalid, "filter condition %s: column %s holds %s, which it cannot compare", shorten(b.String()), col, cellKinds[c.kind])
}

// shorten cuts a condition's text for a message, keeping it whole runes.
func shorten(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// compare is one comparison of a row's value with a filter's value, with
// the meaning the package documentation gives.
func compare(c *cell, o op, v value, p *Params) bool {
	switch v.kind {
	case vNull:
		return (c.kind == cNull) == (o == opEq)
	case vMe:
		return compareParam(c, o, p.Me)
	case vBusinessUnit:
		return compareParam(c, o, p.MyBusinessUnit)
	}
	order, same := 0, false
	switch {
	case c.kind == cNull:
	case v.kind == vBool && c.kind == cBool:
		order, same = boolCompare(c.b, v.b), true
	case v.kind == vNumber && c.kind == cNumber:
		order, same = cmp.Compare(c.num, v.num), true
	case v.kind == vString && c.kind == cString:
		order, same = compareFold(c.str, v.str), true
	case v.kind == vGUID && c.kind == cString:
		if same = true; !strings.EqualFold(c.str, v.str) {
			order = 1 // GUIDs are only compared with eq and ne
		}
	case v.kind == vDate && c.kind == cString:
		if t, ok := parseRowTime(c.str); ok {
			order, same = t.Compare(v.t), true
		}
	}
	if !same {
		return o == opNe
	}
	return holds(o, order)
}

// compareParam compares with a parameter's value, false when the user has
// none.
func compareParam(c *cell, o op, param string) bool {
	if param == "" {
		return false
	}
	eq := c.kind == cString && strings.EqualFold(c.str, param)
	return eq == (o == opEq)
}

// holds reports whether o holds for operands that compare as order.
func holds(o op, order int) bool {
	switch o {
	case opEq:
		return order == 0
	case opNe:
		return order != 0
	case opGt:
		return order > 0
	case opGe:
		return order >= 0
	case opLt:
		return order < 0
	}
	return order <= 0
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// parseRowTime reads a row's date-time (RFC 3339) or date-only column
// (2026-03-01, midnight UTC); other text is not a time.
func parseRowTime(s string) (time.Time, bool) {
	if len(s) < len(time.DateOnly) || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	layout := time.RFC3339
	if len(s) == len(time.DateOnly) {
		layout = time.DateOnly
	}
	t, err := time.Parse(layout, s)
	return t, err == nil
}

// equalFoldRune reports whether a and b are the same letter in any case,
// as strings.EqualFold compares them.
func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	if a > b {
		a, b = b, a
	}
	if b < utf8.RuneSelf {
		return 'A' <= a && a <= 'Z' && b == a+'a'-'A'
	}
	r := unicode.SimpleFold(a)
	for r != a && r < b {
		r = unicode.SimpleFold(r)
	}
	return r == b
}

// compareFold orders a and b by their lower-cased code points; it is 0
// exactly when strings.EqualFold(a, b).
func compareFold(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		a, b = a[na:], b[nb:]
		if equalFoldRune(ra, rb) {
			continue
		}
		if la, lb := unicode.ToLower(ra), unicode.ToLower(rb); la != lb {
			return cmp.Compare(la, lb)
		}
		return cmp.Compare(ra, rb)
	}
	return cmp.Compare(len(a), len(b))
}

// hasPrefixFold is strings.HasPrefix, case-insensitive.
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		rs, ns := utf8.DecodeRuneInString(s)
		rp, np := utf8.DecodeRuneInString(prefix)
		if !equalFoldRune(rs, rp) {
			return false
		}
		s, prefix = s[ns:], prefix[np:]
	}
	return true
}

// hasSuffixFold is strings.HasSuffix, case-insensitive. Simple case
// folding maps one rune to one rune, so the suffix has as many runes as
// the text it equals.
func hasSuffixFold(s, suffix string) bool {
	start := len(s)
	for range utf8.RuneCountInString(suffix) {
		if start == 0 {
			return false
		}
		_, n := utf8.DecodeLastRuneInString(s[:start])
		start -= n
	}
	return strings.EqualFold(s[start:], suffix)
}

// containsFold is strings.Contains, case-insensitive.
func containsFold(s, sub string) bool {
	for {
		if hasPrefixFold(s, sub) {
			return true
		}
		if s == "" {
			return false
		}
		_, n := utf8.DecodeRuneInString(s)
		s = s[n:]
	}
}

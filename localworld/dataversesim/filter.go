package dataversesim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// filterNode is a boolean $filter expression evaluated against one row.
type filterNode func(r *row) bool

// operand is one side of a comparison: a column (possibly through a
// single-valued navigation) or a literal.
type operand struct {
	attr *attribute       // nil for a literal
	get  func(r *row) any // column value
	lit  token            // literal token
	val  any              // literal converted to attr's type
	null bool             // the literal null
	edm  string           // type name for error messages
}

type filterParser struct {
	src    string
	toks   []token
	pos    int
	t      *table
	tables map[string]*table
}

// parseFilter compiles a $filter expression for table t.
func parseFilter(src string, t *table, tables map[string]*table) (filterNode, *apiError) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: src, toks: toks, t: t, tables: tables}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, p.syntax()
	}
	return n, nil
}

func (p *filterParser) peek() token { return p.toks[p.pos] }
func (p *filterParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *filterParser) syntax() *apiError {
	return errf(http.StatusBadRequest, codeQuery, "Syntax error at position %d in '%s'.", p.peek().pos, p.src)
}

func (p *filterParser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tWord && t.text == w
}

func (p *filterParser) or() (filterNode, *apiError) {
	left, err := p.and()
	for err == nil && p.isWord("or") {
		p.next()
		var right filterNode
		if right, err = p.and(); err == nil {
			l := left
			left = func(r *row) bool { return l(r) || right(r) }
		}
	}
	return left, err
}

func (p *filterParser) and() (filterNode, *apiError) {
	left, err := p.unary()
	for err == nil && p.isWord("and") {
		p.next()
		var right filterNode
		if right, err = p.unary(); err == nil {
			l := left
			left = func(r *row) bool { return l(r) && right(r) }
		}
	}
	return left, err
}

func (p *filterParser) unary() (filterNode, *apiError) {
	if p.isWord("not") {
		p.next()
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(r *row) bool { return !n(r) }, nil
	}
	if p.peek().kind == tLParen {
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, p.syntax()
		}
		return n, nil
	}
	if p.peek().kind == tWord && p.toks[p.pos+1].kind == tLParen {
		return p.function()
	}
	return p.comparison()
}

var comparators = map[string]func(c int) bool{
	"eq": func(c int) bool { return c == 0 }, "ne": func(c int) bool { return c != 0 },
	"gt": func(c int) bool { return c > 0 }, "ge": func(c int) bool { return c >= 0 },
	"lt": func(c int) bool { return c < 0 }, "le": func(c int) bool { return c <= 0 },
}

func (p *filterParser) comparison() (filterNode, *apiError) {
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	test, ok := comparators[opTok.text]
	if opTok.kind != tWord || !ok {
		p.pos--
		return nil, p.syntax()
	}
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	if left.attr == nil && right.attr == nil {
		return nil, p.syntax()
	}
	if left.attr == nil {
		left, right = right, left
		inv := map[string]string{"gt": "lt", "lt": "gt", "ge": "le", "le": "ge", "eq": "eq", "ne": "ne"}[opTok.text]
		test = comparators[inv]
	}
	if right.attr == nil {
		if err := p.typeLiteral(&right, left.attr, opTok.text); err != nil {
			return nil, err
		}
	}
	op := opTok.text
	return func(r *row) bool {
		a := left.get(r)
		var b any
		if right.attr != nil {
			b = right.get(r)
		} else {
			b = right.val
		}
		if a == nil || b == nil {
			switch op {
			case "eq":
				return a == nil && b == nil
			case "ne":
				return (a == nil) != (b == nil)
			}
			return false
		}
		c, ok := compareValues(a, b)
		return ok && test(c)
	}, nil
}

// operand reads a column path or a literal.
func (p *filterParser) operand() (operand, *apiError) {
	tok := p.next()
	switch tok.kind {
	case tString:
		return operand{lit: tok, edm: "Edm.String"}, nil
	case tWord:
	default:
		p.pos--
		return operand{}, p.syntax()
	}
	w := tok.text
	switch {
	case w == "null":
		return operand{lit: tok, null: true, edm: "null"}, nil
	case w == "true" || w == "false":
		return operand{lit: tok, edm: "Edm.Boolean"}, nil
	case w[0] == '-' || (w[0] >= '0' && w[0] <= '9') || isGUIDLiteral(w):
		return operand{lit: tok, edm: literalEdm(w)}, nil
	}
	return p.column(w)
}

func isGUIDLiteral(w string) bool { _, ok := canonicalID(w); return ok }

func literalEdm(w string) string {
	switch {
	case isGUIDLiteral(w):
		return "Edm.Guid"
	case strings.ContainsAny(w, "T:"):
		return "Edm.DateTimeOffset"
	case strings.ContainsAny(w, ".eE"):
		return "Edm.Decimal"
	}
	return "Edm.Int32"
}

// column resolves "name" or "nav/name".
func (p *filterParser) column(path string) (operand, *apiError) {
	nav, name, through := strings.Cut(path, "/")
	if !through {
		i, ok := p.t.attr(path)
		if !ok || !p.t.attrs[i].isColumn() {
			return operand{}, errNoProperty(p.t, path)
		}
		a := p.t.attrs[i]
		return operand{attr: a, get: func(r *row) any { return r.vals[i] }, edm: a.edmName()}, nil
	}
	n, ok := p.t.navs[nav]
	if !ok {
		return operand{}, errNoProperty(p.t, nav)
	}
	if n.target == "" {
		return operand{}, errf(http.StatusNotImplemented, codeQuery, "The simulator does not filter through '%s', whose target may be a user or a team: compare _%s_value.", nav, nav)
	}
	target := p.tables[n.target]
	j, ok := target.attr(name)
	if !ok {
		return operand{}, errNoProperty(target, name)
	}
	a := target.attrs[j]
	get := func(r *row) any {
		lv, ok := r.vals[n.attr].(lookupValue)
		if !ok || lv.set != n.target {
			return nil
		}
		if tr := target.rows[lv.id]; tr != nil {
			return tr.vals[j]
		}
		return nil
	}
	return operand{attr: a, get: get, edm: a.edmName()}, nil
}

// typeLiteral converts a literal to the type of the column it is compared with.
func (p *filterParser) typeLiteral(o *operand, a *attribute, op string) *apiError {
	if o.null {
		return nil
	}
	mismatch := errf(http.StatusBadRequest, codeQuery,
		"A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", a.edmName(), o.edm, opKindName(op))
	v, ok := literalValue(o.lit, a)
	if !ok {
		return mismatch
	}
	o.val = v
	return nil
}

// literalValue converts a literal token to a stored value of a's type.
func literalValue(tok token, a *attribute) (any, bool) {
	s := tok.text
	switch a.typ {
	case typeString, typeMemo, typeEntityName:
		return s, tok.kind == tString || tok.kind == tDString
	case typeGUID, typeLookup:
		id, ok := canonicalID(s)
		return id, ok
	case typeInt, typeBigInt, typePicklist:
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && tok.kind != tString
	case typeMoney, typeDouble:
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil && tok.kind != tString
	case typeBool:
		return s == "true", tok.kind == tWord && (s == "true" || s == "false")
	case typeDateTime:
		t, err := parseDateTime(s)
		return t, err == nil
	}
	return nil, false
}

func opKindName(op string) string {
	return map[string]string{"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan", "le": "LessThanOrEqual"}[op]
}

// compareValues orders two non-nil stored values of the same column type.
func compareValues(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			if lv, isLookup := b.(lookupValue); isLookup {
				y, ok = lv.id, true
			}
		}
		return strings.Compare(strings.ToLower(x), strings.ToLower(y)), ok
	case lookupValue:
		y, ok := b.(string)
		if lv, isLookup := b.(lookupValue); isLookup {
			y, ok = lv.id, true
		}
		return strings.Compare(x.id, y), ok
	case int64:
		switch y := b.(type) {
		case int64:
			return cmpOrdered(x, y), true
		case float64:
			return cmpOrdered(float64(x), y), true
		}
	case float64:
		switch y := b.(type) {
		case float64:
			return cmpOrdered(x, y), true
		case int64:
			return cmpOrdered(x, float64(y)), true
		}
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case x == y:
			return 0, true
		case !x:
			return -1, true
		}
		return 1, true
	case time.Time:
		y, ok := b.(time.Time)
		return x.Compare(y), ok
	}
	return 0, false
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

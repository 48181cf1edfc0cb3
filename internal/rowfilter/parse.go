package rowfilter

import (
	"strings"
)

// parser is a recursive descent over the grammar of the package comment,
// one token ahead. Its recursion is bounded by MaxDepth.
type parser struct {
	lx    lexer
	tok   token
	depth int
}

func parse(expr string) (node, error) {
	p := &parser{lx: lexer{src: expr}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tEOF:
		return n, nil
	case tRParen:
		return nil, errorf(p.tok.pos, "this \")\" has no \"(\" before it")
	}
	return nil, p.expected("\"and\", \"or\" or the end of the filter")
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	p.tok = t
	return err
}

// is reports whether the current token is the keyword kw.
func (p *parser) is(kw string) bool {
	return p.tok.kind == tWord && strings.EqualFold(p.tok.text, kw)
}

func (p *parser) expected(what string) error {
	return errorf(p.tok.pos, "expected %s, found %s", what, found(p.tok))
}

func found(t token) string {
	if t.kind == tEOF {
		return "the end of the filter"
	}
	return quote(t.text)
}

func (p *parser) or() (node, error) { return chain[orNode](p, "or", p.and) }

func (p *parser) and() (node, error) { return chain[andNode](p, "and", p.unary) }

// chain parses terms of next joined by the keyword word into a T (an
// orNode or andNode), flattening nested ones; a single term stands alone.
func chain[T interface {
	~[]node
	node
}](p *parser, word string, next func() (node, error)) (node, error) {
	var terms T
	for {
		n, err := next()
		if err != nil {
			return nil, err
		}
		if inner, ok := n.(T); ok {
			terms = append(terms, inner...)
		} else {
			terms = append(terms, n)
		}
		if !p.is(word) {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) unary() (node, error) {
	switch {
	case p.is("not"):
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		var x node
		var err error
		if p.tok.kind == tLParen {
			x, err = p.group() // counted with the not
		} else {
			x, err = p.unary()
		}
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case p.tok.kind == tLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		return p.group()
	}
	return p.condition()
}

// enter counts one more level of nesting at the current token.
func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return errorf(p.tok.pos, "the filter nests parentheses and \"not\" more than %d deep here; simplify it", MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// group reads "(" or ")".
func (p *parser) group() (node, error) {
	open := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tRParen {
		return nil, errorf(p.tok.pos, "expected \"and\", \"or\" or the \")\" closing the \"(\" at position %d, found %s", open, found(p.tok))
	}
	return n, p.advance()
}

// operand is one side of a comparison: a column or a value.
type operand struct {
	tok   token
	isCol bool
	val   value
}

func (p *parser) condition() (node, error) {
	t := p.tok
	if t.kind == tWord && !reserved(t.text) {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tLParen {
			return p.call(t)
		}
		return p.comparison(operand{tok: t, isCol: true})
	}
	v, ok := valueOf(t)
	if !ok {
		return nil, p.expected("a condition (e.g. statecode eq 0)")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p.comparison(operand{tok: t, val: v})
}

// valueOf is the literal or parameter t is, if it is one.
func valueOf(t token) (value, bool) {
	switch {
	case t.kind == tValue:
		return t.val, true
	case t.kind != tWord:
		return value{}, false
	}
	switch strings.ToLower(t.text) {
	case "null":
		return value{kind: vNull}, true
	case "true":
		return value{kind: vBool, b: true}, true
	case "false":
		return value{kind: vBool}, true
	}
	return value{}, false
}

var (
	ops   = map[string]op{"eq": opEq, "ne": opNe, "gt": opGt, "ge": opGe, "lt": opLt, "le": opLe}
	funcs = map[string]fn{"contains": fnContains, "startswith": fnStartsWith, "endswith": fnEndsWith}
	words = map[string]bool{"and": true, "or": true, "not": true, "in": true, "null": true, "true": true, "false": true}
)

// reserved reports whether w is a keyword, which cannot name a column.
func reserved(w string) bool {
	w = strings.ToLower(w)
	_, isOp := ops[w]
	return isOp || words[w]
}

func (p *parser) comparison(left operand) (node, error) {
	opTok := p.tok
	name := strings.ToLower(opTok.text)
	o, isOp := ops[name]
	switch {
	case opTok.kind == tWord && name == "in":
		return p.in(left)
	case opTok.kind == tWord && !isOp && !reserved(name):
		return nil, errorf(opTok.pos, "unknown operator %s; the operators are eq, ne, gt, ge, lt, le and in", quote(opTok.text))
	case !isOp:
		return nil, p.expected("an operator (eq, ne, gt, ge, lt, le or in) after " + quote(left.tok.text))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	right := operand{tok: p.tok}
	if p.tok.kind == tWord && !reserved(p.tok.text) {
		right.isCol = true
	} else if v, ok := valueOf(p.tok); ok {
		right.val = v
	} else {
		return nil, p.expected("a value after " + quote(opTok.text))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch {
	case left.isCol && right.isCol:
		return nil, errorf(right.tok.pos, "%s compares two columns (%s and %s); compare a column with a value", quote(opTok.text), left.tok.text, right.tok.text)
	case !left.isCol && !right.isCol:
		return nil, errorf(left.tok.pos, "%s compares two values (%s and %s); one side must be a column", quote(opTok.text), quote(left.tok.text), quote(right.tok.text))
	case right.isCol:
		left, right, o = right, left, o.flip()
	}
	col := colRef{name: strings.ToLower(left.tok.text)}
	switch v := right.val; {
	case v.kind == vTeams && o != opEq:
		return nil, errorf(right.tok.pos, "@myteams is a list of teams; write \"%s in @myteams\" (or eq @myteams)", col.name)
	case v.kind == vTeams:
		return &inNode{colRef: col, teams: true}, nil
	case o.ordering() && !v.ordered():
		return nil, errorf(opTok.pos, "%s cannot compare with %s; use eq or ne", quote(opTok.text), v.what())
	}
	return &cmpNode{colRef: col, op: o, val: right.val}, nil
}

// in reads the rest of "column in (values)" or "column in @myteams".
func (p *parser) in(left operand) (node, error) {
	if !left.isCol {
		return nil, errorf(left.tok.pos, "\"in\" needs a column on its left, found %s", found(left.tok))
	}
	n := &inNode{colRef: colRef{name: strings.ToLower(left.tok.text)}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tValue && p.tok.val.kind == vTeams {
		n.teams = true
		return n, p.advance()
	}
	if p.tok.kind != tLParen {
		return nil, p.expected("a list in parentheses or @myteams after \"in\"")
	}
	open := p.tok.pos
	for {
		if err := p.advance(); err != nil {
			return nil, err
		}
		v, ok := valueOf(p.tok)
		switch {
		case ok && v.kind == vTeams:
			return nil, errorf(p.tok.pos, "@myteams is a list of its own; write \"%s in @myteams\" as a separate condition", n.name)
		case !ok:
			return nil, p.expected("a value in the list of \"in\"")
		case len(n.vals) == MaxList:
			return nil, errorf(p.tok.pos, "the list of \"in\" has more than %d values; split it with or", MaxList)
		}
		n.vals = append(n.vals, v)
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch p.tok.kind {
		case tComma:
			continue
		case tRParen:
			return n, p.advance()
		}
		return nil, errorf(p.tok.pos, "expected \",\" or the \")\" closing the list at position %d, found %s", open, found(p.tok))
	}
}

// call reads the rest of "fn(column,'text')"; the current token is "(".
func (p *parser) call(name token) (node, error) {
	f, ok := funcs[strings.ToLower(name.text)]
	if !ok {
		return nil, errorf(name.pos, "unknown function %s; the functions are contains, startswith and endswith", quote(name.text))
	}
	fname := fnNames[f] + "()"
	if err := p.advance(); err != nil {
		return nil, err
	}
	col := p.tok
	if col.kind != tWord || reserved(col.text) {
		return nil, p.expected("a column as the first argument of " + fname)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tComma {
		return nil, p.expected("\",\" and a text after the column in " + fname)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	text := p.tok
	if text.kind != tValue || text.val.kind != vString {
		return nil, p.expected("a text in single quotes as the second argument of " + fname)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tRParen {
		return nil, p.expected("\")\" after the two arguments of " + fname)
	}
	n := &funcNode{colRef: colRef{name: strings.ToLower(col.text)}, fn: f, text: text.val.str}
	return n, p.advance()
}

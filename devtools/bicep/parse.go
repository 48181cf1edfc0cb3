package bicep

import (
	"fmt"
	"os"
	"strings"
)

// File is one parsed .bicep file.
type File struct {
	Path        string
	TargetScope string
	Params      []*Param
	Vars        []*Var
	Resources   []*Resource // top level; nested children are in Resource.Children
	Modules     []*Module
	Outputs     []*Output
}

// Param is a `param` declaration.
type Param struct {
	Name, Type string
	Default    *Value // nil without a default
	Decorators []string
	Line       int
}

// Secure reports whether the parameter is decorated @secure().
func (p *Param) Secure() bool { return hasDecorator(p.Decorators, "secure") }

// Var is a `var` declaration.
type Var struct {
	Name  string
	Value *Value
	Line  int
}

// Resource is a `resource` declaration, top level or nested.
type Resource struct {
	Symbol     string
	Type       string // e.g. Microsoft.Web/sites, or the full type of a nested child
	APIVersion string
	Existing   bool
	Condition  string // the `if (...)` expression, if any
	Loop       string // the `for ... in ...` header, if any
	Body       *Value
	Children   []*Resource
	Parent     *Resource
	Line       int
}

// Module is a `module` declaration.
type Module struct {
	Symbol, Path string
	Condition    string
	Loop         string
	Body         *Value
	Line         int
}

// Output is an `output` declaration.
type Output struct {
	Name, Type string
	Value      *Value
	Decorators []string
	Line       int
}

// ValueKind says what a Value holds.
type ValueKind int

// The kinds of values.
const (
	Expr ValueKind = iota
	Object
	Array
)

// Value is an object or array literal, or any other expression as source text.
type Value struct {
	Kind  ValueKind
	Expr  string
	Props []Prop   // Object
	Items []*Value // Array
	Line  int
}

// Prop is one `key: value` of an object literal.
type Prop struct {
	Key   string
	Value *Value
}

// Get follows keys through nested object literals; nil if a key is absent.
func (v *Value) Get(keys ...string) *Value {
	for _, k := range keys {
		if v == nil || v.Kind != Object {
			return nil
		}
		var next *Value
		for _, p := range v.Props {
			if p.Key == k {
				next = p.Value
				break
			}
		}
		v = next
	}
	return v
}

// String returns the expression text, or "{...}"/"[...]" for literals.
func (v *Value) String() string {
	switch {
	case v == nil:
		return ""
	case v.Kind == Object:
		return "{...}"
	case v.Kind == Array:
		return "[...]"
	}
	return v.Expr
}

// Text returns the value's text if it is a plain string literal.
func (v *Value) Text() (string, bool) {
	if v == nil || v.Kind != Expr {
		return "", false
	}
	return Unquote(v.Expr)
}

// ParseFile reads and parses path.
func ParseFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// Parse parses Bicep source.
func Parse(src string) (*File, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, src: src}
	f := &File{}
	if err := p.file(f); err != nil {
		return nil, err
	}
	return f, nil
}

type parser struct {
	toks []token
	src  string
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) skipNewlines() {
	for p.peek().kind == tNewline {
		p.pos++
	}
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", p.peek().line, fmt.Sprintf(format, args...))
}

func (p *parser) expect(text string) error {
	if t := p.next(); t.text != text {
		return fmt.Errorf("line %d: want %q, got %q", t.line, text, t.text)
	}
	return nil
}

func (p *parser) ident() (string, error) {
	t := p.next()
	if t.kind != tIdent {
		return "", fmt.Errorf("line %d: want a name, got %q", t.line, t.text)
	}
	return t.text, nil
}

func (p *parser) file(f *File) error {
	for {
		p.skipNewlines()
		decorators, err := p.decorators()
		if err != nil {
			return err
		}
		t := p.next()
		switch {
		case t.kind == tEOF:
			return nil
		case t.text == "targetScope":
			if err := p.expect("="); err != nil {
				return err
			}
			v, err := p.value()
			if err != nil {
				return err
			}
			f.TargetScope, _ = v.Text()
		case t.text == "param":
			prm := &Param{Decorators: decorators, Line: t.line}
			if prm.Name, err = p.ident(); err != nil {
				return err
			}
			prm.Type = p.typeText()
			if p.peek().text == "=" {
				p.next()
				if prm.Default, err = p.value(); err != nil {
					return err
				}
			}
			f.Params = append(f.Params, prm)
		case t.text == "var":
			v := &Var{Line: t.line}
			if v.Name, err = p.ident(); err != nil {
				return err
			}
			if err := p.expect("="); err != nil {
				return err
			}
			if v.Value, err = p.value(); err != nil {
				return err
			}
			f.Vars = append(f.Vars, v)
		case t.text == "resource":
			r, err := p.resource(t.line, nil)
			if err != nil {
				return err
			}
			f.Resources = append(f.Resources, r)
		case t.text == "module":
			m := &Module{Line: t.line}
			if m.Symbol, err = p.ident(); err != nil {
				return err
			}
			path := p.next()
			m.Path, _ = Unquote(path.text)
			if err := p.expect("="); err != nil {
				return err
			}
			if m.Condition, m.Loop, m.Body, err = p.declBody(); err != nil {
				return err
			}
			f.Modules = append(f.Modules, m)
		case t.text == "output":
			o := &Output{Decorators: decorators, Line: t.line}
			if o.Name, err = p.ident(); err != nil {
				return err
			}
			o.Type = p.typeText()
			if err := p.expect("="); err != nil {
				return err
			}
			if o.Value, err = p.value(); err != nil {
				return err
			}
			f.Outputs = append(f.Outputs, o)
		case t.text == "metadata" || t.text == "import" || t.text == "type" || t.text == "func" || t.text == "using":
			if _, err := p.exprUntilEOL(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("line %d: unexpected %q at the top level", t.line, t.text)
		}
	}
}

// decorators reads @name(...) lines before a declaration.
func (p *parser) decorators() ([]string, error) {
	var ds []string
	for p.peek().text == "@" {
		p.next()
		s, err := p.exprUntilEOL()
		if err != nil {
			return nil, err
		}
		ds = append(ds, s)
		p.skipNewlines()
	}
	return ds, nil
}

// typeText reads a parameter or output type: a name, a string literal, an
// object type, possibly with [] or ? suffixes.
func (p *parser) typeText() string {
	start, end := p.peek().pos, p.peek().pos
	for t := p.peek(); t.kind != tNewline && t.kind != tEOF && t.text != "="; t = p.peek() {
		if t.text == "{" || t.text == "(" || t.text == "[" {
			_, _ = p.balanced()
		} else {
			p.next()
		}
		end = p.toks[p.pos-1].end
	}
	return p.src[start:end]
}

func (p *parser) resource(line int, parent *Resource) (*Resource, error) {
	r := &Resource{Line: line, Parent: parent}
	var err error
	if r.Symbol, err = p.ident(); err != nil {
		return nil, err
	}
	typ, ok := Unquote(p.next().text)
	if !ok {
		return nil, fmt.Errorf("line %d: resource %s: want a 'type@version' string", line, r.Symbol)
	}
	r.Type, r.APIVersion, _ = strings.Cut(typ, "@")
	if parent != nil && !strings.Contains(r.Type, "/") {
		r.Type = parent.Type + "/" + r.Type
		if r.APIVersion == "" {
			r.APIVersion = parent.APIVersion
		}
	}
	if p.peek().text == "existing" {
		p.next()
		r.Existing = true
	}
	if err := p.expect("="); err != nil {
		return nil, err
	}
	if r.Condition, r.Loop, r.Body, err = p.declBodyWith(r); err != nil {
		return nil, err
	}
	return r, nil
}

func (p *parser) declBody() (cond, loop string, body *Value, err error) {
	return p.declBodyWith(nil)
}

// declBodyWith parses `{...}`, `if (c) {...}` or `[for x in y: {...}]`; the
// object may hold nested resources of r.
func (p *parser) declBodyWith(r *Resource) (cond, loop string, body *Value, err error) {
	switch p.peek().text {
	case "if":
		p.next()
		if cond, err = p.balanced(); err != nil {
			return
		}
		body, err = p.object(r)
	case "[":
		p.next()
		start, depth := p.peek().pos, 0
		for depth > 0 || p.peek().text != ":" {
			t := p.next()
			switch {
			case t.kind == tEOF:
				err = p.errorf("unterminated for")
				return
			case t.text == "(" || t.text == "[":
				depth++
			case t.text == ")" || t.text == "]":
				depth--
			}
		}
		loop = strings.TrimSpace(p.src[start:p.peek().pos])
		p.next() // ':'

		p.skipNewlines()
		if p.peek().text == "if" {
			p.next()
			if cond, err = p.balanced(); err != nil {
				return
			}
		}
		if body, err = p.object(r); err != nil {
			return
		}
		p.skipNewlines()
		err = p.expect("]")
	default:
		body, err = p.object(r)
	}
	return
}

// object parses an object literal; if r is not nil, nested `resource`
// declarations become r's children.
func (p *parser) object(r *Resource) (*Value, error) {
	start := p.peek()
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	v := &Value{Kind: Object, Line: start.line}
	for {
		p.skipNewlines()
		if _, err := p.decorators(); err != nil {
			return nil, err
		}
		t := p.peek()
		if t.text == "}" {
			p.next()
			return v, nil
		}
		if t.kind == tEOF {
			return nil, fmt.Errorf("line %d: unterminated object", start.line)
		}
		if t.text == "resource" && r != nil {
			p.next()
			child, err := p.resource(t.line, r)
			if err != nil {
				return nil, err
			}
			r.Children = append(r.Children, child)
			continue
		}
		key := p.next()
		name := key.text
		if key.kind == tString {
			if s, ok := Unquote(key.text); ok {
				name = s // an interpolated key keeps its source text
			}
		} else if key.kind != tIdent {
			return nil, fmt.Errorf("line %d: want an object key, got %q", key.line, key.text)
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		val, err := p.value()
		if err != nil {
			return nil, err
		}
		v.Props = append(v.Props, Prop{Key: name, Value: val})
	}
}

func (p *parser) array() (*Value, error) {
	start := p.next() // '['
	v := &Value{Kind: Array, Line: start.line}
	for {
		p.skipNewlines()
		if p.peek().text == "]" {
			p.next()
			return v, nil
		}
		if p.peek().kind == tEOF {
			return nil, fmt.Errorf("line %d: unterminated array", start.line)
		}
		item, err := p.value()
		if err != nil {
			return nil, err
		}
		v.Items = append(v.Items, item)
	}
}

// value parses a value that ends at a newline (or at the closing bracket of
// the enclosing literal): an object or array literal, or an expression.
func (p *parser) value() (*Value, error) {
	t := p.peek()
	switch {
	case t.text == "{":
		return p.object(nil)
	case t.text == "[" && !p.isForExpr():
		return p.array()
	}
	s, err := p.exprUntilEOL()
	if err != nil {
		return nil, err
	}
	return &Value{Kind: Expr, Expr: s, Line: t.line}, nil
}

func (p *parser) isForExpr() bool {
	i := p.pos + 1
	for i < len(p.toks) && p.toks[i].kind == tNewline {
		i++
	}
	return p.toks[i].text == "for"
}

// exprUntilEOL returns the source of an expression up to a newline at depth
// 0, or to an unbalanced closing bracket (left for the caller); a comma ends
// it too and is consumed.
func (p *parser) exprUntilEOL() (string, error) {
	start, end := p.peek().pos, -1
	for {
		t := p.peek()
		switch {
		case t.kind == tNewline || t.kind == tEOF || t.text == "}" || t.text == "]" || t.text == ")" || t.text == ",":
			if end < 0 {
				if t.text == "," {
					p.next()
					return "", nil
				}
				return "", p.errorf("missing value")
			}
			if t.text == "," {
				p.next()
			}
			return p.src[start:end], nil
		case t.text == "(" || t.text == "[" || t.text == "{":
			if _, err := p.balanced(); err != nil {
				return "", err
			}
			end = p.toks[p.pos-1].end
		default:
			end = p.next().end
		}
	}
}

// balanced returns the source of a bracketed group, newlines included.
func (p *parser) balanced() (string, error) {
	open := p.next()
	closer := map[string]string{"(": ")", "[": "]", "{": "}"}[open.text]
	for {
		t := p.peek()
		switch {
		case t.kind == tEOF:
			return "", fmt.Errorf("line %d: unbalanced %q", open.line, open.text)
		case t.text == closer:
			p.next()
			return p.src[open.pos:t.end], nil
		case t.text == "(" || t.text == "[" || t.text == "{":
			if _, err := p.balanced(); err != nil {
				return "", err
			}
		default:
			p.next()
		}
	}
}

func hasDecorator(ds []string, name string) bool {
	for _, d := range ds {
		if d == name || strings.HasPrefix(d, name+"(") {
			return true
		}
	}
	return false
}

// AllResources returns every resource of f, nested children included.
func (f *File) AllResources() []*Resource {
	var out []*Resource
	var walk func(rs []*Resource)
	walk = func(rs []*Resource) {
		for _, r := range rs {
			out = append(out, r)
			walk(r.Children)
		}
	}
	walk(f.Resources)
	return out
}

// Param returns the parameter named name, or nil.
func (f *File) Param(name string) *Param {
	for _, p := range f.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Var returns the variable named name, or nil.
func (f *File) Var(name string) *Var {
	for _, v := range f.Vars {
		if v.Name == name {
			return v
		}
	}
	return nil
}

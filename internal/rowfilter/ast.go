package rowfilter

import (
	"math"
	"strconv"
	"strings"
	"time"
)

type valueKind uint8

const (
	vNull valueKind = iota
	vBool
	vNumber
	vString
	vGUID
	vDate
	vMe
	vBusinessUnit
	vTeams // only while parsing: conditions on @myteams become an inNode
)

// value is a literal or a parameter of the filter.
type value struct {
	kind valueKind
	b    bool
	num  float64
	str  string // a text, or a GUID in lower case
	t    time.Time
}

// what names the kind of v in a message.
func (v value) what() string {
	switch v.kind {
	case vNull:
		return "null"
	case vBool:
		return "true or false"
	case vGUID:
		return "a GUID"
	case vMe:
		return "@me (a GUID)"
	case vBusinessUnit:
		return "@mybusinessunit (a GUID)"
	case vTeams:
		return "@myteams (a list of GUIDs)"
	}
	return "this value"
}

func (v value) ordered() bool { return v.kind == vNumber || v.kind == vString || v.kind == vDate }

func (v value) write(b *strings.Builder) {
	switch v.kind {
	case vNull:
		b.WriteString("null")
	case vBool:
		b.WriteString(strconv.FormatBool(v.b))
	case vNumber:
		b.WriteString(formatNumber(v.num))
	case vString:
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(v.str, "'", "''"))
		b.WriteByte('\'')
	case vGUID:
		b.WriteString(v.str)
	case vDate:
		if v.t.Equal(v.t.Truncate(24 * time.Hour)) {
			b.WriteString(v.t.Format(time.DateOnly))
		} else {
			b.WriteString(v.t.Format(time.RFC3339Nano))
		}
	case vMe:
		b.WriteString("@me")
	case vBusinessUnit:
		b.WriteString("@mybusinessunit")
	case vTeams:
		b.WriteString("@myteams")
	}
}

// formatNumber writes amounts as people do (1000000, 0.25) and only the
// very large or small with an exponent (1e21, 1e-7).
func formatNumber(f float64) string {
	if a := math.Abs(f); a == 0 || a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+21, 1e-07
	mantissa, exp, _ := strings.Cut(s, "e")
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	return mantissa + "e" + sign + strings.TrimLeft(exp[1:], "0")
}

type op uint8

const (
	opEq op = iota
	opNe
	opGt
	opGe
	opLt
	opLe
)

var opNames = [...]string{"eq", "ne", "gt", "ge", "lt", "le"}

func (o op) String() string { return opNames[o] }

func (o op) ordering() bool { return o >= opGt }

// flip is the operator with its operands swapped: 5 lt x is x gt 5.
func (o op) flip() op {
	switch o {
	case opGt:
		return opLt
	case opGe:
		return opLe
	case opLt:
		return opGt
	case opLe:
		return opGe
	}
	return o
}

type fn uint8

const (
	fnContains fn = iota
	fnStartsWith
	fnEndsWith
)

var fnNames = [...]string{"contains", "startswith", "endswith"}

// node is a condition or a combination of them; env.eval evaluates it.
type node interface {
	write(b *strings.Builder)
}

// colRef is a column a condition reads: its name and its place in the
// filter's Columns, which is its place in a decoded row.
type colRef struct {
	name string
	idx  int
}

type (
	andNode []node // two or more, none an andNode
	orNode  []node // two or more, none an orNode
	notNode struct{ x node }
	cmpNode struct {
		colRef
		op  op
		val value
	}
	inNode struct {
		colRef
		vals  []value
		teams bool // in @myteams, not a list
	}
	funcNode struct {
		colRef
		fn   fn
		text string
	}
)

// walk calls visit on every condition under n.
func walk(n node, visit func(node)) {
	switch x := n.(type) {
	case andNode:
		for _, c := range x {
			walk(c, visit)
		}
	case orNode:
		for _, c := range x {
			walk(c, visit)
		}
	case notNode:
		walk(x.x, visit)
	default:
		visit(n)
	}
}

func (n andNode) write(b *strings.Builder) {
	for i, c := range n {
		if i > 0 {
			b.WriteString(" and ")
		}
		if _, or := c.(orNode); or {
			writeGroup(b, c)
		} else {
			c.write(b)
		}
	}
}

func (n orNode) write(b *strings.Builder) {
	for i, c := range n {
		if i > 0 {
			b.WriteString(" or ")
		}
		c.write(b)
	}
}

// write puts what not applies to in parentheses, but a function call, so
// that no one reads "not x eq 1" as "(not x) eq 1".
func (n notNode) write(b *strings.Builder) {
	b.WriteString("not ")
	if _, call := n.x.(*funcNode); call {
		n.x.write(b)
	} else {
		writeGroup(b, n.x)
	}
}

func writeGroup(b *strings.Builder, n node) {
	b.WriteByte('(')
	n.write(b)
	b.WriteByte(')')
}

func (n *cmpNode) write(b *strings.Builder) {
	b.WriteString(n.name)
	b.WriteByte(' ')
	b.WriteString(n.op.String())
	b.WriteByte(' ')
	n.val.write(b)
}

func (n *inNode) write(b *strings.Builder) {
	b.WriteString(n.name)
	if n.teams {
		b.WriteString(" in @myteams")
		return
	}
	b.WriteString(" in (")
	for i, v := range n.vals {
		if i > 0 {
			b.WriteByte(',')
		}
		v.write(b)
	}
	b.WriteByte(')')
}

func (n *funcNode) write(b *strings.Builder) {
	b.WriteString(fnNames[n.fn])
	b.WriteByte('(')
	b.WriteString(n.name)
	b.WriteByte(',')
	value{kind: vString, str: n.text}.write(b)
	b.WriteByte(')')
}

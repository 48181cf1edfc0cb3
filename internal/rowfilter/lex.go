package rowfilter

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // a column name or a keyword
	tValue          // a string, number, GUID, date-time or parameter
	tLParen         // (
	tRParen         // )
	tComma          // ,
)

type token struct {
	kind tokKind
	pos  int    // 1-based byte offset of its first byte
	text string // as written
	val  value  // of a tValue
}

// lexer reads tokens one at a time, so that the first error in reading
// order is the one reported.
type lexer struct {
	src string
	off int
}

func (l *lexer) next() (token, error) {
	for l.off < len(l.src) && isSpace(l.src[l.off]) {
		l.off++
	}
	start := l.off
	if start == len(l.src) {
		return token{kind: tEOF, pos: start + 1}, nil
	}
	switch c := l.src[start]; {
	case c == '(':
		return l.punct(tLParen), nil
	case c == ')':
		return l.punct(tRParen), nil
	case c == ',':
		return l.punct(tComma), nil
	case c == '\'':
		return l.string()
	case c == '@':
		return l.param()
	case isWordStart(c), (c == '+' || c == '-') && start+1 < len(l.src) && isDigit(l.src[start+1]):
		return l.word()
	}
	return token{}, unexpected(start+1, l.src[start:])
}

func (l *lexer) punct(kind tokKind) token {
	l.off++
	return token{kind: kind, pos: l.off, text: l.src[l.off-1 : l.off]}
}

// word reads a column name, keyword, number, GUID or date-time: they are
// told apart once the whole run of their characters is known.
func (l *lexer) word() (token, error) {
	start := l.off
	l.off++
	for l.off < len(l.src) && isWordByte(l.src[l.off]) {
		l.off++
	}
	w := l.src[start:l.off]
	t := token{kind: tValue, pos: start + 1, text: w}
	switch {
	case isIdent(w):
		t.kind = tWord
	case isGUID(w):
		t.val = value{kind: vGUID, str: strings.ToLower(w)}
	case isDateLike(w):
		at, ok := parseDateTime(w)
		if !ok {
			return token{}, errorf(t.pos, "%s is not a date-time: write RFC 3339 with Z or an offset (2026-03-01T10:00:00Z, 2026-03-01T10:00:00+02:00) or a date (2026-03-01), from year 0001 to 9999", quote(w))
		}
		t.val = value{kind: vDate, t: at}
	case isNumber(w):
		n, err := strconv.ParseFloat(w, 64)
		if err != nil {
			return token{}, errorf(t.pos, "%s is out of range for a number", quote(w))
		}
		t.val = value{kind: vNumber, num: n}
	case looksLikeGUID(w):
		return token{}, errorf(t.pos, "%s is not a GUID: write 8-4-4-4-12 hex digits, e.g. 5a2b8a1e-0000-4000-8000-000000000001", quote(w))
	case !isDigit(w[0]) && w[0] != '+' && w[0] != '-':
		return token{}, errorf(t.pos, "%s is not a column name: use letters, digits and _ (paths into related tables are not supported)", quote(w))
	default:
		return token{}, errorf(t.pos, "%s is not a number, GUID or date-time", quote(w))
	}
	return t, nil
}

// string reads a text in single quotes, where ” is one quote.
func (l *lexer) string() (token, error) {
	start := l.off
	for i := start + 1; i < len(l.src); i++ {
		if l.src[i] != '\'' {
			continue
		}
		if i+1 < len(l.src) && l.src[i+1] == '\'' {
			i++
			continue
		}
		l.off = i + 1
		s := strings.ReplaceAll(l.src[start+1:i], "''", "'")
		return token{kind: tValue, pos: start + 1, text: l.src[start:l.off], val: value{kind: vString, str: s}}, nil
	}
	return token{}, errorf(start+1, "the text that starts here has no closing ' (write a quote inside a text as '')")
}

func (l *lexer) param() (token, error) {
	start := l.off
	l.off++
	for l.off < len(l.src) && isIdentByte(l.src[l.off]) {
		l.off++
	}
	t := token{kind: tValue, pos: start + 1, text: l.src[start:l.off]}
	switch strings.ToLower(t.text) {
	case "@me":
		t.val.kind = vMe
	case "@mybusinessunit":
		t.val.kind = vBusinessUnit
	case "@myteams":
		t.val.kind = vTeams
	case "@":
		return token{}, errorf(t.pos, "expected a parameter name after \"@\": @me, @myteams or @mybusinessunit")
	default:
		return token{}, errorf(t.pos, "unknown parameter %s; the parameters are @me, @myteams and @mybusinessunit", quote(t.text))
	}
	return t, nil
}

// unexpected explains a character no token starts with, pointing at what
// the admin probably meant.
func unexpected(pos int, rest string) error {
	r, _ := utf8.DecodeRuneInString(rest)
	switch r {
	case '=', '<', '>', '!':
		return errorf(pos, "%q is not an operator; use eq, ne, gt, ge, lt or le", r)
	case '"':
		return errorf(pos, "unexpected '\"': write texts in single quotes, 'like this'")
	case '{':
		return errorf(pos, "unexpected '{': write GUIDs bare, without braces")
	}
	return errorf(pos, "unexpected character %q", r)
}

func errorf(pos int, format string, args ...any) error {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// quote quotes s for a message, shortened: an error must stay readable
// even when the filter holds a long text.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}

func isSpace(c byte) bool     { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isLetter(c byte) bool    { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isHex(c byte) bool       { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }
func isWordStart(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }
func isIdentByte(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }

// isWordByte covers every character of a column name, number, GUID and
// date-time, so that "12ab" or "2026-03-01T10:00" is read as one word and
// refused as a whole.
func isWordByte(c byte) bool {
	return isIdentByte(c) || c == '-' || c == '+' || c == '.' || c == ':'
}

func isIdent(w string) bool {
	if w == "" || isDigit(w[0]) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !isIdentByte(w[i]) {
			return false
		}
	}
	return true
}

func isGUID(w string) bool {
	if len(w) != 36 {
		return false
	}
	for i := 0; i < len(w); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if w[i] != '-' {
				return false
			}
		} else if !isHex(w[i]) {
			return false
		}
	}
	return true
}

// looksLikeGUID is a word that starts as a GUID does, with hex digits and
// a dash: a GUID mistyped ("new-field" is a column name mistyped).
func looksLikeGUID(w string) bool {
	first, _, found := strings.Cut(w, "-")
	if !found || len(first) < 4 {
		return false
	}
	for i := 0; i < len(first); i++ {
		if !isHex(first[i]) {
			return false
		}
	}
	return true
}

// isDateLike is a word that starts as a date does: four digits and a dash.
func isDateLike(w string) bool {
	return len(w) > 5 && isDigit(w[0]) && isDigit(w[1]) && isDigit(w[2]) && isDigit(w[3]) && w[4] == '-'
}

func isNumber(w string) bool {
	i := 0
	if w[0] == '+' || w[0] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(w) && isDigit(w[i]) {
			i++
		}
		return i > start
	}
	if !digits() {
		return false
	}
	if i < len(w) && w[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(w) && (w[i] == 'e' || w[i] == 'E') {
		i++
		if i < len(w) && (w[i] == '+' || w[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(w)
}

// parseDateTime reads an RFC 3339 date-time or a date (midnight UTC) as an
// instant in UTC, within the years String can write back.
func parseDateTime(s string) (time.Time, bool) {
	layout := time.RFC3339
	if len(s) == len(time.DateOnly) {
		layout = time.DateOnly
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	return t, t.Year() >= 1 && t.Year() <= 9999
}

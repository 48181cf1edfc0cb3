// Package bicep reads the subset of Bicep that the connector's templates use,
// well enough for tests to check the templates against the code: parameters
// and their decorators, variables, resources (with nested children, loops and
// conditions), modules and outputs, with object and array literals kept as
// trees and every other expression kept as its source text.
//
// It is not a compiler: it does not type-check or evaluate, and it accepts
// some text a compiler would reject. No Bicep compiler can be installed where
// the tests run, so this is what keeps infra/ honest there.
package bicep

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tEOF tokKind = iota
	tNewline
	tIdent
	tString // raw source, quotes included
	tNumber
	tPunct
)

type token struct {
	kind     tokKind
	text     string
	line     int
	pos, end int // byte offsets in the source
}

// lex splits src into tokens. Comments are dropped; newlines are kept
// because they separate statements and object properties.
func lex(src string) ([]token, error) {
	var toks []token
	line := 1
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			toks = append(toks, token{tNewline, "\n", line, i, i + 1})
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated comment", line)
			}
			line += strings.Count(src[i:i+2+end], "\n")
			i += end + 4
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated multi-line string", line)
			}
			text := src[i : i+6+end]
			toks = append(toks, token{tString, text, line, i, i + len(text)})
			line += strings.Count(text, "\n")
			i += len(text)
		case c == '\'':
			j, err := scanString(src, i)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			toks = append(toks, token{tString, src[i:j], line, i, j})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], line, i, j})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, src[i:j], line, i, j})
			i = j
		default:
			n := 1
			for _, op := range []string{"::", "==", "!=", "<=", ">=", "&&", "||", "??", ".?", "=~", "!~", "=>"} {
				if strings.HasPrefix(src[i:], op) {
					n = 2
					break
				}
			}
			toks = append(toks, token{tPunct, src[i : i+n], line, i, i + n})
			i += n
		}
	}
	return append(toks, token{tEOF, "", line, len(src), len(src)}), nil
}

// scanString returns the end of the single-quoted string starting at i,
// skipping escapes and ${...} interpolations (which may contain strings).
func scanString(src string, i int) (int, error) {
	j := i + 1
	for j < len(src) {
		switch {
		case src[j] == '\\':
			j += 2
		case src[j] == '\'':
			return j + 1, nil
		case src[j] == '\n':
			return 0, fmt.Errorf("newline in string")
		case strings.HasPrefix(src[j:], "${"):
			depth := 1
			j += 2
			for j < len(src) && depth > 0 {
				switch src[j] {
				case '{':
					depth++
				case '}':
					depth--
				case '\'':
					k, err := scanString(src, j)
					if err != nil {
						return 0, err
					}
					j = k - 1
				}
				j++
			}
		default:
			j++
		}
	}
	return 0, fmt.Errorf("unterminated string")
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

// Unquote returns the text of a plain string literal ('...' without
// interpolation), and whether s was one.
func Unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' || strings.HasPrefix(s, "'''") {
		return "", false
	}
	body := s[1 : len(s)-1]
	if strings.Contains(body, "${") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' && i+1 < len(body) {
			i++
			switch body[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(body[i])
			}
			continue
		}
		b.WriteByte(body[i])
	}
	return b.String(), true
}

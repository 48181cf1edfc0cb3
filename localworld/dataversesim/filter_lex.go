package dataversesim

import (
	"net/http"
	"strings"
)

// tokKind is the kind of a $filter token.
type tokKind int

const (
	tEOF     tokKind = iota
	tWord            // identifier, keyword, number, guid or datetime
	tString          // 'single quoted'
	tDString         // "double quoted" (Dataverse function values)
	tLParen
	tRParen
	tComma
	tEquals
	tLBracket
	tRBracket
)

type token struct {
	kind tokKind
	text string // unquoted for strings
	pos  int
}

// lexFilter splits a $filter expression into tokens.
func lexFilter(src string) ([]token, *apiError) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, errf(http.StatusBadRequest, codeQuery, "There is an unterminated literal at position %d in '%s'.", len(src), src)
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			toks = append(toks, token{tString, b.String(), i})
			i = j + 1
		case c == '"':
			end := strings.IndexByte(src[i+1:], '"')
			if end < 0 {
				return nil, errf(http.StatusBadRequest, codeQuery, "There is an unterminated literal at position %d in '%s'.", len(src), src)
			}
			toks = append(toks, token{tDString, src[i+1 : i+1+end], i})
			i += end + 2
		case strings.IndexByte("(),=[]", c) >= 0:
			kind := map[byte]tokKind{'(': tLParen, ')': tRParen, ',': tComma, '=': tEquals, '[': tLBracket, ']': tRBracket}[c]
			toks = append(toks, token{kind, string(c), i})
			i++
		default:
			j := i
			for j < len(src) && strings.IndexByte(" \t'\"(),=[]", src[j]) < 0 {
				j++
			}
			toks = append(toks, token{tWord, src[i:j], i})
			i = j
		}
	}
	return append(toks, token{tEOF, "", len(src)}), nil
}

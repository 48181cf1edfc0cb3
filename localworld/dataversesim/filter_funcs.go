package dataversesim

import (
	"net/http"
	"strings"
)

// function parses a function call: the OData string functions and the
// Dataverse query functions In, NotIn, Between and NotBetween.
func (p *filterParser) function() (filterNode, *apiError) {
	name := p.next().text
	p.next() // (
	switch name {
	case "contains", "startswith", "endswith":
		return p.stringFunction(name)
	case "Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn", "Microsoft.Dynamics.CRM.Between", "Microsoft.Dynamics.CRM.NotBetween":
		return p.queryFunction(strings.TrimPrefix(name, "Microsoft.Dynamics.CRM."))
	}
	return nil, errf(http.StatusBadRequest, codeQuery, "An unknown function with name '%s' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.", name)
}

func (p *filterParser) stringFunction(name string) (filterNode, *apiError) {
	col, err := p.operand()
	if err != nil {
		return nil, err
	}
	if p.next().kind != tComma {
		return nil, p.syntax()
	}
	lit := p.next()
	if p.next().kind != tRParen || col.attr == nil || lit.kind != tString {
		return nil, p.syntax()
	}
	if !col.attr.isText() {
		return nil, errf(http.StatusBadRequest, codeQuery, "No function signature for the function with name '%s' matches the specified arguments.", name)
	}
	needle := strings.ToLower(lit.text)
	test := map[string]func(s, sub string) bool{"contains": strings.Contains, "startswith": strings.HasPrefix, "endswith": strings.HasSuffix}[name]
	return func(r *row) bool {
		s, ok := col.get(r).(string)
		return ok && test(strings.ToLower(s), needle)
	}, nil
}

// queryFunction parses PropertyName='x',PropertyValues=["a","b"].
func (p *filterParser) queryFunction(name string) (filterNode, *apiError) {
	var prop string
	var values []token
	for p.peek().kind != tRParen {
		param := p.next()
		if param.kind != tWord || p.next().kind != tEquals {
			return nil, p.syntax()
		}
		switch param.text {
		case "PropertyName":
			v := p.next()
			if v.kind != tString {
				return nil, p.syntax()
			}
			prop = v.text
		case "PropertyValues":
			if p.next().kind != tLBracket {
				return nil, p.syntax()
			}
			for p.peek().kind != tRBracket {
				v := p.next()
				if v.kind != tDString && v.kind != tString && v.kind != tWord {
					return nil, p.syntax()
				}
				values = append(values, v)
				if p.peek().kind == tComma {
					p.next()
				}
			}
			p.next()
		default:
			return nil, p.syntax()
		}
		if p.peek().kind == tComma {
			p.next()
		}
	}
	p.next() // )
	col, err := p.column(prop)
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(values))
	for i, v := range values {
		if v.kind == tDString {
			v.kind = tString
			if !col.attr.isText() {
				v.kind = tWord // Dataverse quotes every value, whatever the type
			}
		}
		x, ok := literalValue(v, col.attr)
		if !ok {
			return nil, errf(http.StatusBadRequest, codeQuery, "The value '%s' is not valid for the property '%s'.", v.text, prop)
		}
		vals[i] = x
	}
	between := name == "Between" || name == "NotBetween"
	if between && len(vals) != 2 {
		return nil, errf(http.StatusBadRequest, codeQuery, "%s needs exactly two PropertyValues.", name)
	}
	negate := strings.HasPrefix(name, "Not")
	return func(r *row) bool {
		v := col.get(r)
		if v == nil {
			return false
		}
		hit := false
		if between {
			lo, ok1 := compareValues(v, vals[0])
			hi, ok2 := compareValues(v, vals[1])
			hit = ok1 && ok2 && lo >= 0 && hi <= 0
		} else {
			for _, x := range vals {
				if c, ok := compareValues(v, x); ok && c == 0 {
					hit = true
					break
				}
			}
		}
		return hit != negate
	}, nil
}

package funchost

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Route is an HTTP function's route template in the host's syntax:
// literal segments, {name}, {name:constraint}, {name?} and a final {*rest}.
type Route struct {
	Template string
	segments []segment
}

type segment struct {
	literal    string // set for literal segments
	param      string
	constraint string
	optional   bool
	catchAll   bool
}

var paramRE = regexp.MustCompile(`^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}$`)

var constraints = map[string]func(string) bool{
	"int":  func(s string) bool { _, err := strconv.ParseInt(s, 10, 32); return err == nil },
	"long": func(s string) bool { _, err := strconv.ParseInt(s, 10, 64); return err == nil },
	"bool": func(s string) bool { _, err := strconv.ParseBool(s); return err == nil },
	"guid": func(s string) bool { _, err := uuid.Parse(s); return err == nil },
	"alpha": func(s string) bool {
		return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
	},
}

// ParseRoute parses a route template.
func ParseRoute(template string) (*Route, error) {
	r := &Route{Template: template}
	parts := strings.Split(strings.Trim(template, "/"), "/")
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("route %q has an empty segment", template)
		}
		if !strings.ContainsAny(p, "{}") {
			r.segments = append(r.segments, segment{literal: p})
			continue
		}
		m := paramRE.FindStringSubmatch(p)
		if m == nil {
			return nil, fmt.Errorf("route %q: segment %q must be a literal or a whole {parameter}", template, p)
		}
		s := segment{catchAll: m[1] == "*", param: m[2], constraint: m[3], optional: m[4] == "?"}
		if s.constraint != "" && constraints[s.constraint] == nil {
			return nil, fmt.Errorf("route %q: constraint %q is not supported (int, long, bool, guid, alpha)", template, s.constraint)
		}
		if (s.catchAll || s.optional) && i != len(parts)-1 {
			return nil, fmt.Errorf("route %q: only the last segment may be optional or a catch-all", template)
		}
		r.segments = append(r.segments, s)
	}
	return r, nil
}

// Match matches the path segments after the route prefix and returns the
// route parameters.
func (r *Route) Match(parts []string) (map[string]string, bool) {
	params := map[string]string{}
	for i, s := range r.segments {
		if i >= len(parts) {
			if s.optional || s.catchAll {
				return params, true
			}
			return nil, false
		}
		switch {
		case s.literal != "":
			if !strings.EqualFold(s.literal, parts[i]) {
				return nil, false
			}
		case s.catchAll:
			params[s.param] = strings.Join(parts[i:], "/")
			return params, true
		default:
			if s.constraint != "" && !constraints[s.constraint](parts[i]) {
				return nil, false
			}
			params[s.param] = parts[i]
		}
	}
	return params, len(parts) == len(r.segments)
}

// literals counts literal segments; routes with more are more specific.
func (r *Route) literals() int {
	n := 0
	for _, s := range r.segments {
		if s.literal != "" {
			n++
		}
	}
	return n
}

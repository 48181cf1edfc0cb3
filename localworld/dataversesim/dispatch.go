package dataversesim

import (
	"net/http"
	"strings"
)

// dispatch answers one Web API call. Reads run under the read lock, writes
// under the write lock; a $batch holds the write lock throughout, so a
// change set is atomic for every other reader and writer.
func (s *Sim) dispatch(c *call) *response {
	if len(c.segs) == 0 || (len(c.segs) == 1 && c.segs[0] == "") {
		return s.serviceDocument(c)
	}
	first := c.segs[0]
	switch {
	case first == "$batch":
		if c.method != http.MethodPost || c.batch != nil {
			return errorResponse(errNoHTTPResource(c.rawURL))
		}
		return s.batch(c)
	case first == "WhoAmI" || first == "WhoAmI()":
		if c.method != http.MethodGet || len(c.segs) > 1 {
			return errorResponse(errNoHTTPResource(c.rawURL))
		}
		return s.whoAmI(c)
	case strings.HasPrefix(first, "EntityDefinitions"):
		return s.locked(c, false, func() *response { return s.entityDefinitions(c) })
	case isBlockAction(first):
		if c.method != http.MethodPost || len(c.segs) > 1 {
			return errorResponse(errNoHTTPResource(c.rawURL))
		}
		return s.locked(c, true, func() *response { return s.blockAction(c, first) })
	}
	return s.locked(c, c.method != http.MethodGet, func() *response { return s.entity(c) })
}

// locked runs f under the store lock; inside a $batch the batch holds it.
func (s *Sim) locked(c *call, write bool, f func() *response) *response {
	switch {
	case c.batch != nil:
	case write:
		s.mu.Lock()
		defer s.mu.Unlock()
	default:
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	return f()
}

// entity answers requests on an entity set, a row, or a row's property.
func (s *Sim) entity(c *call) *response {
	name, parts, hasKey, err := splitResource(c.segs[0])
	if err != nil {
		return errorResponse(err)
	}
	t, ok := s.st.tables[name]
	if !ok {
		return errorResponse(errNoSegment(name))
	}
	if e := s.checkPrivilege(c, t); e != nil {
		return errorResponse(e)
	}
	rest := c.segs[1:]
	if !hasKey {
		switch {
		case len(rest) == 0 && c.method == http.MethodGet:
			return s.readCollection(c, t)
		case len(rest) == 0 && c.method == http.MethodPost:
			return s.create(c, t)
		case len(rest) == 1 && rest[0] == "$count" && c.method == http.MethodGet:
			return s.readCount(c, t)
		case len(rest) == 1 && c.method == http.MethodGet:
			return errorResponse(errNoSegment(rest[0]))
		}
		return errorResponse(errNoHTTPResource(c.rawURL))
	}
	k, err := resolveKey(t, parts)
	if err != nil {
		return errorResponse(err)
	}
	if len(rest) == 0 {
		switch c.method {
		case http.MethodGet:
			return s.readRow(c, t, k)
		case http.MethodPatch:
			return s.patch(c, t, c.segs[0], k)
		case http.MethodDelete:
			return s.remove(c, t, k)
		}
		return errorResponse(errNoHTTPResource(c.rawURL))
	}
	r := k.find(t)
	if r == nil {
		return errorResponse(k.notFound(t))
	}
	if rel, ok := t.relations[rest[0]]; ok {
		if len(rest) == 1 && c.method == http.MethodGet {
			return s.readRelated(c, t, r, rel)
		}
		return errorResponse(errf(http.StatusNotImplemented, codeQuery, "The simulator does not implement '%s %s': team membership is changed with AddTeamMember and RemoveTeamMember (PUT and DELETE /_sim/teams/{team}/members/{user}).", c.method, c.rawURL))
	}
	switch {
	case len(rest) == 1 && c.method == http.MethodGet:
		return s.readProperty(c, t, r, rest[0], false)
	case len(rest) == 2 && rest[1] == "$value" && c.method == http.MethodGet:
		return s.readProperty(c, t, r, rest[0], true)
	case len(rest) == 1 && (c.method == http.MethodPut || c.method == http.MethodDelete):
		return s.property(c, t, r, rest[0])
	case len(rest) == 2 && rest[1] == "$ref":
		return s.reference(c, t, r, rest[0])
	}
	return errorResponse(errNoHTTPResource(c.rawURL))
}

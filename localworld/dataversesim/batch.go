package dataversesim

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// batchContext carries the Content-ID references of the running change set:
// "$1" -> the entity URL the request with Content-ID 1 created or changed.
type batchContext struct {
	ids map[string]string
}

// batch answers POST $batch (docs/reference/dataverse-webapi.md §5): requests
// run in order; change sets are atomic; the batch stops at the first failure
// unless Prefer: odata.continue-on-error, and then the outer status is 200.
func (s *Sim) batch(c *call) *response {
	prefs, err := parsePrefer(c.header)
	if err != nil {
		return errorResponse(err)
	}
	parts, err := parseBatch(c.header.Get("Content-Type"), c.body)
	if err != nil {
		return errorResponse(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	boundary := "batchresponse_" + uuid.NewString()
	var out bytes.Buffer
	status := http.StatusOK
	for _, p := range parts {
		var failed *response
		if p.request != nil {
			resp := s.inner(c, p.request, &batchContext{ids: map[string]string{}})
			writeHTTPPart(&out, boundary, "", resp)
			if resp.status >= 400 {
				failed = resp
			}
		} else {
			failed = s.changeSet(c, p.changeSet, &out, boundary)
		}
		if failed != nil && !prefs.continueOnError {
			status = failed.status
			break
		}
	}
	fmt.Fprintf(&out, "--%s--\r\n", boundary)
	resp := newResponse(status)
	resp.header.Set("Content-Type", "multipart/mixed; boundary="+boundary)
	if prefs.continueOnError {
		resp.header.Set("Preference-Applied", "odata.continue-on-error")
	}
	resp.body = out.Bytes()
	return resp
}

// changeSet runs the requests of one change set, all or nothing. On
// success it writes a nested multipart of their answers; on failure it
// undoes every write and writes only the failing answer, which it returns.
func (s *Sim) changeSet(c *call, reqs []batchPart, out *bytes.Buffer, boundary string) *response {
	var undo []func()
	s.st.undo = &undo
	defer func() { s.st.undo = nil }()
	bc := &batchContext{ids: map[string]string{}}
	var answers []*response
	for _, p := range reqs {
		resp := s.inner(c, p.request, bc)
		if resp.status >= 400 {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			writeHTTPPart(out, boundary, p.contentID, resp)
			return resp
		}
		if p.contentID != "" {
			if loc := resp.header.Get("OData-EntityId"); loc != "" {
				bc.ids["$"+p.contentID] = loc
			}
		}
		answers = append(answers, resp)
	}
	csBoundary := "changesetresponse_" + uuid.NewString()
	fmt.Fprintf(out, "--%s\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", boundary, csBoundary)
	for i, resp := range answers {
		writeHTTPPart(out, csBoundary, reqs[i].contentID, resp)
	}
	fmt.Fprintf(out, "--%s--\r\n", csBoundary)
	return nil
}

// inner runs one request of a $batch as a call of its own.
func (s *Sim) inner(outer *call, r *innerRequest, bc *batchContext) *response {
	target := r.target
	if strings.HasPrefix(target, "$") {
		ref, rest, _ := strings.Cut(target, "/")
		loc, ok := bc.ids[ref]
		if !ok {
			return errorResponse(errf(http.StatusBadRequest, codeNone, "Content-ID Reference: '%s' does not exist in the batch context.", ref))
		}
		target = loc
		if rest != "" {
			target += "/" + rest
		}
	}
	u, err := url.Parse(target)
	if err != nil {
		return errorResponse(errf(http.StatusBadRequest, codePayload, "The URL %q in a $batch part is not valid.", r.target))
	}
	p := u.EscapedPath()
	if i := strings.Index(p, "/api/data/"); i >= 0 {
		version, rest, _ := strings.Cut(p[i+len("/api/data/"):], "/")
		if !validVersion(version) {
			return errorResponse(errNoSegment(version))
		}
		p = rest
	}
	segs, aerr := splitPath(strings.TrimPrefix(p, "/"))
	if aerr != nil {
		return errorResponse(aerr)
	}
	c := &call{
		method: r.method, segs: segs, rawURL: r.target, query: u.Query(), rawQry: u.RawQuery,
		header: r.header, body: r.body, base: outer.base, user: outer.user, batch: bc,
	}
	return s.dispatch(c)
}

// writeHTTPPart writes resp as an application/http part.
func writeHTTPPart(out *bytes.Buffer, boundary, contentID string, resp *response) {
	fmt.Fprintf(out, "--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n", boundary)
	if contentID != "" {
		fmt.Fprintf(out, "Content-ID: %s\r\n", contentID)
	}
	fmt.Fprintf(out, "\r\nHTTP/1.1 %d %s\r\n", resp.status, http.StatusText(resp.status))
	h := resp.header.Clone()
	if strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		h.Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true")
	}
	h["REQ_ID"] = []string{uuid.NewString()}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(out, "%s: %s\r\n", k, v)
		}
	}
	out.WriteString("\r\n")
	out.Write(resp.body)
	out.WriteString("\r\n")
}

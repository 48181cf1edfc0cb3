package dataversesim

import (
	"bytes"
	"mime"
	"net/http"
	"net/textproto"
	"strings"
)

// maxBatchRequests is Dataverse's limit on requests in one $batch
// (docs/reference/dataverse-webapi.md §5).
const maxBatchRequests = 1000

// batchPart is one part of a multipart/mixed body: a request, or a change
// set holding requests.
type batchPart struct {
	contentID string
	request   *innerRequest
	changeSet []batchPart
}

// innerRequest is an HTTP request embedded in a $batch part.
type innerRequest struct {
	method string
	target string
	header http.Header
	body   []byte
}

// errStream is Dataverse's answer to a $batch body it cannot read, such as
// one whose lines end in LF instead of CRLF
// (docs/reference/dataverse-webapi.md §5).
func errStream(detail string) *apiError {
	return errf(http.StatusBadRequest, codePayload,
		"Error identified in Payload provided by the user for Entity :'', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> InnerException : System.ArgumentException: Stream was not readable. (%s)", detail)
}

// isBatch reports whether r is a $batch request.
func isBatch(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/$batch")
}

// countBatchRequests estimates the requests in a $batch body for
// throttling: one per application/http part, at least one.
func countBatchRequests(contentType string, body []byte) int {
	return max(1, bytes.Count(bytes.ToLower(body), []byte("application/http")))
}

// parseBatch parses a multipart/mixed $batch body with CRLF line endings.
func parseBatch(contentType string, body []byte) ([]batchPart, *apiError) {
	boundary, err := boundaryOf(contentType)
	if err != nil {
		return nil, err
	}
	raw, err := splitMultipart(body, boundary)
	if err != nil {
		return nil, err
	}
	var parts []batchPart
	n := 0
	for _, p := range raw {
		hdr, content, err := splitHeaders(p)
		if err != nil {
			return nil, err
		}
		ct := hdr.Get("Content-Type")
		if strings.HasPrefix(ct, "multipart/mixed") {
			inner, err := parseChangeSet(ct, content)
			if err != nil {
				return nil, err
			}
			n += len(inner)
			parts = append(parts, batchPart{changeSet: inner})
			continue
		}
		req, err := parseInner(hdr, content)
		if err != nil {
			return nil, err
		}
		n++
		parts = append(parts, batchPart{contentID: hdr.Get("Content-ID"), request: req})
	}
	if n > maxBatchRequests {
		return nil, errf(http.StatusBadRequest, codeQuery, "The number of requests in the batch (%d) exceeds the limit of %d.", n, maxBatchRequests)
	}
	return parts, nil
}

func parseChangeSet(contentType string, body []byte) ([]batchPart, *apiError) {
	boundary, err := boundaryOf(contentType)
	if err != nil {
		return nil, err
	}
	raw, err := splitMultipart(body, boundary)
	if err != nil {
		return nil, err
	}
	var parts []batchPart
	for _, p := range raw {
		hdr, content, err := splitHeaders(p)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(hdr.Get("Content-Type"), "multipart/") {
			return nil, errf(http.StatusBadRequest, codePayload, "Change sets cannot be nested.")
		}
		req, err := parseInner(hdr, content)
		if err != nil {
			return nil, err
		}
		if req.method == http.MethodGet {
			return nil, errf(http.StatusBadRequest, codePayload, "GET requests are not allowed in a change set.")
		}
		parts = append(parts, batchPart{contentID: hdr.Get("Content-ID"), request: req})
	}
	return parts, nil
}

func boundaryOf(contentType string) (string, *apiError) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return "", errf(http.StatusBadRequest, codePayload, "The $batch request must have Content-Type multipart/mixed with a boundary, not %q.", contentType)
	}
	return params["boundary"], nil
}

// splitMultipart returns the parts between "--boundary" delimiter lines.
// Delimiters must start a line and end with CRLF.
func splitMultipart(body []byte, boundary string) ([][]byte, *apiError) {
	delim := []byte("--" + boundary)
	i := bytes.Index(body, delim)
	if i < 0 || (i > 0 && !bytes.HasSuffix(body[:i], []byte("\r\n"))) {
		return nil, errStream("no opening boundary at the start of a line")
	}
	var parts [][]byte
	pos := i + len(delim)
	for {
		rest := body[pos:]
		if bytes.HasPrefix(rest, []byte("--")) {
			return parts, nil
		}
		rest = bytes.TrimLeft(rest, " \t")
		if !bytes.HasPrefix(rest, []byte("\r\n")) {
			return nil, errStream("a boundary line does not end with CRLF")
		}
		start := len(body) - len(rest) + 2
		end := bytes.Index(body[start:], append([]byte("\r\n"), delim...))
		if end < 0 {
			return nil, errStream("the closing boundary is missing")
		}
		parts = append(parts, body[start:start+end])
		pos = start + end + 2 + len(delim)
	}
}

// splitHeaders splits a part into its CRLF-separated headers and content.
func splitHeaders(p []byte) (http.Header, []byte, *apiError) {
	head, content, ok := bytes.Cut(p, []byte("\r\n\r\n"))
	if !ok {
		if bytes.HasSuffix(p, []byte("\r\n")) || len(p) == 0 {
			head, content = bytes.TrimSuffix(p, []byte("\r\n")), nil
		} else {
			return nil, nil, errStream("part headers do not end with an empty CRLF line")
		}
	}
	h := http.Header{}
	if len(head) == 0 {
		return h, content, nil
	}
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return nil, nil, errStream("a header line ends with LF instead of CRLF")
		}
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, nil, errStream("a header line has no colon")
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(string(name))), strings.TrimSpace(string(val)))
	}
	return h, content, nil
}

// parseInner reads the application/http request in a part.
func parseInner(partHeader http.Header, content []byte) (*innerRequest, *apiError) {
	if ct := partHeader.Get("Content-Type"); !strings.HasPrefix(ct, "application/http") {
		return nil, errf(http.StatusBadRequest, codePayload, "A $batch part must have Content-Type application/http, not %q.", ct)
	}
	line, rest, ok := bytes.Cut(content, []byte("\r\n"))
	if !ok {
		return nil, errStream("the request line does not end with CRLF")
	}
	f := strings.Fields(string(line))
	if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/") {
		return nil, errf(http.StatusBadRequest, codePayload, "The request line %q in a $batch part is not valid.", line)
	}
	hdr, body, err := splitHeaders(rest)
	if err != nil {
		return nil, err
	}
	return &innerRequest{method: f[0], target: f[1], header: hdr, body: bytes.TrimSuffix(body, []byte("\r\n"))}, nil
}

package dataverse

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"
)

// MaxBatchRequests is Dataverse's limit on requests in one $batch.
const MaxBatchRequests = 1000

// Batch is a $batch being built. Its requests run in the order added; the
// requests of one ChangeSet succeed or fail together. Build it from one
// goroutine.
type Batch struct {
	items []batchItem
	n     int
}

type batchItem struct {
	req *Request   // a request on its own
	cs  *ChangeSet // or a change set
}

// ChangeSet is an atomic group of writes inside a Batch.
type ChangeSet struct {
	reqs []Request
	ids  []string // Content-ID of each request: "1", "2", …
	b    *Batch
}

// Add appends a request that runs on its own (a GET, or a write whose
// failure must not undo the others).
func (b *Batch) Add(req Request) {
	b.items = append(b.items, batchItem{req: &req})
	b.n++
}

// ChangeSet starts a new change set at the end of the batch.
func (b *Batch) ChangeSet() *ChangeSet {
	cs := &ChangeSet{b: b}
	b.items = append(b.items, batchItem{cs: cs})
	return cs
}

// Add appends a write to the change set and returns a reference to its
// record ("$n") for later requests of the same change set: as a Ref path
// (UpdateRequest(ref, …)) or as an @odata.bind value (ref.Bind()).
func (cs *ChangeSet) Add(req Request) Ref {
	cs.b.n++
	id := strconv.Itoa(cs.b.n)
	cs.reqs = append(cs.reqs, req)
	cs.ids = append(cs.ids, id)
	return ByContentID("$" + id)
}

// Len is the number of requests in the batch.
func (b *Batch) Len() int { return b.n }

// encode writes the multipart/mixed body with CRLF line endings
// (Dataverse cannot read other endings) and returns its content type and
// the index in b.items of each batch item it wrote (an empty change set is
// not written, so the answer's items and b.items may differ).
func (b *Batch) encode(apiPath string) (string, []byte, []int, error) {
	boundary := "batch_" + uuid.NewString()
	var out bytes.Buffer
	var sent []int
	for i, it := range b.items {
		if it.req != nil {
			fmt.Fprintf(&out, "--%s\r\n", boundary)
			writeRequestPart(&out, apiPath, *it.req, "")
			sent = append(sent, i)
			continue
		}
		if len(it.cs.reqs) == 0 {
			continue
		}
		sent = append(sent, i)
		cs := "changeset_" + uuid.NewString()
		fmt.Fprintf(&out, "--%s\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", boundary, cs)
		for i, r := range it.cs.reqs {
			if r.Method == http.MethodGet {
				return "", nil, nil, fmt.Errorf("dataverse: a change set cannot hold a GET (%s)", r.Path)
			}
			fmt.Fprintf(&out, "--%s\r\n", cs)
			writeRequestPart(&out, apiPath, r, it.cs.ids[i])
		}
		fmt.Fprintf(&out, "--%s--\r\n", cs)
	}
	fmt.Fprintf(&out, "--%s--\r\n", boundary)
	return "multipart/mixed; boundary=" + boundary, out.Bytes(), sent, nil
}

func writeRequestPart(out *bytes.Buffer, apiPath string, r Request, contentID string) {
	out.WriteString("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
	if contentID != "" {
		fmt.Fprintf(out, "Content-ID: %s\r\n", contentID)
	}
	target := r.Path
	if len(target) > 0 && target[0] != '$' && !bytes.Contains([]byte(target), []byte("://")) {
		target = apiPath + target
	}
	fmt.Fprintf(out, "\r\n%s %s HTTP/1.1\r\n", r.Method, target)
	if r.Body != nil {
		out.WriteString("Content-Type: application/json; type=entry\r\n")
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			fmt.Fprintf(out, "%s: %s\r\n", k, v)
		}
	}
	out.WriteString("\r\n")
	out.Write(r.Body)
	out.WriteString("\r\n")
}

// BatchOptions configure ExecuteBatch.
type BatchOptions struct {
	// ContinueOnError goes on after a failed request or change set
	// (Prefer: odata.continue-on-error). A change set still fails whole.
	ContinueOnError bool
}

// BatchResult holds the answer to every request that ran, in order.
// Without ContinueOnError, the batch stops at the first failure, so
// requests after it have no part.
type BatchResult struct {
	Parts []BatchPart
}

// BatchPart is the answer to one request of a batch. A failed change set
// has a single part: the request that failed (its writes were undone).
type BatchPart struct {
	ContentID string
	// ChangeSet is the index of the batch item it answers: the n-th call
	// of Batch.Add or Batch.ChangeSet, counting empty change sets too.
	ChangeSet  int
	StatusCode int
	Header     http.Header
	Body       []byte
	Err        *Error // non-nil when StatusCode >= 400
}

// Result reads a write's answer from the part.
func (p BatchPart) Result() *WriteResult {
	return writeResult(Request{}, p.StatusCode, p.Header, p.Body)
}

// Err returns the first failed part's error, or nil.
func (r *BatchResult) Err() error {
	for _, p := range r.Parts {
		if p.Err != nil {
			return p.Err
		}
	}
	return nil
}

// ExecuteBatch sends b as one $batch. The error is for the batch as a
// whole (transport, throttling, a malformed batch); the outcome of each
// request is in its part. After a failure that may have come after it ran
// (a gateway error, a reset), a batch is sent again only when every request
// in it is safe to repeat (see RetryPolicy): one with a POST, a DELETE or a
// conditional write is not.
func (c *Client) ExecuteBatch(ctx context.Context, b *Batch, opts *BatchOptions) (*BatchResult, error) {
	if b.n == 0 {
		return &BatchResult{}, nil
	}
	if b.n > MaxBatchRequests {
		return nil, fmt.Errorf("dataverse: a batch holds at most %d requests, this one %d", MaxBatchRequests, b.n)
	}
	ct, body, sent, err := b.encode(c.api.Path)
	if err != nil {
		return nil, err
	}
	req := Request{Method: http.MethodPost, Path: "$batch", Header: http.Header{"Content-Type": {ct}}, Body: body, safeToRepeat: b.idempotent()}
	if opts != nil && opts.ContinueOnError {
		req.Header.Set("Prefer", "odata.continue-on-error")
	}
	resp, err := c.send(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	items, err := parseBatchResponse(resp.header.Get("Content-Type"), resp.body)
	if err != nil {
		return nil, fmt.Errorf("dataverse: $batch answered %d: %w", resp.status, err)
	}
	if len(items) > len(sent) {
		return nil, fmt.Errorf("dataverse: $batch answered %d items to %d sent", len(items), len(sent))
	}
	out := &BatchResult{}
	for i, item := range items {
		for _, p := range item {
			p.ChangeSet = sent[i]
			if p.StatusCode >= 400 {
				p.Err = &Error{Method: "$batch", Path: "part " + p.ContentID, StatusCode: p.StatusCode}
				if req, ok := b.items[sent[i]].request(p.ContentID); ok {
					p.Err.Precondition = precondition(req)
				}
				p.Err.Code, p.Err.Message = errorBody(p.Body)
				p.Err.RetryAfter, _ = retryAfter(p.Header)
				p.Err.RequestID = p.Header.Get("REQ_ID")
			}
			out.Parts = append(out.Parts, p)
		}
	}
	return out, nil
}

func (b *Batch) idempotent() bool {
	for _, it := range b.items {
		reqs := it.cs.requests()
		if it.req != nil {
			reqs = []Request{*it.req}
		}
		for _, r := range reqs {
			if !safeToRepeat(r) {
				return false
			}
		}
	}
	return true
}

// request finds the request a part with contentID answers: the item's
// own request, or the change set's request with that Content-ID (or its
// only request, if the answer names none).
func (it batchItem) request(contentID string) (Request, bool) {
	if it.req != nil {
		return *it.req, true
	}
	for i, id := range it.cs.ids {
		if id == contentID {
			return it.cs.reqs[i], true
		}
	}
	if contentID == "" && len(it.cs.reqs) == 1 {
		return it.cs.reqs[0], true
	}
	return Request{}, false
}

func (cs *ChangeSet) requests() []Request {
	if cs == nil {
		return nil
	}
	return cs.reqs
}

package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/notefiles"
)

// fakeDocs serves one document with content, for the owner it was asked for.
type fakeDocs struct {
	doc                  notefiles.Document
	content              []byte
	describeErr, openErr error
	failAfter            int64 // the content's reader fails after this many bytes (0: never)
	owner                notefiles.Owner
	described, opened    int
}

func (f *fakeDocs) Describe(_ context.Context, o notefiles.Owner, id string) (notefiles.Document, error) {
	f.owner, f.described = o, f.described+1
	if f.describeErr != nil {
		return notefiles.Document{}, f.describeErr
	}
	d := f.doc
	d.NoteID = id
	return d, nil
}

func (f *fakeDocs) Open(context.Context, notefiles.Owner, notefiles.Document) (io.ReadSeekCloser, error) {
	f.opened++
	if f.openErr != nil {
		return nil, f.openErr
	}
	if f.failAfter > 0 {
		return readSeekNopCloser{failingAfter{bytes.NewReader(f.content), f.failAfter}}, nil
	}
	return readSeekNopCloser{bytes.NewReader(f.content)}, nil
}

type readSeekNopCloser struct{ io.ReadSeeker }

// failingAfter reads the content up to limit bytes, then fails (the
// cache's blob read cut off).
type failingAfter struct {
	*bytes.Reader
	limit int64
}

func (f failingAfter) Read(p []byte) (int, error) {
	pos, _ := f.Seek(0, io.SeekCurrent)
	if pos >= f.limit {
		return 0, io.ErrUnexpectedEOF
	}
	return f.Reader.Read(p[:min(int64(len(p)), f.limit-pos)])
}

func (readSeekNopCloser) Close() error { return nil }

const noteID = "0f8fad5b-d9cb-469f-a165-70867728950e"

func newDocs() *fakeDocs {
	content := make([]byte, 1000)
	for i := range content {
		content[i] = byte(i * 7)
	}
	return &fakeDocs{content: content, doc: notefiles.Document{FileName: "Angebot für Müller.pdf", MimeType: "application/pdf",
		Size: int64(len(content)), Version: "12345", ModifiedOn: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)}}
}

// getDocument sends GET /api/documents/{id} as the caller of "Bearer ok"
// with header (name, value pairs) and returns the answer and its body.
func getDocument(t *testing.T, docs Documents, id string, header ...string) (*http.Response, []byte) {
	t.Helper()
	srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(io.Discard, nil)), Deps{Auth: fakeAuth{}, Documents: docs}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/documents/"+id, nil)
	req.Header.Set("Authorization", "Bearer ok")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func errorOf(t *testing.T, body []byte) ErrorDetail {
	t.Helper()
	var eb ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return eb.Error
}

// TestDocumentDownload: the caller's document, whole, with its type,
// length, version and name (a non-ASCII name survives the round trip).
func TestDocumentDownload(t *testing.T) {
	docs := newDocs()
	resp, body := getDocument(t, docs, strings.ToUpper(noteID))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, docs.content) {
		t.Fatalf("GET = %d with %d bytes, want 200 with the %d bytes of the file", resp.StatusCode, len(body), len(docs.content))
	}
	if docs.owner != (notefiles.Owner{TenantID: "t", UserID: "u"}) {
		t.Errorf("the document was looked up for %+v, want the caller t/u", docs.owner)
	}
	for name, want := range map[string]string{
		"Content-Type":           "application/pdf",
		"Content-Length":         strconv.Itoa(len(docs.content)),
		"ETag":                   `"12345"`,
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	cd := resp.Header.Get("Content-Disposition")
	_, params, err := mime.ParseMediaType(cd)
	if !strings.HasPrefix(cd, "attachment; filename*=utf-8''") || err != nil || params["filename"] != "Angebot für Müller.pdf" {
		t.Errorf("Content-Disposition = %q (%v); want an attachment whose filename*=utf-8'' decodes to Angebot für Müller.pdf", cd, err)
	}
}

// TestDocumentFileNameIsSanitised: a file name cannot name a path or
// carry control characters into the app's file system.
func TestDocumentFileNameIsSanitised(t *testing.T) {
	for name, want := range map[string]string{
		"../../etc/passwd":      ".._.._etc_passwd",
		`C:\Users\offer.pdf`:    "C:_Users_offer.pdf",
		"offer\r\n\x00\x7f.pdf": "offer.pdf",
	} {
		docs := newDocs()
		docs.doc.FileName = name
		resp, _ := getDocument(t, docs, noteID)
		disposition, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil || disposition != "attachment" || params["filename"] != want {
			t.Errorf("file name %q: Content-Disposition %q (%v), want an attachment named %q", name, resp.Header.Get("Content-Disposition"), err, want)
		}
	}
}

// TestDocumentMalformedID: an id that is not a GUID is a 400 naming the
// field, and nothing is looked up.
func TestDocumentMalformedID(t *testing.T) {
	for _, id := range []string{"not-a-note", noteID[:35] + "g", "{" + noteID + "}", noteID + "0", strings.ReplaceAll(noteID, "-", "")} {
		docs := newDocs()
		resp, body := getDocument(t, docs, id)
		e := errorOf(t, body)
		if resp.StatusCode != http.StatusBadRequest || len(e.Problems) != 1 || e.Problems[0].Field != "id" || docs.described != 0 {
			t.Errorf("GET /api/documents/%s = %d %s, %d lookups; want 400 naming id, none", id, resp.StatusCode, body, docs.described)
		}
	}
}

func TestDocumentNotFound(t *testing.T) {
	docs := newDocs()
	docs.describeErr = apperr.E(apperr.NotFound, "you have no note %s", noteID)
	resp, body := getDocument(t, docs, noteID)
	if e := errorOf(t, body); resp.StatusCode != http.StatusNotFound || e.Code != apperr.NotFound || docs.opened != 0 {
		t.Errorf("GET of a note the caller lacks = %d %s; want 404 not_found, the file never opened", resp.StatusCode, body)
	}
}

// TestDocumentNotModified: the app's copy of this version is current
// (If-None-Match): 304 without opening the file; another version is sent.
func TestDocumentNotModified(t *testing.T) {
	for _, inm := range []string{`"12345"`, `W/"12345"`, `"11111", "12345"`, "*"} {
		docs := newDocs()
		resp, body := getDocument(t, docs, noteID, "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != `"12345"` || docs.opened != 0 {
			t.Errorf("If-None-Match %s = %d, %d bytes, ETag %q, opened %d times; want 304, empty, the ETag, never opened",
				inm, resp.StatusCode, len(body), resp.Header.Get("ETag"), docs.opened)
		}
	}
	docs := newDocs()
	if resp, body := getDocument(t, docs, noteID, "If-None-Match", `"11111"`); resp.StatusCode != http.StatusOK || !bytes.Equal(body, docs.content) {
		t.Errorf("If-None-Match of an older version = %d with %d bytes, want 200 with the file", resp.StatusCode, len(body))
	}
	// If-Modified-Since alone: 304 when the note did not change since,
	// without reading the file; the file when it did.
	docs = newDocs()
	if resp, _ := getDocument(t, docs, noteID, "If-Modified-Since", "Mon, 02 Mar 2026 09:30:00 GMT"); resp.StatusCode != http.StatusNotModified || docs.opened != 0 {
		t.Errorf("If-Modified-Since the note's time = %d, opened %d times; want 304, never opened", resp.StatusCode, docs.opened)
	}
	if resp, body := getDocument(t, docs, noteID, "If-Modified-Since", "Mon, 02 Mar 2026 09:29:59 GMT"); resp.StatusCode != http.StatusOK || !bytes.Equal(body, docs.content) {
		t.Errorf("If-Modified-Since before the note's time = %d with %d bytes, want 200 with the file", resp.StatusCode, len(body))
	}
}

// TestDocumentRange: a download resumed with Range gets those bytes; an
// If-Range naming an older version gets the whole file instead.
func TestDocumentRange(t *testing.T) {
	docs := newDocs()
	resp, body := getDocument(t, docs, noteID, "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, docs.content[10:20]) ||
		resp.Header.Get("Content-Range") != "bytes 10-19/"+strconv.Itoa(len(docs.content)) {
		t.Errorf("Range bytes=10-19 = %d %q with %d bytes; want 206, bytes 10-19/%d and bytes 10 to 19",
			resp.StatusCode, resp.Header.Get("Content-Range"), len(body), len(docs.content))
	}
	resp, body = getDocument(t, docs, noteID, "Range", "bytes=10-19", "If-Range", `"11111"`)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, docs.content) {
		t.Errorf("Range with a stale If-Range = %d with %d bytes, want 200 with the whole file", resp.StatusCode, len(body))
	}
}

// TestDocumentThrottled: Dynamics' throttling is a 503 with Retry-After
// and a JSON error, never a partial file.
func TestDocumentThrottled(t *testing.T) {
	docs := newDocs()
	docs.openErr = &apperr.Error{Kind: apperr.Throttled, RetryAfter: 30 * time.Second, Message: "Dynamics 365 is busy for your account; try again after Retry-After"}
	resp, body := getDocument(t, docs, noteID)
	e := errorOf(t, body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "30" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || e.Function != "Documents" || !strings.Contains(e.Message, "busy") {
		t.Errorf("throttled download = %d Retry-After %q %s; want 503, Retry-After 30 and a JSON error saying Dynamics is busy",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestDocumentInvalidMimeType(t *testing.T) {
	docs := newDocs()
	docs.doc.MimeType = "pdf document"
	resp, body := getDocument(t, docs, noteID)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/octet-stream" || !bytes.Equal(body, docs.content) {
		t.Errorf("file of type %q = %d %q, want 200 application/octet-stream", docs.doc.MimeType, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestDocumentCutShortFailsVisibly: when the copy cannot be read to its
// end, the answer stops short of its Content-Length and the client's read
// fails; it never looks like a whole file.
func TestDocumentCutShortFailsVisibly(t *testing.T) {
	docs := newDocs()
	docs.failAfter = 300
	srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(io.Discard, nil)), Deps{Auth: fakeAuth{}, Documents: docs}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/documents/"+noteID, nil)
	req.Header.Set("Authorization", "Bearer ok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("a download cut after 300 of %d bytes read %d bytes without an error (Content-Length %d)", len(docs.content), len(body), resp.ContentLength)
	}
	if resp.ContentLength != int64(len(docs.content)) || len(body) != 300 {
		t.Errorf("Content-Length %d, %d bytes read; want %d announced and the 300 sent", resp.ContentLength, len(body), len(docs.content))
	}
}

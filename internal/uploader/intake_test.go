package uploader

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// Intake reads a report once, as it arrives, and stores nothing of one it
// refuses. These tests use the fixture's in-memory Blobs; intake_e2e_test.go
// runs the same through the whole connector and Blob Storage.

// spoolDir points the intake's temporary files at a directory of the
// test's, and returns a check that it is empty.
func spoolDir(t *testing.T) func() {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return func() {
		t.Helper()
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("the intake left %d temporary file(s), e.g. %s", len(left), left[0].Name())
		}
	}
}

func (f *fixture) tryAccept(body io.Reader) (Status, bool, error) {
	return f.svc.Accept(context.Background(), f.owner, "application/json", body)
}

func kindOf(err error) apperr.Kind {
	if e, ok := apperr.As(err); ok {
		return e.Kind
	}
	return ""
}

func (f *fixture) noBlobs(t *testing.T, what string) {
	t.Helper()
	f.blobs.mu.Lock()
	defer f.blobs.mu.Unlock()
	if len(f.blobs.blobs) > 0 {
		var names []string
		for n := range f.blobs.blobs {
			names = append(names, n)
		}
		t.Errorf("%s left blobs: %s", what, strings.Join(names, ", "))
	}
}

// countingReader counts what is read of it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless is a report whose document never ends.
type endless struct{ started bool }

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	if !e.started {
		e.started = true
		n = copy(p, meeting("big", "null")+`,"documents":[{"name":"a","mimeType":"a/b","content":"`)
	}
	for ; n < len(p); n++ {
		p[n] = 'A'
	}
	return n, nil
}

// TestAcceptBodyLimit: a body over the limit is 413 however it goes on,
// and the intake reads one byte past the limit and no more; a body of
// exactly the limit is read whole.
func TestAcceptBodyLimit(t *testing.T) {
	f := newFixture(t)
	empty := spoolDir(t)
	limit := f.svc.cfg.MaxBodyBytes
	in := &countingReader{r: &endless{}}
	if _, _, err := f.tryAccept(in); kindOf(err) != apperr.TooLarge {
		t.Errorf("an endless body: %v, want TooLarge", err)
	}
	if in.n > limit+1 {
		t.Errorf("the intake read %d bytes of an endless body, more than the limit (%d) and one", in.n, limit)
	}
	f.noBlobs(t, "an endless body")
	empty()

	exact := meeting("exact", "null") + "}"
	exact += strings.Repeat(" ", int(limit)-len(exact))
	if _, ok, err := f.tryAccept(strings.NewReader(exact)); err != nil || !ok {
		t.Errorf("a body of exactly the limit: %v, %v; want it accepted", ok, err)
	}
	if _, _, err := f.tryAccept(strings.NewReader(exact + " ")); kindOf(err) != apperr.TooLarge {
		t.Errorf("a body one byte over the limit: %v, want TooLarge", err)
	}
	empty()
}

// TestAcceptRefusedStoresNothing: a report refused while it streams (cut
// in a document, a document over maxuploadfilesize, a key given twice, a
// read that fails) leaves no blob, no row and no temporary file.
func TestAcceptRefusedStoresNothing(t *testing.T) {
	f := newFixture(t)
	empty := spoolDir(t)
	if err := f.sim.UpdateRow("organizations", dataversesim.OrganizationID.String(), map[string]any{"maxuploadfilesize": 1000}); err != nil {
		t.Fatal(err)
	}
	doc := func(content string) string {
		return `{"name":"a.bin","mimeType":"application/octet-stream","content":"` + content + `"}`
	}
	small := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 600))
	whole := meeting("r-1", "null") + `,"documents":[` + doc(small) + `,` + doc(small[:400]+fmt.Sprintf(`\u%04x`, small[400])+small[401:]) + `]}`
	tests := []struct {
		name string
		body io.Reader
		kind apperr.Kind
		want string
	}{
		{"cut in a document", strings.NewReader(whole[:strings.LastIndex(whole, `\u`)+3]), apperr.Invalid, "(body): malformed JSON: it ends early"},
		{"over maxuploadfilesize", strings.NewReader(meeting("r-1", "null") + `,"documents":[` + doc(small) + `,` + doc(strings.Repeat("QUJD", 300)) + `]}`),
			apperr.Invalid, "documents[1].content: is 1200 bytes of Base64; the organisation's Dynamics accepts at most 1000 (maxuploadfilesize)"},
		{"a key twice", strings.NewReader(meeting("r-1", "null") + `,"documents":[` + doc(small) + `],"customers":[{"entitySet":"accounts","fields":{"name":"a","name":"b"}}]}`),
			apperr.Invalid, "customers[0].fields.name: is given twice"},
		{"the connection fails", io.MultiReader(strings.NewReader(whole[:len(whole)-10]), iotestErr{}), apperr.Transient, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.tryAccept(tc.body)
			if kindOf(err) != tc.kind {
				t.Fatalf("Accept = %v, want %s", err, tc.kind)
			}
			if tc.want != "" {
				e, _ := apperr.As(err)
				if len(e.Problems) != 1 || !strings.HasPrefix(e.Problems[0].String(), tc.want) {
					t.Errorf("problems = %v, want %q", e.Problems, tc.want)
				}
			}
			f.noBlobs(t, tc.name)
			if _, err := f.rows.Get(context.Background(), tenant, user, "r-1"); err == nil {
				t.Errorf("%s left a row", tc.name)
			}
			empty()
		})
	}
	// The whole report is accepted, and stores each document once.
	if _, ok, err := f.tryAccept(strings.NewReader(whole)); err != nil || !ok {
		t.Fatalf("the whole report: %v, %v", ok, err)
	}
	if n := len(f.blobs.blobs); n != 2 {
		t.Errorf("%d blobs for a report and its one document (sent twice), want 2", n)
	}
	empty()
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// TestAcceptEscapedContent: a document whose Base64 is written with JSON
// escapes ("\/", "\u002b") and line breaks is the same document, stored
// under the same name, as the plain spelling: sent again that way, the
// report is recognised (200, nothing stored again).
func TestAcceptEscapedContent(t *testing.T) {
	f := newFixture(t)
	empty := spoolDir(t)
	file := make([]byte, 5000)
	for i := range file {
		file[i] = byte(i * 7)
	}
	plain := base64.StdEncoding.EncodeToString(file)
	escaped := strings.NewReplacer("/", `\/`, "+", `\u002b`).Replace(plain[:3000]) + `\r\n` + plain[3000:]
	report := func(content string) io.Reader {
		return strings.NewReader(meeting("esc-1", "null") + `,"documents":[{"name":"a.bin","mimeType":"application/octet-stream","content":"` + content + `"}]}`)
	}
	st, ok, err := f.tryAccept(report(escaped))
	if err != nil || !ok {
		t.Fatalf("escaped: %v, %v", ok, err)
	}
	row := f.row(t, st.UploadID)
	var stored []byte
	for name, b := range f.blobs.blobs {
		if strings.Contains(name, "/document-") {
			stored = b
		}
	}
	if !bytes.Equal(stored, file) {
		t.Errorf("the stored document (%d bytes) is not the file (%d bytes)", len(stored), len(file))
	}
	blobs := len(f.blobs.blobs)
	if _, ok, err := f.tryAccept(report(plain)); err != nil || ok {
		t.Errorf("the same report, plain: %v, %v; want it recognised (not accepted again)", ok, err)
	}
	if f.row(t, st.UploadID).ContentHash != row.ContentHash || len(f.blobs.blobs) != blobs {
		t.Errorf("the plain spelling changed the upload's hash or blobs")
	}
	empty()
}

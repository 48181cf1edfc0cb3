package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/uploadconfig"
)

// withDocuments is a valid report whose documents are the given JSON.
func withDocuments(docs string) string {
	return `{"uploadId":"u","meeting":{"subject":"s","start":"2026-03-02T10:00:00Z","end":"2026-03-02T10:00:00Z"},"documents":[` + docs + `]}`
}

// problems returns err's problems as "field: message", failing unless err
// is an Invalid error.
func problems(t *testing.T, err error) []string {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.Invalid {
		t.Fatalf("error = %v, want an Invalid error", err)
	}
	var got []string
	for _, p := range e.Problems {
		got = append(got, p.String())
	}
	return got
}

// TestDecodeContentEscapes: a document's content is a JSON string, so any
// of its characters may be escaped (many JSON writers send "/" as "\/"),
// and Base64 may be broken into lines (MIME's 76 characters, CRLF or LF).
// Every spelling decodes to the same file, the same SHA-256 and the same
// report hash, also where an escape straddles the scanner's buffer.
func TestDecodeContentEscapes(t *testing.T) {
	file := make([]byte, 3*bufferSize+1234) // larger than the body's buffer
	r := rand.New(rand.NewPCG(1, 2))
	for i := range file {
		file[i] = byte(r.UintN(256))
	}
	plain := base64.StdEncoding.EncodeToString(file)
	if !strings.Contains(plain, "/") || !strings.Contains(plain, "+") {
		t.Fatal("the test file's Base64 has no '/' or '+' to escape")
	}
	var wrapped strings.Builder
	for i := 0; i < len(plain); i += 76 {
		wrapped.WriteString(plain[i:min(i+76, len(plain))])
		wrapped.WriteString(`\r\n`)
	}
	spellings := map[string]string{
		"plain":             plain,
		`\/`:                strings.ReplaceAll(plain, "/", `\/`),
		`\u002b and \u002F`: strings.ReplaceAll(strings.ReplaceAll(plain, "+", `\u002b`), "/", `\u002F`),
		"every character":   everyEscaped(plain),
		"MIME lines":        wrapped.String(),
		"LF lines":          strings.ReplaceAll(wrapped.String(), `\r\n`, `\n`),
	}
	sum := sha256.Sum256(file)
	var hash string
	for name, content := range spellings {
		t.Run(name, func(t *testing.T) {
			spool := memSpool{}
			// One byte at a time: every escape is cut somewhere.
			rep, err := Decode(iotest.OneByteReader(strings.NewReader(withDocuments(`{"name":"a.bin","mimeType":"application/octet-stream","content":"`+content+`"}`))),
				uploadconfig.Default(), Limits{MaxDocuments: 1}, spool)
			if err != nil {
				t.Fatalf("Decode = %v", err)
			}
			d := rep.Documents[0]
			if !bytes.Equal(spool[0].Bytes(), file) || d.Size != int64(len(file)) || d.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("document: %d bytes (equal: %v), size %d, sha %s; want the file", spool[0].Len(), bytes.Equal(spool[0].Bytes(), file), d.Size, d.SHA256)
			}
			if hash == "" {
				hash = rep.ContentHash()
			} else if rep.ContentHash() != hash {
				t.Errorf("the report hashes to %s, another spelling to %s", rep.ContentHash(), hash)
			}
		})
	}
}

// everyEscaped spells every character of s as \u00XX.
func everyEscaped(s string) string {
	var b strings.Builder
	for i := range len(s) {
		b.WriteString(`\u00`)
		b.WriteString(hex.EncodeToString([]byte{s[i]}))
	}
	return b.String()
}

// TestDecodeCutBody: a body that ends anywhere inside a document (its
// content, an escape, a field) is malformed, and nothing else is said.
func TestDecodeCutBody(t *testing.T) {
	body := withDocuments(`{"name":"a.bin","mimeType":"application/octet-stream","content":"QUJD\/REVG\u0041A=="}`)
	start := strings.Index(body, `{"name"`)
	for cut := start; cut < len(body)-2; cut++ {
		_, err := Decode(strings.NewReader(body[:cut]), uploadconfig.Default(), lim, memSpool{})
		if got := problems(t, err); len(got) != 1 || got[0] != "(body): malformed JSON: it ends early" {
			t.Errorf("body cut after %q: %q, want only that it ends early", body[:cut], got)
		}
	}
}

// TestDecodeStopsKeepingAnOversizedDocument: a document longer than
// maxuploadfilesize is named with its size, and its Spool gets no more
// than the limit allows: the rest is decoded (to tell whether it is
// Base64 at all), not kept.
func TestDecodeStopsKeepingAnOversizedDocument(t *testing.T) {
	const max = 1000
	big := base64.StdEncoding.EncodeToString(make([]byte, 300000))
	spool := memSpool{}
	_, err := Decode(strings.NewReader(withDocuments(`{"name":"a","mimeType":"a/b","content":"`+big+`"},{"name":"b","mimeType":"a/b","content":"QUJD"}`)),
		uploadconfig.Default(), Limits{MaxDocuments: 2, MaxDocumentBase64: max}, spool)
	got := problems(t, err)
	if len(got) != 1 || got[0] != "documents[0].content: is 400000 bytes of Base64; the organisation's Dynamics accepts at most 1000 (maxuploadfilesize)" {
		t.Errorf("problems = %q", got)
	}
	if n := spool[0].Len(); n > max*3/4 {
		t.Errorf("the spool kept %d bytes of the oversized document, more than the %d the limit allows", n, max*3/4)
	}
	if spool[1].String() != "ABC" {
		t.Errorf("the next document = %q, want ABC", spool[1].String())
	}
}

// TestDecodeTooManyDocumentsAreNotSpooled: only the first MaxDocuments
// documents go to the Spool.
func TestDecodeTooManyDocumentsAreNotSpooled(t *testing.T) {
	doc := `{"name":"a","mimeType":"a/b","content":"QUJD"}`
	spool := memSpool{}
	_, err := Decode(strings.NewReader(withDocuments(doc+","+doc+","+doc)), uploadconfig.Default(), Limits{MaxDocuments: 2}, spool)
	if got := problems(t, err); len(got) != 1 || got[0] != "documents: has 3 elements; at most 2 are allowed" {
		t.Errorf("problems = %q", got)
	}
	if len(spool) != 2 {
		t.Errorf("%d documents spooled, want 2", len(spool))
	}
}

// TestDecodeReadAndSpoolErrors: a failure to read the body or to keep a
// document is returned as it is, not as a problem of the report.
func TestDecodeReadAndSpoolErrors(t *testing.T) {
	body := withDocuments(`{"name":"a","mimeType":"a/b","content":"` + strings.Repeat("QUJD", 50000) + `"}`)
	gone := errors.New("connection reset")
	_, err := Decode(io.MultiReader(strings.NewReader(body[:len(body)/2]), iotest.ErrReader(gone)), uploadconfig.Default(), lim, nil)
	if _, isApp := apperr.As(err); !errors.Is(err, gone) || isApp {
		t.Errorf("Decode of a body whose reading fails = %v, want the read error", err)
	}
	full := errors.New("no space left on device")
	_, err = Decode(strings.NewReader(body), uploadconfig.Default(), lim, failingSpool{full})
	if _, isApp := apperr.As(err); !errors.Is(err, full) || isApp {
		t.Errorf("Decode into a failing spool = %v, want the spool's error", err)
	}
}

type failingSpool struct{ err error }

func (f failingSpool) Document(int) (io.Writer, error) { return failingWriter(f), nil }

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

// FuzzContent: whatever a document's content is as JSON text, the
// streaming decoder says what base64.StdEncoding.DecodeString and
// strings.TrimSpace say of the string encoding/json reads from it (the
// decoder before streaming), and keeps the same bytes.
func FuzzContent(f *testing.F) {
	for _, s := range []string{"QUJD", `QU\/JD`, `\u0041AAA`, "AA==", `AA==\nAA==`, `AA=\n=`, `AA==AA==`, "AAA", " ", `\u00a0`, `\n`, "", `\ud83d\ude00`,
		`QUJD\r\nREVG`, "\xff", `\"`, "A\tAA", `\u002b\u002f==`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		body := withDocuments(`{"name":"a","mimeType":"a/b","content":"` + raw + `"}`)
		spool := memSpool{}
		rep, err := Decode(strings.NewReader(body), uploadconfig.Default(), Limits{MaxDocuments: 1, MaxDocumentBase64: 64}, spool)
		var s string
		if json.Unmarshal([]byte(`"`+raw+`"`), &s) != nil || !json.Valid([]byte(body)) {
			if got := problems(t, err); len(got) != 1 || !strings.HasPrefix(got[0], "(body): ") {
				t.Fatalf("content %q, not JSON: %q, want a problem of the body", raw, got)
			}
			return
		}
		var want []string
		if strings.TrimSpace(s) == "" {
			want = append(want, "documents[0].content: is empty")
		}
		b, derr := base64.StdEncoding.DecodeString(s)
		switch {
		case s == "":
		case derr != nil:
			want = append(want, "documents[0].content: is not standard Base64 (RFC 4648 §4, with padding)")
		case base64.StdEncoding.EncodedLen(len(b)) > 64:
			want = append(want, "documents[0].content: is "+strconv.Itoa(base64.StdEncoding.EncodedLen(len(b)))+" bytes of Base64; the organisation's Dynamics accepts at most 64 (maxuploadfilesize)")
		}
		if len(want) > 0 {
			if got := problems(t, err); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("content %q (%q): %q, want %q", raw, s, got, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("content %q (%q): %v, want it accepted", raw, s, err)
		}
		sum := sha256.Sum256(b)
		if !bytes.Equal(spool[0].Bytes(), b) || rep.Documents[0].SHA256 != hex.EncodeToString(sum[:]) || rep.Documents[0].Size != int64(len(b)) {
			t.Fatalf("content %q: kept %q (%+v), want %q", raw, spool[0].Bytes(), rep.Documents[0], b)
		}
	})
}

package documents_test

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/pitcher/connector/internal/documents"
)

// TestSpool: each document is written once into a file of its own, read
// back whole from its start (as often as a retried request needs), and
// Close leaves nothing in the directory. Where the system allows it the
// files have no name even while open, so a crash leaves nothing either.
func TestSpool(t *testing.T) {
	dir := t.TempDir()
	sp := documents.NewSpool(dir)
	docs := [][]byte{bytes.Repeat([]byte("first "), 10000), []byte("second"), {}}
	for i, d := range docs {
		w, err := sp.Document(i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sp.Document(1); err == nil {
		t.Error("a second writer for one document, want an error")
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("%d spool file(s) have a name while open", len(left))
		}
	}
	for i, d := range docs {
		for range 2 {
			r, err := sp.Open(i)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, d) {
				t.Errorf("document %d = %d bytes, %v; want %d", i, len(got), err, len(d))
			}
		}
	}
	if _, err := sp.Open(7); err == nil {
		t.Error("Open of a document never written, want an error")
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("Close left %d file(s)", len(left))
	}
}

package documents_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/localworld/testenv"
)

func newStore(t *testing.T) (*documents.Store, *container.Client) {
	t.Helper()
	name := strings.ToLower(testenv.TablePrefix(t))
	c, err := container.NewClientFromConnectionString(testenv.Storage(t), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := documents.New(c)
	for range 2 { // creating it again is not an error
		if err := s.EnsureContainer(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = c.Delete(context.Background(), nil) })
	return s, c
}

func TestPutGetDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("meeting notes "), 10000)
	if err := s.Put(ctx, "t/u/r-1/doc", data); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "t/u/r-1/doc")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
	}
	if err := s.Delete(ctx, "t/u/r-1/doc", "t/u/r-1/never-there"); err != nil {
		t.Fatalf("Delete = %v, want blobs already gone ignored", err)
	}
	if _, err := s.Get(ctx, "t/u/r-1/doc"); !errors.Is(err, documents.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
}

// TestCorruptBlobIsRefused: a blob whose content no longer matches its
// SHA-256 is never handed over as if it were whole.
func TestCorruptBlobIsRefused(t *testing.T) {
	s, c := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "doc", []byte("original")); err != nil {
		t.Fatal(err)
	}
	props, err := c.NewBlobClient("doc").GetProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the content, keeping the original's metadata.
	if _, err := c.NewBlockBlobClient("doc").Upload(ctx, streaming.NopCloser(strings.NewReader("tampered")), &blockblob.UploadOptions{Metadata: props.Metadata}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "doc"); !errors.Is(err, documents.ErrCorrupt) {
		t.Errorf("Get of a tampered blob = %v, want ErrCorrupt", err)
	}
	r, err := s.Open(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, documents.ErrCorrupt) {
		t.Errorf("reading a tampered blob to the end = %v, want ErrCorrupt instead of EOF", err)
	}
}

// TestPutFromSpool: a document spooled while its report was read is
// stored from its file, streamed, with the SHA-256 the reader computed,
// and reads back whole; a wrong SHA-256 makes the blob unreadable rather
// than accepted.
func TestPutFromSpool(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	sp := documents.NewSpool(t.TempDir())
	defer sp.Close()
	data := bytes.Repeat([]byte("a scanned page "), 300000) // 4.5 MB
	w, err := sp.Document(0)
	if err != nil {
		t.Fatal(err)
	}
	for b := data; len(b) > 0; b = b[min(len(b), 24<<10):] {
		if _, err := w.Write(b[:min(len(b), 24<<10)]); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(data)
	body, err := sp.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutFrom(ctx, "t/u/r-1/document", body, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "t/u/r-1/document"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the %d bytes spooled", len(got), err, len(data))
	}
	body, _ = sp.Open(0)
	if err := s.PutFrom(ctx, "t/u/r-1/wrong", body, strings.Repeat("0", 64)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "t/u/r-1/wrong"); !errors.Is(err, documents.ErrCorrupt) {
		t.Errorf("Get of a blob stored with a wrong SHA-256 = %v, want ErrCorrupt", err)
	}
}

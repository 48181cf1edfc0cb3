// Package documents keeps what UploadIntake accepts until UploadWorker has
// written it into Dynamics: each report's stored form and its documents, as
// blobs in one Blob Storage container (the claim check of
// docs/architecture.md, "Runtime"). Every blob carries the SHA-256 of its
// content, and every read checks it, so a damaged blob is never written into
// Dynamics.
package documents

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// ErrNotFound: there is no such blob.
var ErrNotFound = errors.New("documents: not found")

// ErrCorrupt: the blob's content does not match the SHA-256 stored with it.
var ErrCorrupt = errors.New("documents: content does not match its SHA-256")

// metaSHA256 is the metadata entry holding a blob's SHA-256 (hex).
const metaSHA256 = "sha256"

// Store is one container. It is safe for concurrent use.
type Store struct{ c *container.Client }

// New returns the store of container c.
func New(c *container.Client) *Store { return &Store{c: c} }

// EnsureContainer creates the container if it does not exist (in Azure the
// infrastructure creates it; locally the handler does).
func (s *Store) EnsureContainer(ctx context.Context) error {
	_, err := s.c.Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("documents: create container: %w", err)
	}
	return nil
}

// Put stores data as blob name with its SHA-256, replacing any blob of
// that name.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	sum := sha256.Sum256(data)
	return s.PutFrom(ctx, name, bytes.NewReader(data), hex.EncodeToString(sum[:]))
}

// PutFrom stores what body holds, from its start to its end, as blob name
// with sha256, the content's SHA-256 (lower-case hex) as the caller
// computed it, replacing any blob of that name. The content is streamed
// in one request (Put Blob), not held in memory; body is read again from
// its start when the request is retried. Every read checks the SHA-256,
// so a wrong one makes the blob unreadable, never accepted.
func (s *Store) PutFrom(ctx context.Context, name string, body io.ReadSeeker, sha256 string) error {
	_, err := s.c.NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(body),
		&blockblob.UploadOptions{Metadata: map[string]*string{metaSHA256: &sha256}})
	if err != nil {
		return fmt.Errorf("documents: put %s: %w", name, err)
	}
	return nil
}

// Get returns the content of blob name, checked against its SHA-256
// (ErrCorrupt), or ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) ([]byte, error) {
	r, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Open streams the content of blob name, or fails with ErrNotFound. The
// reader checks the content's SHA-256 as it is read: instead of io.EOF it
// returns ErrCorrupt when the content does not match, so a consumer that
// reads to the end never accepts a damaged blob.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := s.c.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		var re *azcore.ResponseError
		if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) || errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return nil, fmt.Errorf("documents: get %s: %w", name, err)
	}
	want := ""
	for k, v := range resp.Metadata {
		if strings.EqualFold(k, metaSHA256) && v != nil {
			want = *v
		}
	}
	if want == "" {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s has no sha256", ErrCorrupt, name)
	}
	return &verifying{rc: resp.Body, h: sha256.New(), want: want, name: name}, nil
}

// verifying hashes what is read and compares at the end.
type verifying struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
	name string
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF && hex.EncodeToString(v.h.Sum(nil)) != v.want {
		return n, fmt.Errorf("%w: %s", ErrCorrupt, v.name)
	}
	return n, err
}

func (v *verifying) Close() error { return v.rc.Close() }

// Delete deletes the named blobs; ones already gone are not an error.
func (s *Store) Delete(ctx context.Context, names ...string) error {
	var errs []error
	for _, n := range names {
		_, err := s.c.NewBlobClient(n).Delete(ctx, nil)
		if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
			errs = append(errs, fmt.Errorf("documents: delete %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

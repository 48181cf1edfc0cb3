// Package notefiles serves the documents of the notes in a user's mirror
// (GET /api/documents/{id}): a document is read from Dataverse once, as a
// stream decoded as it arrives, staged block by block into Blob Storage
// under the user's prefix, and served from there with ranges, so a second
// download of the same version costs no Dataverse request and memory never
// grows with the file. A cached file carries the version of the note it
// was read for; the sync forgets the files of notes that change or go.
package notefiles

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/syncconfig"
)

// Container is the blob container of cached documents.
const Container = "note-files"

// blockSize is the block a document is staged in: the memory one download
// holds, whatever the file's size.
const blockSize = 4 << 20

// fillTimeout bounds the read of one file from Dataverse into the cache
// (an HTTP function's answer must start within 230 s in Azure).
const fillTimeout = 200 * time.Second

// settingsTimeout bounds the read of the organization's maxuploadfilesize.
const settingsTimeout = 5 * time.Second

// Owner is the user a download is for.
type Owner struct {
	TenantID, UserID, OrgURL string
}

// Mirror reads a row of the user's mirror.
type Mirror interface {
	Record(ctx context.Context, tenant, user, set, id string) (json.RawMessage, bool, error)
}

// Service serves and caches documents. It is safe for concurrent use.
type Service struct {
	mirror Mirror
	blobs  *container.Client
	// client returns a Dataverse client acting as o.
	client func(o Owner) (*dataverse.Client, error)
	// maxFileSize is SYNC_CONFIG's notes.maxFileSize; 0: the organization's.
	maxFileSize int64
	settings    *dataverse.SettingsCache
	fills       singleflight.Group
}

// New returns the service. client makes a user's Dataverse client.
func New(m Mirror, blobs *container.Client, client func(o Owner) (*dataverse.Client, error), maxFileSize int64) *Service {
	return &Service{mirror: m, blobs: blobs, client: client, maxFileSize: maxFileSize,
		settings: dataverse.NewSettingsCache(time.Hour, nil)}
}

// Document is a note's file as the user's mirror describes it.
type Document struct {
	NoteID   string
	FileName string
	MimeType string
	Size     int64
	// Version is the note's row version: a changed note is a new version.
	Version    string
	ModifiedOn time.Time
}

// ETag is the document's strong entity tag (quoted): its note's version.
func (d Document) ETag() string { return `"` + d.Version + `"` }

// Describe returns the document of note id (lower-case GUID) in o's
// mirror: NotFound when the mirror holds no such note, or the note has no
// file. It reads only the mirror.
func (s *Service) Describe(ctx context.Context, o Owner, id string) (Document, error) {
	data, ok, err := s.mirror.Record(ctx, o.TenantID, o.UserID, syncconfig.NotesSet, id)
	if err != nil {
		return Document{}, apperr.Wrap(apperr.Transient, err, "the note cannot be read right now; try again")
	}
	if !ok {
		return Document{}, apperr.E(apperr.NotFound, "you have no note %s: it is not among the notes synced to you (or it was deleted); read /api/changes for the notes you have", id)
	}
	var n struct {
		FileName   string    `json:"filename"`
		MimeType   string    `json:"mimetype"`
		Size       *int64    `json:"filesize"`
		IsDocument bool      `json:"isdocument"`
		ETag       string    `json:"@odata.etag"`
		ModifiedOn time.Time `json:"modifiedon"`
	}
	if err := json.Unmarshal(data, &n); err != nil {
		return Document{}, apperr.Wrap(apperr.Internal, err, "the synced note cannot be read")
	}
	if !n.IsDocument || n.Size == nil {
		return Document{}, apperr.E(apperr.NotFound, "the note %s has no file attached", id)
	}
	d := Document{NoteID: id, FileName: n.FileName, MimeType: n.MimeType, Size: *n.Size, ModifiedOn: n.ModifiedOn}
	// W/"12345" names the row version; without one, the time it changed.
	d.Version = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(n.ETag, "W/"), `"`), `"`)
	if d.Version == "" || strings.ContainsAny(d.Version, `"\ `) {
		d.Version = strconv.FormatInt(n.ModifiedOn.UnixMilli(), 10)
	}
	if d.MimeType == "" {
		d.MimeType = "application/octet-stream"
	}
	return d, nil
}

// blobName is where o's copy of note id is cached: under the user's
// prefix, so their erasure removes it.
func blobName(tenant, user, id string) string { return tenant + "/" + user + "/" + id }

// metaVersion is the metadata entry naming the version a blob holds.
const metaVersion = "version"

// Open returns d's content from the cache, reading it from Dataverse into
// the cache first when the cache does not hold this version. The reader
// fetches ranges from Blob Storage as it is read (for http.ServeContent).
// Dynamics' refusals come back as apperr kinds: NotFound (the note or its
// file is gone; the cached copy is deleted), Forbidden, Throttled, and
// TooLarge for a file over the cap.
func (s *Service) Open(ctx context.Context, o Owner, d Document) (io.ReadSeekCloser, error) {
	b := s.blobs.NewBlobClient(blobName(o.TenantID, o.UserID, d.NoteID))
	if size, ok, err := cached(ctx, b, d); err != nil {
		return nil, err
	} else if ok {
		return &Reader{ctx: ctx, b: b, size: size}, nil
	}
	// One fill per document at a time in this instance: the others wait
	// for it and read what it cached.
	key := o.TenantID + "/" + o.UserID + "/" + d.NoteID + "/" + d.Version
	_, err, _ := s.fills.Do(key, func() (any, error) {
		// The fill outlives a client that gives up: its next try, or
		// another waiter, finds the file cached.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fillTimeout)
		defer cancel()
		return nil, s.fill(ctx, o, d)
	})
	if err != nil {
		return nil, err
	}
	size, ok, err := cached(ctx, b, d)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apperr.E(apperr.Transient, "the file was read from Dynamics but is not in the cache; try again")
	}
	return &Reader{ctx: ctx, b: b, size: size}, nil
}

// cached reports whether b holds version d.Version, and its size.
func cached(ctx context.Context, b *blob.Client, d Document) (int64, bool, error) {
	p, err := b.GetProperties(ctx, nil)
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, apperr.Wrap(apperr.Transient, err, "the document cache cannot be read right now; try again")
	}
	v := p.Metadata[metaVersion]
	if v == nil {
		v = p.Metadata["Version"] // Azure keeps the case the writer used; some emulators capitalise
	}
	if v == nil || *v != d.Version || p.ContentLength == nil {
		return 0, false, nil
	}
	return *p.ContentLength, true, nil
}

// limit is the largest file o may download: SYNC_CONFIG's cap, or the
// organization's maxuploadfilesize (0 when neither is known).
func (s *Service) limit(ctx context.Context, c *dataverse.Client) (int64, string) {
	if s.maxFileSize > 0 {
		return s.maxFileSize, "SYNC_CONFIG notes.maxFileSize"
	}
	org, err := s.settings.Get(ctx, c, settingsTimeout)
	if err != nil || org.MaxUploadFileSize <= 0 {
		return 0, ""
	}
	return org.MaxUploadFileSize, "the organization's maxuploadfilesize"
}

// fill reads d from Dataverse into the cache: staged in blocks as it is
// decoded, committed (with its version) only when every byte arrived and
// the size is the note's, so a cut stream never becomes a cached file.
func (s *Service) fill(ctx context.Context, o Owner, d Document) (err error) {
	c, err := s.client(o)
	if err != nil {
		return apperr.Wrap(apperr.Permanent, err, "your Dynamics environment's address is not usable; sign in again")
	}
	if max, what := s.limit(ctx, c); max > 0 && d.Size > max {
		return apperr.E(apperr.TooLarge, "the file is %d bytes; documents larger than %d bytes (%s) are not downloaded: open it in Dynamics 365", d.Size, max, what)
	}
	body, err := c.NoteDocument(ctx, d.NoteID)
	if err != nil {
		return s.refused(ctx, o, d, err)
	}
	defer body.Close()
	bb := s.blobs.NewBlockBlobClient(blobName(o.TenantID, o.UserID, d.NoteID))
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	var ids []string
	defer func() {
		if err != nil && len(ids) > 0 {
			s.discard(ctx, bb)
		}
	}()
	var n int64
	buf := make([]byte, blockSize)
	for {
		k, rerr := readBlock(body, buf)
		if k > 0 {
			n += int64(k)
			if n > d.Size {
				return apperr.E(apperr.Conflict, "the file changed in Dynamics after your last sync (it is larger than the %d bytes the note said); download it again after the next sync", d.Size)
			}
			// Block ids are one length within a blob, and unique to this
			// fill: two instances filling one blob never mix blocks.
			id := base64.StdEncoding.EncodeToString(fmt.Appendf(nonce[:12:12], "%08d", len(ids)))
			if err := s.stage(ctx, bb, id, buf[:k]); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return s.refused(ctx, o, d, rerr)
		}
	}
	if n != d.Size {
		return apperr.E(apperr.Conflict, "the file changed in Dynamics after your last sync (it has %d bytes, the note said %d); download it again after the next sync", n, d.Size)
	}
	v, ct := d.Version, d.MimeType
	_, err = bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		Metadata: map[string]*string{metaVersion: &v}, HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &ct}})
	if bloberror.HasCode(err, bloberror.InvalidBlockList) {
		return nil // another instance committed first, dropping these blocks; Open reads its copy
	}
	if err != nil {
		return apperr.Wrap(apperr.Transient, err, "the file cannot be cached right now; try again")
	}
	// An erasure deletes the mirror before the cache: if the note is gone
	// from the mirror now, the file may have been committed after the
	// erasure's sweep, and must not outlive it.
	if _, ok, rerr := s.mirror.Record(ctx, o.TenantID, o.UserID, syncconfig.NotesSet, d.NoteID); rerr == nil && !ok {
		_ = s.Forget(ctx, o.TenantID, o.UserID, []string{d.NoteID})
		return apperr.E(apperr.NotFound, "the note %s is no longer among your synced notes", d.NoteID)
	}
	return nil
}

// discardTimeout bounds the clean-up of a failed fill.
const discardTimeout = 10 * time.Second

// discard drops the blocks a failed fill staged for bb (Discard), within
// its own time.
func (s *Service) discard(ctx context.Context, bb *blockblob.Client) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	_ = Discard(ctx, bb)
}

// Discard drops the uncommitted blocks of a blob that was never committed.
// They are invisible to listings without uncommitted blobs, yet Azure
// keeps them for a week: an empty block list committed where no blob
// exists, then deleted, drops them now. Where a blob exists it does
// nothing (its blocks go with it); that is no error.
func Discard(ctx context.Context, bb *blockblob.Client) error {
	none := azcore.ETagAny
	resp, err := bb.CommitBlockList(ctx, nil, &blockblob.CommitBlockListOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &none}}})
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = bb.Delete(ctx, &blob.DeleteOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: resp.ETag}}})
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ConditionNotMet) {
		return nil
	}
	return err
}

// readBlock fills buf from r, returning io.EOF only at r's clean end. (Not
// io.ReadFull: it reports a short last block as io.ErrUnexpectedEOF, the
// very error of an HTTP body cut short, which must stay a failure to try
// again rather than pass for the end of the file.)
func readBlock(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// stage uploads one block, creating the container on first use (in Azure
// the infrastructure creates it).
func (s *Service) stage(ctx context.Context, bb *blockblob.Client, id string, data []byte) error {
	_, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(data)), nil)
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		if _, cerr := s.blobs.Create(ctx, nil); cerr != nil && !bloberror.HasCode(cerr, bloberror.ContainerAlreadyExists) {
			return apperr.Wrap(apperr.Transient, cerr, "the document cache cannot be created right now; try again")
		}
		_, err = bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(data)), nil)
	}
	if err != nil {
		return apperr.Wrap(apperr.Transient, err, "the file cannot be cached right now; try again")
	}
	return nil
}

// refused turns a failed read from Dynamics into what the app is told. A
// note or file Dynamics no longer has takes its cached copy with it.
func (s *Service) refused(ctx context.Context, o Owner, d Document, err error) error {
	if dataverse.IsNotFound(err) || errors.Is(err, dataverse.ErrNoDocument) {
		_ = s.Forget(ctx, o.TenantID, o.UserID, []string{d.NoteID})
		return apperr.E(apperr.NotFound, "the note %s or its file was deleted in Dynamics 365; the next sync removes it", d.NoteID)
	}
	switch c := apperr.ClassOf(err); c.Kind {
	case apperr.Forbidden:
		return apperr.Wrap(apperr.Forbidden, err, "Dynamics 365 does not let you read this note's file (your security role); ask your Dynamics administrator")
	case apperr.Throttled:
		return &apperr.Error{Kind: apperr.Throttled, RetryAfter: max(c.RetryAfter, time.Second), Err: err,
			Message: "Dynamics 365 is busy for your account; try again after Retry-After"}
	case apperr.Reauth:
		return apperr.Wrap(apperr.Reauth, err, "your Dynamics 365 sign-in has expired; sign in again")
	}
	return apperr.Wrap(apperr.Transient, err, "the file could not be read from Dynamics 365; try again (a download that stopped resumes with Range)")
}

// forgetConcurrency bounds the deletions of one Forget in flight.
const forgetConcurrency = 8

// Forget deletes the cached files of notes ids of user in tenant (those
// never cached cost one request each that finds nothing).
func (s *Service) Forget(ctx context.Context, tenant, user string, ids []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(forgetConcurrency)
	for _, id := range ids {
		g.Go(func() error {
			_, err := s.blobs.NewBlobClient(blobName(tenant, user, id)).Delete(gctx, nil)
			if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
				return fmt.Errorf("notefiles: forget the cached file of note %s: %w", id, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Reader reads a cached file from Blob Storage as it is read, one ranged
// download from each position sought; it implements io.ReadSeeker for
// http.ServeContent.
type Reader struct {
	ctx  context.Context
	b    *blob.Client
	size int64
	pos  int64
	body io.ReadCloser
	at   int64 // the position body reads from
}

// Size is the file's length.
func (r *Reader) Size() int64 { return r.size }

// Seek sets where the next Read starts.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("notefiles: seek before the start")
	}
	r.pos = offset
	return offset, nil
}

// Read reads from the current position; a file that ends early is
// io.ErrUnexpectedEOF, never a clean end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body == nil || r.at != r.pos {
		r.Close()
		resp, err := r.b.DownloadStream(r.ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: r.pos, Count: r.size - r.pos}})
		if err != nil {
			return 0, fmt.Errorf("notefiles: read the cached file: %w", err)
		}
		r.body, r.at = resp.Body, r.pos
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.at += int64(n)
	if err == io.EOF && r.pos < r.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close ends the download in progress.
func (r *Reader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}

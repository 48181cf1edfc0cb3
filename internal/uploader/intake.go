package uploader

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/report"
	"github.com/pitcher/connector/internal/store"
)

// Accept takes a report POSTed by o (UploadIntake). body is read once, as
// it arrives, and no further than Config.MaxBodyBytes and one byte:
// report.Decode decodes each document's Base64 into a temporary file
// (documents.Spool) and its SHA-256, and checks the rest, so nothing of a
// report it refuses is stored. A new report is stored (each document
// streamed from its file, then the report, in Blob Storage; the row
// queued) and sent to the uploads queue with MessageId = its upload id;
// accepted is then true. The same upload id with the same content again
// returns the current status and sends nothing (unless the first send
// failed); with different content it is a Conflict. Errors: Invalid
// (every problem named), TooLarge (the body limit), Conflict, Transient.
func (s *Service) Accept(ctx context.Context, o Owner, contentType string, body io.Reader) (st Status, accepted bool, err error) {
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		return Status{}, false, apperr.InvalidProblems("the request is not a meeting report",
			[]apperr.Problem{{Field: "Content-Type", Message: "must be application/json"}})
	}
	in := &limited{r: body, left: s.cfg.MaxBodyBytes}
	br := bufio.NewReaderSize(in, bodyBuffer)
	lim := report.Limits{MaxDocuments: s.cfg.MaxDocuments}
	if _, err := br.Peek(1); err == nil {
		lim.MaxDocumentBase64 = s.maxUpload(ctx, o)
	}
	spool := documents.NewSpool("")
	defer spool.Close()
	r, err := report.Decode(br, s.cfg.Allow, lim, spool)
	switch e, ok := apperr.As(err); {
	case err == nil:
	case errors.Is(err, errTooLarge):
		return Status{}, false, apperr.E(apperr.TooLarge, "the report is larger than %d bytes; send fewer or smaller documents", s.cfg.MaxBodyBytes)
	case ok && e.Kind == apperr.Invalid:
		return Status{}, false, err
	default: // reading the body, or spooling a document
		return Status{}, false, apperr.Wrap(apperr.Transient, err, "could not read the report; send it again")
	}
	hash := r.ContentHash()
	row, err := s.Rows.Get(ctx, o.TenantID, o.UserID, r.UploadID)
	switch {
	case err == nil:
		return s.again(ctx, row, hash)
	case !errors.Is(err, store.ErrNotFound):
		return Status{}, false, apperr.Wrap(apperr.Transient, err, "could not read the uploads; try again")
	}
	stored := map[string]bool{}
	for i, d := range r.Documents {
		if stored[d.SHA256] {
			continue
		}
		content, err := spool.Open(i)
		if err == nil {
			err = s.Blobs.PutFrom(ctx, documentBlob(o.TenantID, o.UserID, r.UploadID, d.SHA256), content, d.SHA256)
		}
		if err != nil {
			return Status{}, false, apperr.Wrap(apperr.Transient, err, "could not store a document; send the report again")
		}
		stored[d.SHA256] = true
	}
	if err := s.Blobs.Put(ctx, reportBlob(o.TenantID, o.UserID, r.UploadID, hash), r.Canonical()); err != nil {
		return Status{}, false, apperr.Wrap(apperr.Transient, err, "could not store the report; send it again")
	}
	now := s.now().UTC()
	row = store.Upload{TenantID: o.TenantID, UserID: o.UserID, UploadID: r.UploadID, Status: store.UploadQueued,
		ContentHash: hash, CreatedAt: now, UpdatedAt: now}
	etag, err := s.Rows.Insert(ctx, row)
	if errors.Is(err, store.ErrConflict) { // the same id sent twice at once
		existing, gerr := s.Rows.Get(ctx, o.TenantID, o.UserID, r.UploadID)
		if gerr != nil {
			return Status{}, false, apperr.Wrap(apperr.Transient, gerr, "could not read the uploads; try again")
		}
		if existing.ContentHash != hash {
			_ = s.Blobs.Delete(ctx, reportBlob(o.TenantID, o.UserID, r.UploadID, hash))
		}
		return s.again(ctx, existing, hash)
	}
	if err != nil {
		return Status{}, false, apperr.Wrap(apperr.Transient, err, "could not record the upload; send it again")
	}
	row.ETag = etag
	if err := s.stillConnected(ctx, o, r, hash); err != nil {
		return Status{}, false, err
	}
	if err := s.send(ctx, &row); err != nil {
		return Status{}, false, err
	}
	log := s.Logger.With("tenant", o.TenantID, "user", o.UserID, "upload", r.UploadID)
	log.InfoContext(ctx, "upload accepted", "customers", len(r.Customers), "notes", len(r.Notes), "documents", len(r.Documents), "bytes", s.cfg.MaxBodyBytes-in.left)
	counted(ctx, log, "accepted")
	return statusOf(row), true, nil
}

// stillConnected checks, after the upload is stored, that its user did not
// disconnect meanwhile (the API checked before). An erasure that began
// since either sees the stored upload, or is seen here and the upload is
// taken back, so an erased user's report never outlives the erasure.
func (s *Service) stillConnected(ctx context.Context, o Owner, r *report.Report, hash string) error {
	conn, err := s.Connections.Get(ctx, o.TenantID, o.UserID)
	if err == nil && conn.Status != store.StatusErasing {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return apperr.Wrap(apperr.Transient, err, "could not read your connection; send the report again")
	}
	names := []string{reportBlob(o.TenantID, o.UserID, r.UploadID, hash)}
	for _, d := range r.Documents {
		names = append(names, documentBlob(o.TenantID, o.UserID, r.UploadID, d.SHA256))
	}
	if err := errors.Join(s.Rows.Delete(ctx, o.TenantID, o.UserID, r.UploadID), s.Blobs.Delete(ctx, names...)); err != nil {
		return apperr.Wrap(apperr.Transient, err, "you disconnected from Dynamics 365 while the report was sent, and it could not be taken back yet; send it again")
	}
	return apperr.E(apperr.Forbidden, "you disconnected from Dynamics 365 while the report was sent; it was not kept. Connect again and send it")
}

// again answers a report whose upload id is taken.
func (s *Service) again(ctx context.Context, row store.Upload, hash string) (Status, bool, error) {
	if row.ContentHash != hash {
		return Status{}, false, apperr.E(apperr.Conflict,
			"upload id %s was already used for a different report; give every report its own upload id", row.UploadID)
	}
	if !row.MessageSent {
		if err := s.send(ctx, &row); err != nil {
			return Status{}, false, err
		}
	}
	return statusOf(row), false, nil
}

// send queues the upload's first message and records that it was sent.
// A failure to record it is only logged: sending again is harmless, since
// Service Bus drops a MessageId it has seen within a day.
func (s *Service) send(ctx context.Context, row *store.Upload) error {
	if err := s.Queue.Send(ctx, queue.NewUpload(row.TenantID, row.UserID, row.UploadID)); err != nil {
		return apperr.Wrap(apperr.Transient, fmt.Errorf("queue upload %s: %w", row.UploadID, err), "the report is stored but could not be queued; send it again")
	}
	row.MessageSent = true
	etag, err := s.Rows.Update(ctx, *row)
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil // the worker got the message first, and records it itself
	case err != nil:
		s.Logger.Warn("could not record that the upload was queued", "upload", row.UploadID, "error", err.Error())
		return nil
	}
	row.ETag = etag
	return nil
}

// bodyBuffer is the buffer a report is read through.
const bodyBuffer = 64 << 10

// errTooLarge: the body goes on past Config.MaxBodyBytes.
var errTooLarge = errors.New("uploader: the body is larger than the limit")

// limited reads at most left bytes of r, then fails with errTooLarge if r
// has more: it reads one byte past the limit to know, and nothing after.
type limited struct {
	r    io.Reader
	left int64
	err  error
}

func (l *limited) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.left <= 0 {
		var one [1]byte
		for {
			n, err := l.r.Read(one[:])
			if n > 0 {
				l.err = errTooLarge
				return 0, l.err
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

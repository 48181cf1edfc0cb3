package handlers

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/notefiles"
)

// Documents serves the files of the caller's notes (internal/notefiles).
type Documents interface {
	Describe(ctx context.Context, o notefiles.Owner, id string) (notefiles.Document, error)
	Open(ctx context.Context, o notefiles.Owner, d notefiles.Document) (io.ReadSeekCloser, error)
}

var _ Documents = (*notefiles.Service)(nil)

// documentDownload is the Documents function: GET /api/documents/{id}
// streams the file of a note the caller's mirror holds, with its type,
// length, name and a strong ETag; If-None-Match answers 304 without
// touching the file, Range 206 (http.ServeContent).
func documentDownload(docs Documents) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
		invocation := r.Header.Get("X-Azure-Functions-InvocationId")
		id := strings.ToLower(r.PathValue("id"))
		if len(id) != 36 || uuid.Validate(id) != nil {
			writeError(w, apperr.InvalidProblems("the note id is not valid", []apperr.Problem{{Field: "id",
				Message: "must be the annotationid of a note from /api/changes, a GUID such as 0f8fad5b-d9cb-469f-a165-70867728950e"}}), "Documents", invocation)
			return
		}
		o := notefiles.Owner{TenantID: caller.TenantID, UserID: caller.UserID, OrgURL: caller.OrgURL}
		d, err := docs.Describe(r.Context(), o, id)
		if err != nil {
			writeError(w, err, "Documents", invocation)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "private, no-cache")
		if matches(r.Header.Get("If-None-Match"), d.ETag()) || notModifiedSince(r.Header, d.ModifiedOn) {
			h.Set("ETag", d.ETag())
			w.WriteHeader(http.StatusNotModified)
			return
		}
		file, err := docs.Open(r.Context(), o, d)
		if err != nil {
			// Dynamics' throttling is not the app's doing: the app is told
			// the service is unavailable for a while, never a short file.
			if c := apperr.ClassOf(err); c.Kind == apperr.Throttled {
				h.Set("Retry-After", strconv.Itoa(int(c.RetryAfter.Seconds()+0.999)))
				msg := "Dynamics 365 is busy; try again after Retry-After"
				if e, ok := apperr.As(err); ok {
					msg = e.Message
				}
				err = apperr.Wrap(apperr.Transient, err, msg)
			}
			writeError(w, err, "Documents", invocation)
			return
		}
		defer file.Close()
		h.Set("ETag", d.ETag())
		h.Set("Content-Type", d.MimeType)
		if _, _, err := mime.ParseMediaType(d.MimeType); err != nil {
			h.Set("Content-Type", "application/octet-stream")
		}
		h.Set("Content-Disposition", disposition(d.FileName))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		// A read of the cache that fails midway ends the response short of
		// its Content-Length: the client sees the download fail, and
		// resumes it with Range.
		http.ServeContent(w, r, "", d.ModifiedOn, file)
	}
}

// matches reports whether an If-None-Match value names etag (weak
// comparison, RFC 9110 §13.1.2).
func matches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// notModifiedSince reports an If-Modified-Since the document's version
// satisfies, when no If-None-Match overrides it (RFC 9110 §13.1.3).
func notModifiedSince(h http.Header, modified time.Time) bool {
	if h.Get("If-None-Match") != "" || modified.IsZero() {
		return false
	}
	since, err := http.ParseTime(h.Get("If-Modified-Since"))
	return err == nil && !modified.Truncate(time.Second).After(since)
}

// disposition is the Content-Disposition of a download named name: the
// name without control characters or path separators, encoded as RFC 6266
// allows (filename*= for names that are not plain ASCII).
func disposition(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return -1
		case r == '/' || r == '\\':
			return '_'
		}
		return r
	}, name)
	if name == "" {
		return "attachment"
	}
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}

func documentsOr501(docs Documents) authedFunc {
	if docs == nil {
		return notImplementedAuthed("Documents")
	}
	return documentDownload(docs)
}

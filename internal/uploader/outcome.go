package uploader

import (
	"errors"
	"fmt"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
)

// outcomeKind is how an attempt ended, which decides the upload's status
// and the message's settlement (the one table of this edge):
//
//	done      → done;          message completed
//	throttled → retrying;      a retry scheduled at Retry-After, message completed
//	parked    → parked;        message completed; re-queued when the user signs in
//	failed    → failed;        message completed (Dynamics refused the report)
//	transient → retrying, or dead_lettered on the last delivery; message
//	            abandoned (non-2xx), so Service Bus redelivers it
//	cancelled → cancelled;     message completed (the user disconnected
//	            before anything was written; the erasure removes the row)
//	conflict  → conflict;      message completed (a row changed in
//	            Dynamics meanwhile and its policy does not write over it;
//	            nothing was written)
type outcomeKind int

const (
	outcomeDone outcomeKind = iota
	outcomeThrottled
	outcomeParked
	outcomeFailed
	outcomeTransient
	outcomeCancelled
	outcomeConflict
)

func (k outcomeKind) String() string {
	return [...]string{"done", "throttled", "parked", "failed", "transient", "cancelled", "conflict"}[k]
}

// outcome is the end of one attempt.
type outcome struct {
	kind       outcomeKind
	err        error
	retryAfter time.Duration
	last       *LastError
	// blobs are the upload's blobs, deleted once it is done.
	blobs []string
}

func done() outcome { return outcome{kind: outcomeDone} }

func transient(err error) outcome {
	return outcome{kind: outcomeTransient, err: err, last: &LastError{Code: "unavailable", Message: "a service the upload needs did not answer; it is tried again"}}
}

func parked(err error, why string) outcome {
	return outcome{kind: outcomeParked, err: err, last: &LastError{Code: "reauth_required",
		Message: "sign in to Dynamics 365 again; the report is kept and sent when you do (" + why + ")"}}
}

// conflict ends an upload none of whose report was written because rows
// it updates changed in Dynamics (row.Conflicts lists them).
func conflict(row *store.Upload) outcome {
	list := conflicts(*row)
	last := &LastError{Code: "conflict", Message: fmt.Sprintf("%d row(s) of the report changed in Dynamics 365 since your copy; nothing was written. "+
		"Sync to get them, review the conflicts, and send the report again under a new upload id", len(list))}
	if len(list) > 0 {
		last.Item = list[0].Item
	}
	return outcome{kind: outcomeConflict, last: last}
}

func failed(err error, last *LastError) outcome {
	return outcome{kind: outcomeFailed, err: err, last: last}
}

// classify sorts the error of writing item (or of the whole upload when
// item is "") by its apperr class: the one table of this edge.
func classify(err error, item string) outcome {
	var dv *dataverse.Error
	var notAllowed *notAllowedError
	var reauth *tokens.ReauthRequiredError
	dynamics := func() *LastError { // Dynamics' own answer, if it gave one
		if dv == nil || dv.StatusCode == 0 {
			return nil
		}
		return &LastError{Code: dv.Code, Message: dv.Message, HTTPStatus: dv.StatusCode, Item: item}
	}
	errors.As(err, &dv)
	switch c := apperr.ClassOf(err); {
	case errors.As(err, &notAllowed):
		return failed(err, &LastError{Code: "not_allowed", Message: err.Error() + "; the report cannot be written as it is", Item: notAllowed.item})
	case errors.Is(err, documents.ErrNotFound), errors.Is(err, documents.ErrCorrupt):
		return failed(err, &LastError{Code: "stored_report_damaged", Message: "the stored report or one of its documents is missing or damaged; send the report again under a new upload id", Item: item})
	case c.Kind == apperr.Reauth:
		why := "Entra ID no longer accepts your sign-in"
		if errors.As(err, &reauth) {
			why = reauth.Reason
		}
		return parked(err, why)
	case c.Kind == apperr.NotFound && dv == nil: // the vault found no connection
		return parked(err, "you are not connected to Dynamics 365")
	case c.Kind == apperr.Throttled:
		last := dynamics()
		if last == nil { // Entra ID throttled the token refresh
			last = &LastError{Message: "the connector was asked to slow down; the upload is tried again later", Item: item}
		}
		if last.Code == "" {
			last.Code = "throttled"
		}
		return outcome{kind: outcomeThrottled, err: err, retryAfter: c.RetryAfter, last: last}
	case c.Kind == apperr.Unauthorized, c.Kind == apperr.Transient, c.Kind == apperr.Internal:
		// A 401 here came after the client refreshed the token once:
		// Entra accepted the grant, so signing in again would not help
		// (and the connection stays active, so nothing would resume a
		// parked upload). Like the sync, try again later.
		o := transient(err)
		if last := dynamics(); last != nil {
			o.last = last
		}
		return o
	case dynamics() != nil:
		return failed(err, dynamics())
	}
	return transient(err)
}

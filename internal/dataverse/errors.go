package dataverse

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pitcher/connector/internal/apperr"
)

// Dataverse error codes the client gives meaning to
// (docs/reference/dataverse-webapi.md §7), lower-case as the Web API writes
// them. Error.Code is normalised to lower case so these compare with ==.
const (
	CodeObjectDoesNotExist  = "0x80040217"
	CodeKeyDoesNotExist     = "0x80060891"
	CodeDuplicateRecord     = "0x80040237"
	CodeConcurrencyMismatch = "0x80060882"
	CodeExpiredVersionStamp = "0x80044352"
	CodeFileTooBig          = "0x80044a02"
	CodeAccessTokenExpired  = "0x8005f101"
	CodePrivilegeDenied     = "0x80040220"
	CodeThrottleRequests    = "0x80072322"
	CodeThrottleExecution   = "0x80072321"
	CodeThrottleConcurrency = "0x80072326"
	CodeValidation          = "0x80044331"
	CodePayload             = "0x80048d19"
)

// Error is a failed Web API operation: Dataverse's answer, or (StatusCode
// 0) a transport failure in Err. Message is Dataverse's text, which never
// holds tokens; it may name values from the request.
type Error struct {
	Method     string
	Path       string // the resource path, without the query string
	StatusCode int
	Code       string // Dataverse's hex code, lower case; often empty
	Message    string
	RetryAfter time.Duration // from Retry-After on 429 and 503
	RequestID  string        // x-ms-service-request-id or REQ_ID
	// Precondition names the conditional header the request carried
	// ("If-Match" or "If-None-Match"), which tells the two 412s apart
	// when Dataverse leaves the code empty.
	Precondition string
	Err          error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataverse: %s %s: ", e.Method, e.Path)
	if e.StatusCode == 0 {
		fmt.Fprintf(&b, "%v", e.Err)
		return b.String()
	}
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " [retry after %s]", e.RetryAfter)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Class sorts e into the application's kinds (apperr.ClassOf). A failure
// without an answer takes its cause's class when the cause has one (a
// token source's refusal), and is otherwise Transient, like a 5xx; 429 is
// Throttled (with Retry-After), 401 Unauthorized (a token Dataverse refused
// even after a refresh), 403 Forbidden (a missing privilege), 404 NotFound,
// 409 and 412 Conflict, and any other answer Permanent.
func (e *Error) Class() apperr.Class {
	if e.StatusCode == 0 && e.Err != nil { // no answer: the cause may know better (a token source's refusal)
		if c := apperr.ClassOf(e.Err); c.Kind != apperr.Internal {
			return c
		}
	}
	k := apperr.Permanent
	switch {
	case e.StatusCode == 0 || e.StatusCode >= 500 && e.StatusCode != http.StatusNotImplemented:
		k = apperr.Transient
	case e.StatusCode == http.StatusTooManyRequests:
		k = apperr.Throttled
	case e.StatusCode == http.StatusUnauthorized:
		k = apperr.Unauthorized
	case e.StatusCode == http.StatusForbidden:
		k = apperr.Forbidden
	case e.StatusCode == http.StatusNotFound:
		k = apperr.NotFound
	case e.StatusCode == http.StatusPreconditionFailed || e.StatusCode == http.StatusConflict:
		k = apperr.Conflict
	}
	return apperr.Class{Kind: k, RetryAfter: e.RetryAfter}
}

// AsAppError converts a client error into the application's error kinds,
// keeping the Dataverse error as the cause; other errors pass unchanged.
func AsAppError(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	msg := "Dynamics 365 answered: " + e.Message
	if e.Code != "" {
		msg = "Dynamics 365 answered " + e.Code + ": " + e.Message
	}
	if e.StatusCode == 0 {
		msg = "Dynamics 365 could not be reached"
	}
	return &apperr.Error{Kind: e.Class().Kind, Message: msg, RetryAfter: e.RetryAfter, Err: err}
}

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsNotFound reports a missing record or resource.
func IsNotFound(err error) bool {
	e, ok := asError(err)
	return ok && (e.StatusCode == http.StatusNotFound || e.Code == CodeObjectDoesNotExist || e.Code == CodeKeyDoesNotExist)
}

// IsAlreadyExists reports a create that met an existing record: a
// duplicate key, or a create-only upsert (If-None-Match: *) of an existing row.
func IsAlreadyExists(err error) bool {
	e, ok := asError(err)
	return ok && (e.Code == CodeDuplicateRecord || e.StatusCode == http.StatusPreconditionFailed && e.Precondition == "If-None-Match")
}

// IsConcurrencyConflict reports a stale ETag: the record changed since it
// was read (412 ConcurrencyVersionMismatch).
func IsConcurrencyConflict(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusPreconditionFailed && !IsAlreadyExists(err)
}

// IsExpiredDeltaToken reports an expired change-tracking token
// (ExpiredVersionStamp): drop the delta link and read everything again.
func IsExpiredDeltaToken(err error) bool {
	e, ok := asError(err)
	return ok && e.Code == CodeExpiredVersionStamp
}

// IsFileTooLarge reports an attachment above the organization's
// maxuploadfilesize (measured on the Base64 text).
func IsFileTooLarge(err error) bool {
	e, ok := asError(err)
	return ok && e.Code == CodeFileTooBig
}

// Package apperr is the connector's one vocabulary of failure: a small set
// of error kinds, and ClassOf, which sorts any error into them.
//
// Code deep in the engines only says what went wrong: it returns an *Error
// of a kind, or a client's typed error that classifies itself (a Dataverse
// answer, an Entra refusal, a grant the token vault found gone). Every edge
// of the application (HTTP responses, queue settlement, an upload's
// status, a sync's outcome, the diagnostics' fixes) maps the kind to its
// own outcome in exactly one place.
package apperr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error by what the caller can do about it.
type Kind string

// The kinds. Unknown errors are Internal.
const (
	Invalid        Kind = "invalid"         // the input is wrong; fix it and retry
	Unauthorized   Kind = "unauthorized"    // no or bad credentials
	Forbidden      Kind = "forbidden"       // authenticated, but not allowed
	NotFound       Kind = "not_found"       // the thing does not exist (for this caller)
	Conflict       Kind = "conflict"        // the state changed or the request contradicts an earlier one
	Gone           Kind = "gone"            // what the request points to no longer exists; start over
	TooLarge       Kind = "too_large"       // the input is bigger than allowed; send less
	Throttled      Kind = "throttled"       // slow down; see RetryAfter
	Reauth         Kind = "reauth_required" // the user's grant is gone; only their signing in again helps
	Transient      Kind = "transient"       // try again later, unchanged
	Permanent      Kind = "permanent"       // retrying the same thing will not help
	NotImplemented Kind = "not_implemented" // the capability is not built yet
	Internal       Kind = "internal"        // a bug or an unexpected failure
)

// Problem is one concrete thing wrong with an input, named by its field.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// Problems collects what is wrong with an input, each problem named by its
// field, so that all of them are reported at once. The zero value is ready.
type Problems []Problem

// Add records a problem with field.
func (p *Problems) Add(field, format string, args ...any) {
	*p = append(*p, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err is an Invalid error with message and every problem, or nil if there
// is none.
func (p Problems) Err(message string) error {
	if len(p) == 0 {
		return nil
	}
	return InvalidProblems(message, p)
}

// Error is an application error. Message is safe to show to the caller;
// Err, the cause, is for logs only.
type Error struct {
	Kind     Kind
	Message  string
	Problems []Problem
	// RetryAfter, for Throttled errors, is how long the caller should wait.
	RetryAfter time.Duration
	Err        error
}

// E returns an error of kind k whose user-facing message is the formatted text.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k with a user-facing message and an internal cause.
func Wrap(k Kind, err error, message string) *Error {
	return &Error{Kind: k, Message: message, Err: err}
}

// InvalidProblems returns an Invalid error listing every problem found; message summarises them.
func InvalidProblems(message string, problems []Problem) *Error {
	return &Error{Kind: Invalid, Message: message, Problems: problems}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, p := range e.Problems {
		b.WriteString("; ")
		b.WriteString(p.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Class is how a failure is to be handled: its kind and, for Throttled,
// how long the caller should wait (0 when the service did not say).
type Class struct {
	Kind       Kind
	RetryAfter time.Duration
}

// Classifier is implemented by errors that know their class: *Error, and
// the clients' typed errors (dataverse.Error, tokens.ReauthRequiredError),
// so that ClassOf sorts them without this package knowing them.
type Classifier interface {
	error
	Class() Class
}

// Class returns e's kind and RetryAfter.
func (e *Error) Class() Class { return Class{Kind: e.Kind, RetryAfter: e.RetryAfter} }

// ClassOf returns the class of the first error in err's chain that knows
// its class; an error none of whose chain does (a Storage SDK error, a
// bug) is Internal. A nil error has the zero Class (kind "").
func ClassOf(err error) Class {
	if err == nil {
		return Class{}
	}
	var c Classifier
	if errors.As(err, &c) {
		return c.Class()
	}
	return Class{Kind: Internal}
}

// KindOf is ClassOf(err).Kind.
func KindOf(err error) Kind { return ClassOf(err).Kind }

// As returns the first *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Package apperr holds the connector's small set of application error kinds.
//
// Every edge of the application (HTTP responses, queue settlement, CLI exit
// codes) maps a Kind to its own outcome in exactly one table, so code deep in
// the engines only has to say what went wrong, never how to report it.
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

// KindOf reports the Kind of the first *Error in err's chain, or Internal.
// A nil error has no kind ("").
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the first *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Turns order Table requests that must reach storage one after another
// (the transactions of a change log) without making each wait for the one
// before it to be built: the SDK encodes a transaction's body when it is
// called, which costs as much CPU as storage takes to write it. A request
// made with a context from After is encoded at once, then held by the
// client's turn policy (ClientOptions) until the turn before it has
// finished, and not sent at all if that one failed.

// Turn is one request's place in an order.
type Turn struct {
	done chan struct{}
	err  error
}

// NewTurn returns a turn that has not finished.
func NewTurn() *Turn { return &Turn{done: make(chan struct{})} }

// Finish ends the turn with the outcome of its request.
func (t *Turn) Finish(err error) {
	t.err = err
	close(t.done)
}

// Wait waits for the turn to finish and returns its request's error.
func (t *Turn) Wait() error {
	<-t.done
	return t.err
}

// Finished is a turn that has finished well: the first of an order waits
// for nothing.
func Finished() *Turn {
	t := NewTurn()
	t.Finish(nil)
	return t
}

type turnKey struct{}

type after struct {
	prev *Turn
	held atomic.Bool
}

// After returns a context whose Table request is held until prev has
// finished, and fails without being sent if prev failed. held reports
// whether the client held it: false means the client lacks the turn
// policy, and the request went out of order.
func After(ctx context.Context, prev *Turn) (c context.Context, held func() bool) {
	a := &after{prev: prev}
	return context.WithValue(ctx, turnKey{}, a), a.held.Load
}

// ErrTurnFailed is the error of a request not sent because the one before
// it failed.
var ErrTurnFailed = errors.New("store: not sent: the request before it failed")

// turnPolicy holds requests made with After.
type turnPolicy struct{}

func (turnPolicy) Do(req *policy.Request) (*http.Response, error) {
	ctx := req.Raw().Context()
	a, ok := ctx.Value(turnKey{}).(*after)
	if !ok {
		return req.Next()
	}
	a.held.Store(true)
	select {
	case <-a.prev.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if a.prev.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTurnFailed, a.prev.err)
	}
	return req.Next()
}

// ClientOptions adds the turn policy to o (nil: the SDK's defaults), for
// every Table client the connector writes with.
func ClientOptions(o *azcore.ClientOptions) *aztables.ClientOptions {
	opts := &aztables.ClientOptions{}
	if o != nil {
		opts.ClientOptions = *o
	}
	opts.PerCallPolicies = append(append([]policy.Policy(nil), opts.PerCallPolicies...), turnPolicy{})
	return opts
}

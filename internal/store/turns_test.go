package store_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/store"
)

// countingTransport answers every request with an empty entity and counts
// the requests that reached it.
type countingTransport struct{ sent atomic.Int32 }

func (c *countingTransport) Do(req *http.Request) (*http.Response, error) {
	c.sent.Add(1)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"PartitionKey":"p","RowKey":"r"}`)), Request: req}, nil
}

func tableClient(t *testing.T, withTurns bool) (*aztables.Client, *countingTransport) {
	t.Helper()
	tr := &countingTransport{}
	o := azcore.ClientOptions{Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}}
	opts := &aztables.ClientOptions{ClientOptions: o}
	if withTurns {
		opts = store.ClientOptions(&o)
	}
	c, err := aztables.NewClientWithNoCredential("https://account.table.core.windows.net/changes", opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, tr
}

// TestTurnsHoldRequests: a request made with After is sent only once the
// turn before it finished well; after a failed turn, or while the turn
// before it is still running when its context ends, it is never sent. A
// client without the turn policy is found out by held.
func TestTurnsHoldRequests(t *testing.T) {
	ctx := context.Background()
	c, tr := tableClient(t, true)

	failed := store.NewTurn()
	failed.Finish(errors.New("the transaction before failed"))
	tctx, held := store.After(ctx, failed)
	if _, err := c.GetEntity(tctx, "p", "r", nil); !errors.Is(err, store.ErrTurnFailed) {
		t.Errorf("after a failed turn: %v, want ErrTurnFailed", err)
	}
	if n := tr.sent.Load(); n != 0 || !held() {
		t.Errorf("after a failed turn: %d requests sent (held %v), want none, held", n, held())
	}

	running := store.NewTurn()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	tctx, _ = store.After(cctx, running)
	if _, err := c.GetEntity(tctx, "p", "r", nil); err == nil {
		t.Error("a request whose turn never came, its context ended, succeeded")
	}
	if n := tr.sent.Load(); n != 0 {
		t.Errorf("%d requests sent while the turn before them was running, want none", n)
	}

	running.Finish(nil)
	tctx, held = store.After(ctx, running)
	if _, err := c.GetEntity(tctx, "p", "r", nil); err != nil || tr.sent.Load() != 1 || !held() {
		t.Errorf("after the turn before finished well: %v, %d sent, held %v; want it sent once, held", err, tr.sent.Load(), held())
	}
	if _, err := c.GetEntity(ctx, "p", "r", nil); err != nil || tr.sent.Load() != 2 {
		t.Errorf("a request without a turn: %v, %d sent in all, want 2", err, tr.sent.Load())
	}

	plain, _ := tableClient(t, false)
	tctx, held = store.After(ctx, store.Finished())
	if _, err := plain.GetEntity(tctx, "p", "r", nil); err != nil || held() {
		t.Errorf("a client without the turn policy: %v, held %v; want it sent and not held (the mirror refuses such a client)", err, held())
	}
}

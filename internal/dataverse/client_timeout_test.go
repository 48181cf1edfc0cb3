package dataverse

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
)

// TestStalledAnswerFailsInsteadOfHanging: a connection on which Dataverse
// never answers fails after the response header timeout (and a read is
// tried again), rather than holding the caller until its context ends.
func TestStalledAnswerFailsInsteadOfHanging(t *testing.T) {
	if got := defaultHTTPClient.Transport.(*http.Transport).ResponseHeaderTimeout; got != DefaultResponseHeaderTimeout {
		t.Errorf("the default client's ResponseHeaderTimeout is %s, want %s", got, DefaultResponseHeaderTimeout)
	}
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select { // stall until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(srv.URL, StaticToken("t"), &Options{HTTPClient: newHTTPClient(50 * time.Millisecond),
		Retry: RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxRetryAfter: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.WhoAmI(ctx)
	if err == nil || ctx.Err() != nil || apperr.KindOf(err) != apperr.Transient {
		t.Fatalf("WhoAmI on a stalled connection = %v (context %v), want a transient timeout before the caller's deadline", err, ctx.Err())
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("the stalled GET was sent %d times, want 2 (one retry)", n)
	}
}

package dataverse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the client's retries, the only place it retries:
//   - 429: waits Retry-After (integer seconds) when it is at most
//     MaxRetryAfter, else returns the error at once so the caller can
//     reschedule the work; any method, since Dataverse refused the request
//     before running it.
//   - 502, 503, 504 and connection failures: exponential backoff with full
//     jitter, for requests that are safe to repeat (GET, plain PUT and
//     PATCH, and POSTs known to be safe such as a $batch of upserts); a
//     connection that could not even be dialled is retried for any request.
//     A DELETE, a create-only upsert (If-None-Match: *) and an update on
//     an ETag (If-Match: W/"…") are not repeated after such a failure: the
//     first try may have run, and the repeat would answer 404 or 412 about
//     the caller's own write. The caller gets the 5xx or transport error
//     (IsTransient), which for these requests means "may have run".
//   - 401: one token refresh (TokenSource.Token with forceRefresh) and one
//     retry, per request.
//
// No wait outlives the context's deadline: when the wait would, the error
// is returned at once.
type RetryPolicy struct {
	MaxAttempts   int           // tries per request, first one included
	BaseDelay     time.Duration // first backoff ceiling, doubled per retry
	MaxDelay      time.Duration // backoff ceiling
	MaxRetryAfter time.Duration // longest Retry-After the client waits out itself
}

// DefaultRetry is the policy of a client without Options.Retry.
var DefaultRetry = RetryPolicy{MaxAttempts: 6, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second, MaxRetryAfter: time.Minute}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// safeToRepeat reports whether sending req again after a failure that may
// have come after it ran (a gateway error, a reset) cannot mislead: a read,
// or a write that ends in the same state and answers the same whether it
// ran once or twice (an upsert, an update with If-Match: *). A DELETE, a
// create-only upsert or an update on an ETag that ran would answer the
// repeat 404 or 412, about the caller's own change.
func safeToRepeat(req Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPut, http.MethodPatch:
		m := req.Header.Get("If-Match")
		return req.Header.Get("If-None-Match") == "" && (m == "" || m == "*")
	}
	return req.safeToRepeat
}

func (c *Client) withRetry(ctx context.Context, req Request, u *url.URL, buf *bytes.Buffer) (*response, error) {
	force, refreshed := false, false
	for attempt := 1; ; attempt++ {
		token, err := c.tokens.Token(ctx, force)
		if err != nil {
			// The source's own error, not an *Error: whether the user must
			// sign in again, or Entra is down, is the source's to say.
			return nil, fmt.Errorf("dataverse: %s %s: get token: %w", req.Method, strings.TrimPrefix(u.Path, c.api.Path), err)
		}
		force = false
		resp, err := c.attempt(ctx, req, u, token, buf)
		if ctxErr := ctx.Err(); ctxErr != nil {
			if resp != nil && resp.stream != nil {
				resp.stream.Close()
			}
			return nil, c.fail(req, u, nil, ctxErr)
		}
		var wait time.Duration
		switch {
		case err != nil:
			if (!safeToRepeat(req) && !dialFailed(err)) || attempt >= c.retry.MaxAttempts {
				return nil, c.fail(req, u, nil, err)
			}
			wait = c.backoff(attempt)
		case resp.status < 400 || isBatchResult(req, resp):
			return resp, nil
		case resp.status == http.StatusUnauthorized:
			if refreshed {
				return nil, c.fail(req, u, resp, nil)
			}
			// Refused before it ran: refresh once and resend at once,
			// without counting against the retry budget.
			refreshed, force = true, true
			attempt--
			continue
		case resp.status == http.StatusTooManyRequests:
			ra, ok := retryAfter(resp.header)
			if !ok {
				ra = c.backoff(attempt)
			}
			if ra > c.retry.MaxRetryAfter || attempt >= c.retry.MaxAttempts {
				return nil, c.fail(req, u, resp, nil)
			}
			wait = ra
		case isGatewayError(resp.status) && safeToRepeat(req):
			if attempt >= c.retry.MaxAttempts {
				return nil, c.fail(req, u, resp, nil)
			}
			wait = c.backoff(attempt)
			if ra, ok := retryAfter(resp.header); ok {
				wait = max(wait, ra)
			}
		default:
			return nil, c.fail(req, u, resp, nil)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			if resp != nil {
				return nil, c.fail(req, u, resp, nil)
			}
			return nil, c.fail(req, u, nil, fmtErr("no time left to retry before the deadline", err))
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, c.fail(req, u, resp, err)
		}
	}
}

// isBatchResult reports a $batch that stopped at a failed part: the
// multipart answer is a result to parse, not an error to retry.
func isBatchResult(req Request, resp *response) bool {
	mt, _, _ := mime.ParseMediaType(resp.header.Get("Content-Type"))
	return strings.HasSuffix(req.Path, "$batch") && mt == "multipart/mixed"
}

func isGatewayError(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// dialFailed reports a connection that was never made, so the request
// cannot have reached Dataverse.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff is a full-jitter exponential delay for the given attempt.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.retry.BaseDelay << min(attempt-1, 20)
	if ceiling <= 0 || ceiling > c.retry.MaxDelay {
		ceiling = c.retry.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// retryAfter reads an integer-seconds Retry-After header.
func retryAfter(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t)), true
	}
	return 0, false
}

type wrapped struct {
	what string
	err  error
}

func (w *wrapped) Error() string { return w.what + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func fmtErr(what string, err error) error { return &wrapped{what, err} }

// fail builds the *Error for a request that failed with resp or cause.
func (c *Client) fail(req Request, u *url.URL, resp *response, cause error) error {
	e := &Error{Method: req.Method, Path: strings.TrimPrefix(u.Path, c.api.Path), Err: cause, Precondition: precondition(req)}
	if resp == nil || cause != nil && resp.status < 400 {
		return e
	}
	e.StatusCode = resp.status
	e.RetryAfter, _ = retryAfter(resp.header)
	e.RequestID = resp.header.Get("x-ms-service-request-id")
	if e.RequestID == "" {
		e.RequestID = resp.header.Get("REQ_ID")
	}
	e.Code, e.Message = errorBody(resp.body)
	return e
}

// precondition names the conditional header of a write, which tells its
// 412s apart (Error.Precondition).
func precondition(req Request) string {
	switch {
	case req.Header.Get("If-None-Match") == "*":
		return "If-None-Match"
	case req.Header.Get("If-Match") != "":
		return "If-Match"
	}
	return ""
}

// errorBody reads {"error":{"code","message"}} from any content type; a
// body of another shape becomes a short message.
func errorBody(b []byte) (code, message string) {
	var wire struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &wire) == nil && (wire.Error.Code != "" || wire.Error.Message != "") {
		return strings.ToLower(wire.Error.Code), wire.Error.Message
	}
	text := strings.TrimSpace(string(b))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return "", text
}

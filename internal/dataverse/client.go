// Package dataverse is a client for the Microsoft Dataverse (Dynamics 365)
// Web API, OData v4 (see docs/reference/dataverse-webapi.md): queries and
// paging, change tracking, writes and upserts, $batch, notes with chunked
// uploads, WhoAmI, Global Discovery and metadata. Every request goes
// through one retry policy (retry.go) and fails with *Error.
package dataverse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAPIVersion is the Web API version used when the environment URL
// does not name one.
const DefaultAPIVersion = "v9.2"

// Options configure a Client; nil means the defaults.
type Options struct {
	// HTTPClient sends the requests; nil means a shared client whose
	// transport keeps up to 64 idle connections per host and gives up on an
	// answer whose headers do not arrive within DefaultResponseHeaderTimeout.
	HTTPClient *http.Client
	// Retry bounds retries; the zero value means DefaultRetry.
	Retry RetryPolicy
	// UserAgent is sent with every request.
	UserAgent string
	// Sleep waits between attempts; nil means a timer that stops when ctx
	// is done. Tests replace it to move a simulated clock instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client talks to one Dataverse environment with one TokenSource. It is
// safe for concurrent use and reuses connections.
type Client struct {
	api    *url.URL // e.g. https://org.crm.dynamics.com/api/data/v9.2/
	hc     *http.Client
	tokens TokenSource
	retry  RetryPolicy
	sleep  func(context.Context, time.Duration) error
	ua     string
}

// DefaultResponseHeaderTimeout bounds the wait for an answer's headers on
// the default HTTP client, so a stalled connection fails (and a read is
// retried) instead of hanging until the caller's context ends. It is longer
// than any request Dataverse lets run (UNVERIFIED: the platform's own limit
// is about 2 minutes), so it never cuts off a slow but live answer.
const DefaultResponseHeaderTimeout = 3 * time.Minute

// defaultHTTPClient is shared so that every Client reuses its connections.
var defaultHTTPClient = newHTTPClient(DefaultResponseHeaderTimeout)

func newHTTPClient(responseHeaderTimeout time.Duration) *http.Client {
	t := NewTransport()
	t.ResponseHeaderTimeout = responseHeaderTimeout
	return &http.Client{Transport: t}
}

// NewTransport returns a transport tuned like the default client's (64 idle
// connections per host, answers' headers awaited at most
// DefaultResponseHeaderTimeout), for callers that wrap it (to observe
// throttling, say) and pass it in Options.HTTPClient.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	return t
}

// New returns a client for the environment at environmentURL, either the
// organization URL (https://org.crm.dynamics.com, or the .api. form) or the
// Web API root (…/api/data/v9.2). Plain http is accepted only for loopback
// hosts, so a token never crosses a network unencrypted.
func New(environmentURL string, tokens TokenSource, opts *Options) (*Client, error) {
	if tokens == nil {
		return nil, fmt.Errorf("dataverse: a TokenSource is required")
	}
	api, err := apiRoot(environmentURL)
	if err != nil {
		return nil, err
	}
	c := &Client{api: api, tokens: tokens, hc: defaultHTTPClient, retry: DefaultRetry, sleep: sleepCtx, ua: "pitcher-connector"}
	if opts != nil {
		if opts.HTTPClient != nil {
			c.hc = opts.HTTPClient
		}
		if opts.Retry != (RetryPolicy{}) {
			c.retry = opts.Retry
		}
		if opts.UserAgent != "" {
			c.ua = opts.UserAgent
		}
		if opts.Sleep != nil {
			c.sleep = opts.Sleep
		}
	}
	return c, nil
}

// apiRoot validates an environment URL and returns its Web API root.
func apiRoot(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	bad := func(why string) error {
		return fmt.Errorf("dataverse: environment URL %q %s; use the organization URL, e.g. https://contoso.crm.dynamics.com", raw, why)
	}
	switch {
	case err != nil:
		return nil, bad("is not a URL")
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, bad("must be scheme://host with no user, query or fragment")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, bad("must use https (http only for a local simulator on a loopback address)")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, bad("must use https")
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case p == "":
		p = "/api/data/" + DefaultAPIVersion
	case strings.HasPrefix(p, "/api/data/v") && strings.Count(p, "/") == 3:
	default:
		return nil, bad("has a path other than /api/data/<version>")
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: p + "/"}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// EnvironmentURL is the organization URL (scheme and host), which is also
// the resource of the tokens the client needs: scope EnvironmentURL()+"/.default".
func (c *Client) EnvironmentURL() string { return c.api.Scheme + "://" + c.api.Host }

// APIRoot is the Web API root, e.g. https://org.crm.dynamics.com/api/data/v9.2/.
func (c *Client) APIRoot() string { return c.api.String() }

// Request is one Web API operation, sent alone or inside a $batch.
type Request struct {
	Method string
	// Path is relative to the API root ("accounts(…)"), a Content-ID
	// reference inside a change set ("$1"), or an absolute URL on the
	// environment's host (a nextLink).
	Path   string
	Header http.Header
	Body   []byte
	// safeToRepeat marks a POST whose repetition cannot duplicate anything.
	safeToRepeat bool
	// stream leaves a 2xx answer's body unread, for the caller to stream.
	stream bool
}

// resolve returns the absolute URL of a request path, refusing hosts other
// than the environment's, where the token must never go.
func (c *Client) resolve(p string) (*url.URL, error) {
	ref, err := url.Parse(p)
	if err != nil {
		return nil, fmt.Errorf("dataverse: request path %q: %w", p, err)
	}
	u := c.api.ResolveReference(ref)
	if u.Scheme != c.api.Scheme || u.Host != c.api.Host {
		return nil, fmt.Errorf("dataverse: refusing to send the token to %s://%s, which is not the environment %s", u.Scheme, u.Host, c.EnvironmentURL())
	}
	return u, nil
}

// response is a complete answer; body may alias a caller's buffer. A
// streamed request's 2xx answer has stream instead of body.
type response struct {
	status int
	header http.Header
	body   []byte
	stream io.ReadCloser
}

// send runs req with retries (retry.go) and returns a 2xx or 3xx answer,
// or *Error. The body is read into buf when buf is not nil.
func (c *Client) send(ctx context.Context, req Request, buf *bytes.Buffer) (*response, error) {
	u, err := c.resolve(req.Path)
	if err != nil {
		return nil, err
	}
	return c.withRetry(ctx, req, u, buf)
}

// attempt sends req once with the token.
func (c *Client) attempt(ctx context.Context, req Request, u *url.URL, token string, buf *bytes.Buffer) (*response, error) {
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	h := hr.Header
	h.Set("Authorization", "Bearer "+token)
	h.Set("Accept", "application/json")
	h.Set("OData-MaxVersion", "4.0")
	h.Set("OData-Version", "4.0")
	h.Set("User-Agent", c.ua)
	if req.Method == http.MethodGet {
		h.Set("If-None-Match", "null") // no cached data (docs/reference/dataverse-webapi.md §1.2)
	}
	if req.Body != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	for k, v := range req.Header {
		h[k] = v
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, err
	}
	if req.stream && resp.StatusCode < 300 {
		return &response{status: resp.StatusCode, header: resp.Header, stream: resp.Body}, nil
	}
	defer resp.Body.Close()
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}, nil
}

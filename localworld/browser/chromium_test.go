package browser

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/pitcher/connector/localworld/testworld"
)

// stepTimeout bounds one browser step (a navigation and the redirects it
// follows, a query, a screenshot). Generous: `make test` runs packages at
// once with -race on two cores, and nothing here waits out a timeout when
// things go right (every wait is on a page condition).
const stepTimeout = 60 * time.Second

// chromiumPath finds Chromium: CONNECTOR_TEST_CHROMIUM, Debian's binary, or
// one on PATH. Without one the test is skipped, unless CI or
// CONNECTOR_TEST_REQUIRE_BROWSER is set: there it fails, so CI never passes
// by skipping the browser.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CONNECTOR_TEST_CHROMIUM"); p != "" {
		return p
	}
	// Debian's /usr/bin/chromium is a shell wrapper that adds desktop
	// flags (extensions, a /dev/shm probe); the binary itself needs none.
	if fi, err := os.Stat("/usr/lib/chromium/chromium"); err == nil && !fi.IsDir() {
		return "/usr/lib/chromium/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const how = "install it with `scripts/install-chromium.sh` (Debian's chromium package, as root) or name it in CONNECTOR_TEST_CHROMIUM"
	if os.Getenv("CONNECTOR_TEST_REQUIRE_BROWSER") != "" || os.Getenv("CI") != "" {
		t.Fatalf("Chromium is not installed, and CI or CONNECTOR_TEST_REQUIRE_BROWSER requires the browser tests: %s", how)
	}
	t.Skipf("Chromium is not installed, so the browser tests are skipped; %s", how)
	return ""
}

// browser is one headless Chromium for a test; each tab opens in a browser
// context of its own (its own cookies, like a separate person's browser).
type browser struct {
	ctx    context.Context
	output *lockedBuffer // Chromium's stderr, shown when a step fails
	shots  string        // the folder of this test's screenshots
	// connector is the connector's base URL: no request may carry one of
	// its pages' codes or states in its Referer.
	connector string

	mu    sync.Mutex
	taken int // screenshots so far, numbering them in order
}

// startBrowser starts Chromium for t and stops it when t ends. Screenshots
// and console transcripts go to .run/browser/<test>/ (gitignored), emptied
// first.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromiumPath(t)
	root, cancelRoot := context.WithTimeout(context.Background(), testBudget(t))
	out := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(1000, 760),
		chromedp.CombinedOutput(out),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelRoot()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium (%s): %v\n%s", exe, err, out.String())
	}
	shots := filepath.Join(testworld.RepoRoot(t), ".run", "browser", sanitize(t.Name()))
	if err := os.RemoveAll(shots); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{ctx: ctx, output: out, shots: shots}
}

// testBudget is how long the browser may live: until shortly before go
// test's own deadline, at most ten minutes.
func testBudget(t *testing.T) time.Duration {
	d := 10 * time.Minute
	if dl, ok := t.Deadline(); ok && time.Until(dl)-30*time.Second < d {
		d = max(time.Until(dl)-30*time.Second, time.Minute)
	}
	return d
}

// tab is one browser tab in a fresh browser context. It records what a
// person would not see but a test must: every console message, every
// Content-Security-Policy violation (reported by a listener the tab puts in
// every document before the page's own content), the documents it loaded,
// and any cookie of the connector's that Chromium refused to store or to
// send.
type tab struct {
	b    *browser
	t    *testing.T
	name string
	ctx  context.Context

	mu          sync.Mutex
	console     []string   // every console message and browser log entry
	checked     int        // how many of console checkClean has looked at
	checkedDocs int        // how many of documents checkClean has looked at
	violations  []string   // Content-Security-Policy violations: "event: " from the recorder, "console: " from Chromium's log
	documents   []document // every document requested, redirects included
	refused     []string   // the connector's cookies Chromium did not store or send, with why
}

// document is a request for a page: its address and the Referer it carried.
type document struct{ URL, Referer string }

// cspRecorder runs in every document before its own content: it reports
// each Content-Security-Policy violation on the console, where the tab
// collects it.
const cspRecorder = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('pitcher-csp-violation', JSON.stringify({directive: e.effectiveDirective || e.violatedDirective,
    blocked: e.blockedURI, document: String(e.documentURI).split('?')[0], source: e.sourceFile, line: e.lineNumber,
    sample: e.sample, disposition: e.disposition}));
}, true);`

// newTab opens a tab in a new browser context (no cookies) named name (the
// prefix of its screenshots). It closes when the test ends.
func (b *browser) newTab(t *testing.T, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{b: b, t: t, name: name, ctx: ctx}
	// The first Run creates the target; it lives as long as ctx, so this
	// call has no timeout of its own (the browser's budget bounds it).
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
		return err
	}))
	if err != nil {
		t.Fatalf("open a tab: %v\n%s", err, b.output.String())
	}
	if err := chromedp.Listen(ctx, tb.record); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tb.keepConsole) // runs before the tab closes
	return tb
}

// keepConsole writes what the tab's pages wrote to the console next to the
// screenshots, as <tab>-console.txt.
func (tb *tab) keepConsole() {
	tb.mu.Lock()
	text := strings.Join(tb.console, "\n") + "\n"
	tb.mu.Unlock()
	if err := os.WriteFile(filepath.Join(tb.b.shots, sanitize(tb.name)+"-console.txt"), []byte(text), 0o644); err != nil {
		tb.t.Error(err)
	}
}

// record is the tab's event listener (it runs on chromedp's reader
// goroutine: it only appends, under the lock).
func (tb *tab) record(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		args := make([]string, len(ev.Args))
		for i, a := range ev.Args {
			args[i] = remoteText(a)
		}
		if len(args) == 2 && args[0] == "pitcher-csp-violation" {
			tb.violations = append(tb.violations, "event: "+args[1])
			return
		}
		tb.console = append(tb.console, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		tb.console = append(tb.console, "exception: "+ev.ExceptionDetails.Text)
	case *log.EventEntryAdded:
		e := ev.Entry
		line := fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, stripQuery(e.URL))
		switch {
		case strings.Contains(e.Text, "Content Security Policy") || strings.Contains(e.Text, "Content-Security-Policy"):
			tb.violations = append(tb.violations, "console: "+line)
			line = "log " + string(e.Source) + "/csp: " + e.Text // reported as a violation, not again as an error
		case e.Source == log.EntrySourceNetwork && strings.HasPrefix(e.Text, "Failed to load resource: the server responded with a status of") &&
			(slices.ContainsFunc(tb.documents, func(d document) bool { return d.URL == e.URL }) || strings.HasSuffix(e.URL, "/favicon.ico")):
			// Chromium logs every 4xx answer as an error, pages too: the
			// status of each page is checked where it is opened. Neither
			// the connector nor entra-sim serves a favicon.
			line = "log " + string(e.Source) + "/status: " + e.Text + " (" + stripQuery(e.URL) + ")"
		}
		tb.console = append(tb.console, line)
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument {
			d := document{URL: ev.Request.URL}
			for k, v := range ev.Request.Headers {
				if strings.EqualFold(k, "Referer") {
					d.Referer, _ = v.(string)
				}
			}
			tb.documents = append(tb.documents, d)
		}
	case *network.EventResponseReceivedExtraInfo:
		for _, c := range ev.BlockedCookies {
			if strings.HasPrefix(c.CookieLine, flowCookiePrefix) {
				tb.refused = append(tb.refused, fmt.Sprintf("not stored: %s: %v", cookieName(c.CookieLine), c.BlockedReasons))
			}
		}
	case *network.EventRequestWillBeSentExtraInfo:
		for _, c := range ev.AssociatedCookies {
			if c.Cookie == nil || !strings.HasPrefix(c.Cookie.Name, flowCookiePrefix) {
				continue
			}
			for _, r := range c.BlockedReasons {
				// A cookie of the connector's is not sent to another
				// host, port, scheme or path: as it should be. Any other
				// reason (SameSite, Secure, third-party rules) would
				// break the flow in a real browser.
				if !slices.Contains([]network.CookieBlockedReason{network.CookieBlockedReasonNotOnPath,
					network.CookieBlockedReasonDomainMismatch, network.CookieBlockedReasonPortMismatch,
					network.CookieBlockedReasonSchemeMismatch}, r) {
					tb.refused = append(tb.refused, fmt.Sprintf("not sent: %s: %s", c.Cookie.Name, r))
				}
			}
		}
	}
}

func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	}
	return o.Description
}

func cookieName(line string) string {
	name, _, _ := strings.Cut(line, "=")
	return name
}

func stripQuery(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}

// step runs actions with a step's timeout, failing the test (with the
// console and Chromium's output) if they fail.
func (tb *tab) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fail(what, err)
	}
}

func (tb *tab) fail(what string, err error) {
	tb.t.Helper()
	tb.mu.Lock()
	console := strings.Join(tb.console, "\n")
	var docs strings.Builder
	for _, d := range tb.documents {
		docs.WriteString(d.URL + "\n")
	}
	tb.mu.Unlock()
	tb.t.Fatalf("%s: %v\nconsole:\n%s\ndocuments:\n%s\nChromium:\n%s", what, err, console, docs.String(), tb.b.output.String())
}

// open navigates to u like a typed address and waits until the page that
// the redirects end on has loaded; it returns that page's status.
func (tb *tab) open(u string) int64 {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		tb.fail("open "+stripQuery(u), err)
	}
	return statusOf(resp)
}

// click clicks the link that sel finds (a CSS selector or XPath), as a
// person would, and waits until the page it leads to (after every redirect)
// has loaded; it returns that page's status.
func (tb *tab) click(sel string) int64 {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.WaitVisible(chromedp.Search(sel)), chromedp.Click(chromedp.Search(sel)))
	if err != nil {
		tb.fail("click "+sel, err)
	}
	return statusOf(resp)
}

func statusOf(resp *network.Response) int64 {
	if resp == nil {
		return 0
	}
	return resp.Status
}

// page is what the current page shows: its address, its heading and its
// text, read once the heading is visible.
type shown struct{ URL, Heading, Text string }

func (tb *tab) page() shown {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	var p shown
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) (err error) {
			if p.URL, err = chromedp.Location()(ctx, t); err != nil {
				return err
			}
			if p.Heading, err = chromedp.Text(chromedp.CSS("h1"))(ctx, t); err != nil {
				return err
			}
			p.Text, err = chromedp.Text(chromedp.CSS("body"))(ctx, t)
			return err
		}))
	if err != nil {
		tb.fail("read the page", err)
	}
	return p
}

// expect checks that the current page has heading and contains each of
// texts, and that it came with status; it keeps a screenshot named shot.
func (tb *tab) expect(shot string, status, want int64, heading string, texts ...string) shown {
	tb.t.Helper()
	p := tb.page()
	tb.screenshot(shot)
	if status != want || p.Heading != heading {
		tb.t.Errorf("%s: the page is %d %q at %s, want %d %q\n%s", shot, status, p.Heading, stripQuery(p.URL), want, heading, p.Text)
	}
	for _, s := range texts {
		if !strings.Contains(p.Text, s) {
			tb.t.Errorf("%s: the page %q does not say %q:\n%s", shot, p.Heading, s, p.Text)
		}
	}
	return p
}

// screenshot keeps a PNG of the viewport as .run/browser/<test>/<n>-<tab>-<name>.png.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.fail("screenshot "+name, err)
	}
	tb.b.mu.Lock()
	tb.b.taken++
	n := tb.b.taken
	tb.b.mu.Unlock()
	file := filepath.Join(tb.b.shots, fmt.Sprintf("%02d-%s.png", n, sanitize(tb.name+"-"+name)))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// cookies are every cookie of the tab's browser context.
func (tb *tab) cookies() []*network.Cookie {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID})
	if err != nil {
		tb.fail("read the cookies", err)
	}
	return res.Cookies
}

// setCookie puts c back into the tab's browser context, as someone who
// kept a copy of it would.
func (tb *tab) setCookie(c *network.Cookie) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, storage.SetCookies, storage.SetCookiesParams{
		BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
		Cookies: []*network.CookieParam{{Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path, Secure: c.Secure,
			HTTPOnly: c.HTTPOnly, SameSite: c.SameSite, Expires: cdp.TimeSinceEpoch(c.Expires)}},
	})
	if err != nil {
		tb.fail("set a cookie", err)
	}
}

// flowCookiePrefix begins the name of every cookie that binds a sign-in
// flow to a browser (handlers/browser_binding.go).
const flowCookiePrefix = "pitcher_flow_"

// flowCookieName is the name of the cookie that binds the flow of state.
func flowCookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return flowCookiePrefix + hex.EncodeToString(sum[:8])
}

// flowCookies are the tab's cookies that bind flows.
func (tb *tab) flowCookies() []*network.Cookie {
	var out []*network.Cookie
	for _, c := range tb.cookies() {
		if strings.HasPrefix(c.Name, flowCookiePrefix) {
			out = append(out, c)
		}
	}
	return out
}

// state is the state parameter of the current address (Entra's page of a
// flow the connector started).
func (tb *tab) state() string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		tb.fail("read the address", err)
	}
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("state") == "" {
		tb.t.Fatalf("the address %s carries no state", stripQuery(loc))
	}
	return u.Query().Get("state")
}

// visited are the addresses documents were requested from that begin with
// prefix, in order.
func (tb *tab) visited(prefix string) []string {
	var out []string
	for _, d := range tb.requests(prefix) {
		out = append(out, d.URL)
	}
	return out
}

// requests are the requests for documents whose address begins with
// prefix, in order.
func (tb *tab) requests(prefix string) []document {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []document
	for _, d := range tb.documents {
		if strings.HasPrefix(d.URL, prefix) {
			out = append(out, d)
		}
	}
	return out
}

// oneTimeValues are the codes and states the tab carried in addresses,
// which no log may contain.
func (tb *tab) oneTimeValues() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, d := range tb.documents {
		if u, err := url.Parse(d.URL); err == nil {
			for _, k := range []string{"code", "state"} {
				if v := u.Query().Get(k); len(v) > 8 {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// settle makes sure every event the browser sent so far was recorded: a
// command's answer comes after the events before it.
func (tb *tab) settle() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int]("1")); err != nil {
		tb.fail("settle", err)
	}
}

// checkClean fails the test if any page since the last check violated its
// Content-Security-Policy or wrote an error to the console, if Chromium
// refused to store or send a cookie of the connector's, or if a request
// told a connector page's code or state in its Referer.
func (tb *tab) checkClean() {
	tb.t.Helper()
	tb.settle()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, v := range tb.violations {
		tb.t.Errorf("%s: a Content-Security-Policy violation: %s", tb.name, v)
	}
	for _, c := range tb.console[tb.checked:] {
		if strings.Contains(c, "/error:") || strings.HasPrefix(c, "exception:") || strings.HasPrefix(c, "console.error:") {
			tb.t.Errorf("%s: an error on the console: %s", tb.name, c)
		}
	}
	tb.checked = len(tb.console)
	for _, r := range tb.refused {
		tb.t.Errorf("%s: Chromium refused a cookie of the connector's: %s", tb.name, r)
	}
	for _, d := range tb.documents[tb.checkedDocs:] {
		if ref, err := url.Parse(d.Referer); err == nil && strings.HasPrefix(d.Referer, tb.b.connector+"/") &&
			(ref.Query().Has("code") || ref.Query().Has("state")) {
			tb.t.Errorf("%s: the request for %s carried the code or state of %s in its Referer", tb.name, stripQuery(d.URL), stripQuery(d.Referer))
		}
	}
	tb.violations, tb.refused, tb.checkedDocs = nil, nil, len(tb.documents)
}

// redirectEntra makes the tab reach Entra (entraURL) at
// http://localhost:<its port> instead of http://127.0.0.1:<port>: every
// navigation to entraURL is answered, inside the browser, with a redirect to
// the same path on localhost. localhost and 127.0.0.1 are different sites,
// so Entra's redirects back to the connector are cross-site, as they are in
// Azure (login.microsoftonline.com → the Function App). The connector and
// the handler's own calls to Entra are untouched.
func (tb *tab) redirectEntra(entraURL string) {
	tb.t.Helper()
	u, err := url.Parse(entraURL)
	if err != nil {
		tb.t.Fatal(err)
	}
	other := "http://localhost:" + u.Port()
	paused := chromedp.Events(tb.ctx, fetch.RequestPaused)
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: entraURL + "/*", ResourceType: network.ResourceTypeDocument, RequestStage: fetch.RequestStageRequest}}}); err != nil {
		tb.fail("intercept Entra's address", err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			to := other + strings.TrimPrefix(ev.Request.URL, entraURL)
			cctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
			_, _ = chromedp.Call(cctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 302,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Location", Value: to}, {Name: "Cache-Control", Value: "no-store"}}})
			cancel()
		}
	}()
}

// lockedBuffer is a bytes.Buffer safe for Chromium's output goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func sanitize(s string) string { return strings.Trim(unsafeName.ReplaceAllString(s, "_"), "_") }

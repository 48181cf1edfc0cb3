package browser

import (
	"context"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pitcher/connector/localworld/testworld"
)

// TestSignInFlowsInChromium drives the admin consent and the sign-in in
// headless Chromium against a World, as the README's "Approving a tenant
// and signing in" tells a person to: each page says what it should, the
// cookie that binds a flow to the browser carries its flags and is gone
// when the flow ends, forged and replayed callbacks get the error page, and
// no page violates its Content-Security-Policy or writes an error to the
// console. Screenshots of every page: .run/browser/TestSignInFlowsInChromium/.
func TestSignInFlowsInChromium(t *testing.T) {
	b := startBrowser(t) // first: skips before the World starts when there is no Chromium
	w := testworld.Start(t, testworld.Options{})
	b.connector = w.URL
	var tabs []*tab
	open := func(t *testing.T, name string) *tab {
		tb := b.newTab(t, name)
		tabs = append(tabs, tb)
		return tb
	}

	// Fabrikam, as in the README: Dave may not approve; before the
	// approval his sign-in is sent to the administrator; the administrator
	// approves (picking the account on Entra's page); then Dave connects.
	t.Run("approve and sign in", func(t *testing.T) {
		admin, dave := w.User(t, "admin@fabrikam.example"), w.User(t, "dave@fabrikam.example")

		daves := open(t, "dave")
		st := daves.open(w.URL + "/api/consent/start?tenant=organizations")
		daves.expect("consent-picker", st, 200, "Pick an account", admin.UPN, dave.UPN)
		daves.checkFlowCookie(w.URL, daves.state())
		st = daves.click(linkFor(dave.UPN))
		daves.expect("consent-refused", st, 200, "Pitcher was not approved",
			"may not approve apps for the whole organisation", "approve Pitcher for your organisation")
		daves.checkNoFlowCookies()

		st = daves.open(w.URL + "/api/login")
		daves.expect("login-needs-consent", st, 403, "Your organisation has not approved Pitcher yet",
			"Your organisation has not approved Pitcher for Dynamics 365 yet. An administrator", "Cloud Application Administrator or Application Administrator", w.URL+"/api/consent/start?tenant=organizations", "AADSTS65004")
		daves.checkNoFlowCookies()

		admins := open(t, "admin")
		st = admins.open(w.URL + "/api/consent/start?tenant=organizations")
		admins.expect("consent-picker", st, 200, "Pick an account", admin.UPN)
		consentState := admins.state()
		kept := admins.checkFlowCookie(w.URL, consentState)
		st = admins.click(linkFor(admin.UPN))
		admins.expect("consent-approved", st, 200, "Pitcher is approved for your organisation",
			"Approved by "+admin.Name, admin.TenantID, w.URL+"/api/login")
		admins.checkNoFlowCookies()
		admins.checkClean()

		// The callbacks the administrator's browser went through, opened
		// again in the same browser: their cookies are gone, so the error
		// page says to start again in this browser.
		consentCallback := admins.visited(w.URL + "/api/consent/callback")
		loginCallback := admins.visited(w.URL + "/api/auth/callback")
		if len(consentCallback) != 1 || len(loginCallback) != 1 {
			t.Fatalf("the approval went through consent callbacks %d times and sign-in callbacks %d times, want 1 and 1", len(consentCallback), len(loginCallback))
		}
		if q := query(t, consentCallback[0]); q.Get("state") != consentState || q.Get("tenant") != admin.TenantID {
			t.Errorf("the consent callback came for state %.8s… and tenant %s, want %.8s… and %s", q.Get("state"), q.Get("tenant"), consentState, admin.TenantID)
		}
		st = admins.open(consentCallback[0])
		admins.expectError("replayed-consent-callback", st, 400, "started in another browser")
		st = admins.open(loginCallback[0])
		admins.expectError("replayed-login-callback", st, 400, "started in another browser")
		// With a copy of the consent flow's cookie put back, the replay
		// reaches the flow, which was used once and is gone.
		admins.setCookie(kept)
		st = admins.open(consentCallback[0])
		admins.expectError("replayed-consent-callback-with-cookie", st, 400, "already used")
		admins.checkNoFlowCookies()

		st = daves.open(w.URL + "/api/login") // Entra remembers Dave: no picker this time
		daves.expect("login-connected", st, 200, "Dynamics 365 is connected", dave.Name+", your Dynamics 365 environment", w.DataverseURL)
		daves.checkNoFlowCookies()
		daves.proveCSP()
		daves.checkClean()
		admins.checkClean()
	})

	// Contoso, with Entra on another site than the connector, as in Azure:
	// the browser reaches Entra at localhost, the connector at 127.0.0.1,
	// so Entra's redirects back to the callbacks are cross-site and the
	// cookie's SameSite=Lax is what lets it travel with them.
	t.Run("Entra on another site", func(t *testing.T) {
		admin, alice := w.User(t, "admin@contoso.example"), w.User(t, "alice@contoso.example")
		admins := open(t, "cross-site-admin")
		admins.redirectEntra(w.EntraURL)
		st := admins.open(w.URL + "/api/consent/start?tenant=" + admin.TenantID)
		p := admins.expect("consent-picker", st, 200, "Pick an account", admin.UPN, alice.UPN)
		if !strings.HasPrefix(p.URL, "http://localhost:") {
			t.Fatalf("Entra's page is at %s, want it on localhost", stripQuery(p.URL))
		}
		admins.checkFlowCookie(w.URL, admins.state())
		st = admins.click(linkFor(admin.UPN))
		admins.expect("consent-approved", st, 200, "Pitcher is approved for your organisation", "Approved by "+admin.Name, admin.TenantID)
		admins.checkNoFlowCookies()
		admins.checkClean()

		alices := open(t, "cross-site-alice")
		alices.redirectEntra(w.EntraURL)
		st = alices.open(w.URL + "/api/login")
		alices.expect("login-picker", st, 200, "Pick an account", alice.UPN)
		alices.checkFlowCookie(w.URL, alices.state())
		st = alices.click(linkFor(alice.UPN))
		alices.expect("login-connected", st, 200, "Dynamics 365 is connected", alice.Name+", your Dynamics 365 environment")
		alices.checkNoFlowCookies()
		alices.checkClean()
	})

	// Callbacks nobody's Entra sent, in a browser: each is refused with the
	// error page, and the flows they name are not advanced.
	t.Run("forged callbacks", func(t *testing.T) {
		admin := w.User(t, "admin@fabrikam.example")
		f := open(t, "forger")

		// No flow of this browser's.
		st := f.open(w.URL + "/api/auth/callback?code=forged-code&state=forged-state")
		f.expectError("forged-login-callback", st, 400, "started in another browser")
		st = f.open(w.URL + "/api/consent/callback?admin_consent=True&tenant=" + admin.TenantID + "&state=forged-state")
		f.expectError("forged-consent-callback", st, 400, "started in another browser")
		f.proveCSP()

		// A sign-in of this browser's, answered at the consent callback.
		st = f.open(w.URL + "/api/login")
		f.expect("login-picker", st, 200, "Pick an account")
		loginState := f.state()
		f.checkFlowCookie(w.URL, loginState)
		// The page cannot read the cookie (HttpOnly), though it is sent
		// to every /api/ path.
		st = f.open(w.URL + "/api/auth/callback?code=forged-code&state=forged-state")
		f.expectError("forged-login-callback-while-signing-in", st, 400, "started in another browser")
		f.checkCookieHidden()
		st = f.open(w.URL + "/api/consent/callback?admin_consent=True&tenant=" + admin.TenantID + "&state=" + url.QueryEscape(loginState))
		f.expectError("login-state-at-consent-callback", st, 400, "belongs to another kind of flow")
		f.checkNoFlowCookies()

		// An approval of this browser's, answered at the sign-in callback.
		st = f.open(w.URL + "/api/consent/start?tenant=" + admin.TenantID)
		f.expect("consent-picker", st, 200, "Pick an account")
		consentState := f.state()
		f.checkFlowCookie(w.URL, consentState)
		st = f.open(w.URL + "/api/auth/callback?code=forged-code&state=" + url.QueryEscape(consentState))
		f.expectError("consent-state-at-login-callback", st, 400, "belongs to another kind of flow")
		f.checkNoFlowCookies()

		// A sign-in of this browser's, answered with a code Entra never
		// issued.
		st = f.open(w.URL + "/api/login")
		f.expect("login-picker-again", st, 200, "Pick an account")
		st = f.open(w.URL + "/api/auth/callback?code=forged-code&state=" + url.QueryEscape(f.state()))
		f.expectErrorPage("forged-code", st)
		f.checkNoFlowCookies()

		// The error page's address carries the code and the state; its
		// link to start again sends no Referer (Referrer-Policy:
		// no-referrer), not even to the connector itself.
		st = f.click(`//a[text()="Sign in again"]`)
		f.expect("login-picker-from-error-page", st, 200, "Pick an account")
		switch reqs := f.requests(w.URL + "/api/login"); {
		case len(reqs) == 0:
			t.Error("the browser requested no /api/login")
		case reqs[len(reqs)-1].Referer != "":
			t.Errorf("the link on the error page was followed with the Referer %s, want none", stripQuery(reqs[len(reqs)-1].Referer))
		}
		f.checkClean()
	})

	var oneTime []string
	for _, tb := range tabs {
		oneTime = append(oneTime, tb.oneTimeValues()...)
	}
	w.AssertNoSecrets(t, oneTime...)
}

// linkFor finds the link that signs upn in on Entra's account picker.
func linkFor(upn string) string {
	return `//li[contains(., "<` + upn + `>")]/a`
}

func query(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

// expectError checks that the current page is the connector's error page,
// with status and a message containing msg.
func (tb *tab) expectError(shot string, status, want int64, msg string) {
	tb.t.Helper()
	tb.expect(shot, status, want, "Something went wrong", msg, "Sign in again", "approve the app for an organisation")
}

// expectErrorPage checks that the current page is the connector's error
// page with a 4xx status, whatever its message.
func (tb *tab) expectErrorPage(shot string, status int64) {
	tb.t.Helper()
	p := tb.page()
	tb.screenshot(shot)
	if status < 400 || status > 499 || p.Heading != "Something went wrong" {
		tb.t.Errorf("%s: the page is %d %q, want the error page with a 4xx status:\n%s", shot, status, p.Heading, p.Text)
	}
}

// checkFlowCookie checks the cookie that binds the flow of state to this
// browser, as handlers/browser_binding.go sets it: host-only on the
// connector's host, Path=/api/ (sent to both callbacks, nowhere else),
// HttpOnly, SameSite=Lax (sent on Entra's top-level redirect back, from
// another site), Secure when the connector's address is https (here it is
// http), expiring with the flow in 10 minutes; its value is sealed, not the
// state. It returns the cookie.
func (tb *tab) checkFlowCookie(base, state string) *network.Cookie {
	tb.t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.t.Fatal(err)
	}
	name := flowCookieName(state)
	var c *network.Cookie
	for _, fc := range tb.flowCookies() {
		if fc.Name == name {
			c = fc
		} else {
			tb.t.Errorf("another flow cookie is left in the browser: %s", fc.Name)
		}
	}
	if c == nil {
		tb.t.Fatalf("the browser has no cookie %s binding the flow it started", name)
		return nil
	}
	if c.Domain != u.Hostname() || c.Path != "/api/" || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Session {
		tb.t.Errorf("the flow cookie is domain %q path %q httpOnly %v sameSite %q session %v, want %q, /api/, true, Lax, false",
			c.Domain, c.Path, c.HTTPOnly, c.SameSite, c.Session, u.Hostname())
	}
	if c.Secure != (u.Scheme == "https") {
		tb.t.Errorf("the flow cookie is secure %v at %s, want %v", c.Secure, base, u.Scheme == "https")
	}
	if left := time.Until(time.Unix(int64(math.Round(c.Expires)), 0)); left < 9*time.Minute || left > 10*time.Minute+5*time.Second {
		tb.t.Errorf("the flow cookie expires in %s, want 10 minutes", left.Round(time.Second))
	}
	if c.Value == "" || strings.Contains(c.Value, state) {
		tb.t.Errorf("the flow cookie's value is empty or carries the state")
	}
	return c
}

// checkNoFlowCookies checks that no flow cookie is left: each callback
// clears the cookie of its flow, whatever the outcome.
func (tb *tab) checkNoFlowCookies() {
	tb.t.Helper()
	for _, c := range tb.flowCookies() {
		tb.t.Errorf("the flow cookie %s (path %s) is still in the browser after the callback", c.Name, c.Path)
	}
}

// checkCookieHidden checks that the current page's scripts cannot read a
// flow cookie the browser holds for its path.
func (tb *tab) checkCookieHidden() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if len(tb.flowCookies()) == 0 {
		tb.t.Fatal("no flow cookie to hide")
	}
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie"))
	if err != nil {
		tb.fail("read document.cookie", err)
	}
	if strings.Contains(seen, flowCookiePrefix) {
		tb.t.Errorf("the page's scripts can read the flow cookie: document.cookie = %q", seen)
	}
}

// proveCSP checks that the browser enforces the current page's
// Content-Security-Policy and that the tab's recorder sees a violation: an
// inline script added to the page must not run, and must be reported. The
// expected violation is then forgotten.
func (tb *tab) proveCSP() {
	tb.t.Helper()
	tb.checkClean()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	// An inline script that may run runs as it is added; a blocked one is
	// reported by an event shortly after.
	const probe = `new Promise((resolve) => {
  document.addEventListener('securitypolicyviolation', (e) => resolve({directive: e.effectiveDirective, ran: false}), {once: true});
  const s = document.createElement('script');
  s.textContent = 'window.pitcherProbeRan = true';
  document.body.appendChild(s);
  if (window.pitcherProbeRan === true) resolve({directive: '', ran: true});
})`
	res, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Directive string
		Ran       bool
	}](probe, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fail("probe the Content-Security-Policy", err)
	}
	tb.settle()
	tb.mu.Lock()
	var event, console bool
	for _, v := range tb.violations {
		event = event || strings.HasPrefix(v, "event: ") && strings.Contains(v, `"directive":"script-src`)
		console = console || strings.HasPrefix(v, "console: ") && strings.Contains(v, "Executing inline script violates")
	}
	tb.violations = nil
	tb.checked = len(tb.console)
	tb.mu.Unlock()
	if res.Ran || !strings.HasPrefix(res.Directive, "script-src") || !event || !console {
		tb.t.Errorf("an inline script on the page: ran %v, violated %q, reported to the listener %v, on the console %v; "+
			"want it blocked by script-src and reported to both", res.Ran, res.Directive, event, console)
	}
}

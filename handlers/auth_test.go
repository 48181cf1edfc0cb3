package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/signin"
)

// fakeAuth accepts "Bearer ok" and refuses everything else as apiauth would.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, h string) (apiauth.Caller, error) {
	switch h {
	case "Bearer ok":
		return apiauth.Caller{TenantID: "t", UserID: "u", ConnectionStatus: "active"}, nil
	case "":
		return apiauth.Caller{}, &apiauth.Error{Err: apperr.E(apperr.Unauthorized, "send a token")}
	case "Bearer unapproved":
		return apiauth.Caller{}, &apiauth.Error{Err: apperr.E(apperr.Forbidden, `tenant "x" has not approved`), Challenge: "insufficient_scope"}
	}
	return apiauth.Caller{}, &apiauth.Error{Err: apperr.E(apperr.Unauthorized, "bad token"), Challenge: "invalid_token"}
}

func TestAPIFunctionsAuthenticate(t *testing.T) {
	var logs bytes.Buffer
	srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(&logs, nil)), Deps{Auth: fakeAuth{}}))
	defer srv.Close()
	for _, fn := range []struct{ name, method, path string }{
		{"UploadIntake", "POST", "/api/uploads"}, {"UploadStatus", "GET", "/api/uploads/u-1"},
		{"Changes", "GET", "/api/changes"}, {"Diagnostics", "GET", "/api/diagnostics"},
	} {
		for _, tc := range []struct {
			auth, challenge string
			status          int
		}{
			{"", `Bearer realm="pitcher-connector"`, 401},
			{"Bearer forged", `Bearer realm="pitcher-connector", error="invalid_token", error_description="bad token"`, 401},
			{"Bearer unapproved", `Bearer realm="pitcher-connector", error="insufficient_scope", error_description="tenant 'x' has not approved"`, 403},
			{"Bearer ok", "", 501},
		} {
			req, _ := http.NewRequest(fn.method, srv.URL+fn.path, strings.NewReader("{}"))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var eb ErrorBody
			_ = json.NewDecoder(resp.Body).Decode(&eb)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge || eb.Error.Function != fn.name ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s with %q = %d %q %+v; want %d %q and a JSON error naming %s", fn.method, fn.path, tc.auth,
					resp.StatusCode, resp.Header.Get("WWW-Authenticate"), eb.Error, tc.status, tc.challenge, fn.name)
			}
		}
	}
	// Each refusal's log line says why, never quoting the token.
	for _, why := range []string{`"path":"/api/changes","refusal":"bad token"`, `"path":"/api/changes","refusal":"tenant \"x\" has not approved"`} {
		if !strings.Contains(logs.String(), why) {
			t.Errorf("no log line with %s:\n%s", why, logs.String())
		}
	}
	if strings.Contains(logs.String(), "forged") {
		t.Errorf("a token reached the log:\n%s", logs.String())
	}
}

// fakeSignIn returns canned results, echoing hostile values into them.
type fakeSignIn struct {
	consent signin.ConsentResult
	login   signin.LoginResult
	err     error
}

func (f fakeSignIn) StartConsent(context.Context, string) (string, error) {
	return "https://login.example/x?state=x", f.err
}
func (f fakeSignIn) FinishConsent(context.Context, url.Values) (signin.ConsentResult, error) {
	return f.consent, f.err
}
func (f fakeSignIn) StartLogin(context.Context, signin.LoginRequest) (string, error) {
	return "https://login.example/y?state=y", f.err
}
func (f fakeSignIn) FinishLogin(context.Context, url.Values) (signin.LoginResult, error) {
	return f.login, f.err
}
func (fakeSignIn) BindBrowser(state string) string       { return "bound:" + state }
func (fakeSignIn) BrowserBound(state, value string) bool { return value == "bound:"+state }
func bindRequest(r *http.Request, state string) *http.Request {
	r.AddCookie(&http.Cookie{Name: flowCookieName(state), Value: "bound:" + state})
	return r
}

// TestPagesEscapeEchoedValues: Entra's description, names and URLs reach
// pages only escaped; pages are not cached, framed or referred.
func TestPagesEscapeEchoedValues(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	for name, tc := range map[string]struct {
		s      fakeSignIn
		path   string
		status int
		want   string
	}{
		"refusal": {fakeSignIn{consent: signin.ConsentResult{TenantID: "t", Refusal: &entra.Error{Code: "access_denied", Description: "AADSTS90094: " + evil, ErrorCodes: []int{90094}}}},
			"/api/consent/callback", 200, "Global Administrator"},
		"needs consent": {fakeSignIn{login: signin.LoginResult{Outcome: signin.NeedsConsent, TenantID: "t", UserName: evil}},
			"/api/auth/callback", 403, "/api/consent/start?tenant=t"},
		"connected": {fakeSignIn{login: signin.LoginResult{Outcome: signin.Connected, UserName: evil, OrgURL: "https://x.crm.dynamics.com"}},
			"/api/auth/callback", 200, "is connected"},
		"choose": {fakeSignIn{login: signin.LoginResult{Outcome: signin.ChooseEnvironment, Instances: []signin.Instance{{FriendlyName: evil, URL: "javascript:alert(1)"}}}},
			"/api/auth/callback", 200, "Choose"},
		"error": {fakeSignIn{err: apperr.InvalidProblems("bad "+evil, []apperr.Problem{{Field: "return_to", Message: evil}})},
			"/api/auth/callback", 400, "return_to"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), Deps{SignIn: tc.s, PublicBaseURL: "https://conn.example"}))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+tc.path+"?state=s", nil)
			resp, err := http.DefaultClient.Do(bindRequest(req, "s"))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			page := b.String()
			if resp.StatusCode != tc.status || !strings.Contains(page, tc.want) {
				t.Errorf("GET %s = %d, want %d and %q:\n%s", tc.path, resp.StatusCode, tc.status, tc.want, page)
			}
			if strings.Contains(page, "<script>") || strings.Contains(page, `href="javascript:`) {
				t.Errorf("the page echoes markup unescaped:\n%s", page)
			}
			if name == "refusal" && strings.Contains(page, "alert") {
				t.Errorf("the refusal page shows Entra's description, which anyone can write:\n%s", page)
			}
			for k, v := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
				if resp.Header.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), v)
				}
			}
		})
	}
}

func TestConsentCallbackRedirectsToApproverSignIn(t *testing.T) {
	s := fakeSignIn{consent: signin.ConsentResult{TenantID: "t", Next: "https://login.example/t/oauth2/v2.0/authorize?x=1"}}
	h := NewServer(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), Deps{SignIn: s})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, bindRequest(httptest.NewRequest("GET", "/api/consent/callback?state=s", nil), "s"))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != s.consent.Next {
		t.Errorf("callback = %d to %q, want 302 to the approver sign-in", rec.Code, rec.Header().Get("Location"))
	}
	// A connected user goes back to the (already allow-listed) return_to.
	s = fakeSignIn{login: signin.LoginResult{Outcome: signin.Connected, ReturnTo: "pitcher://auth/done"}}
	h = NewServer(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), Deps{SignIn: s})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, bindRequest(httptest.NewRequest("GET", "/api/auth/callback?state=s&code=c", nil), "s"))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "pitcher://auth/done" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("login callback = %d to %q, want 302 to return_to without a Referer", rec.Code, rec.Header().Get("Location"))
	}
}

// TestCallbacksNeedTheBrowserThatStarted: a start gives the browser an
// HttpOnly, SameSite cookie bound to the flow's state (Secure behind https);
// a callback without it, or with another flow's, is refused before the
// flow is touched, and its cookie is cleared.
func TestCallbacksNeedTheBrowserThatStarted(t *testing.T) {
	f := &countingSignIn{fakeSignIn: fakeSignIn{login: signin.LoginResult{Outcome: signin.Connected}, consent: signin.ConsentResult{TenantID: "t", Next: "https://login.example/t/authorize?state=next"}}}
	h := NewServer(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), Deps{SignIn: f, PublicBaseURL: "https://conn.example"})

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/login", nil))
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].Name != flowCookieName("y") || c[0].Value != "bound:y" || !c[0].HttpOnly || !c[0].Secure || c[0].SameSite != http.SameSiteLaxMode || c[0].Path != "/api/" {
		t.Errorf("LoginStart set cookies %+v, want one HttpOnly, Secure, SameSite=Lax flow cookie on /api/", c)
	}

	for _, tc := range []struct {
		name, path string
		cookie     *http.Cookie
	}{
		{"login without a cookie", "/api/auth/callback?state=s&code=c", nil},
		{"consent without a cookie", "/api/consent/callback?state=s&admin_consent=True", nil},
		{"another flow's cookie", "/api/auth/callback?state=s&code=c", &http.Cookie{Name: flowCookieName("s"), Value: "bound:other"}},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.cookie != nil {
			req.AddCookie(tc.cookie)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "started in another browser") {
			t.Errorf("%s: %d\n%s\nwant 400 saying to start again in this browser", tc.name, rec.Code, rec.Body.String())
		}
	}
	if f.finished != 0 {
		t.Errorf("a callback from another browser reached the flow %d times", f.finished)
	}

	// The consent callback's follow-up sign-in gets its own bound cookie.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, bindRequest(httptest.NewRequest("GET", "/api/consent/callback?state=s", nil), "s"))
	var cleared, next bool
	for _, c := range rec.Result().Cookies() {
		cleared = cleared || c.Name == flowCookieName("s") && c.MaxAge < 0
		next = next || c.Name == flowCookieName("next") && c.Value == "bound:next"
	}
	if rec.Code != http.StatusFound || !cleared || !next {
		t.Errorf("consent callback = %d with cookies %+v; want a redirect, the used cookie cleared and the next flow's set", rec.Code, rec.Result().Cookies())
	}
}

type countingSignIn struct {
	fakeSignIn
	finished int
}

func (c *countingSignIn) FinishLogin(ctx context.Context, q url.Values) (signin.LoginResult, error) {
	c.finished++
	return c.fakeSignIn.FinishLogin(ctx, q)
}

func (c *countingSignIn) FinishConsent(ctx context.Context, q url.Values) (signin.ConsentResult, error) {
	c.finished++
	return c.fakeSignIn.FinishConsent(ctx, q)
}

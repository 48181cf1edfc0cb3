package testworld

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Browser follows redirects with a cookie jar, as a person's browser does,
// and remembers the codes, states, nonces and PKCE challenges it carried so
// tests can check none of them reached a log.
type Browser struct {
	client *http.Client
	mu     sync.Mutex
	seen   []string
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser() *Browser {
	b := &Browser{}
	jar, _ := cookiejar.New(nil)
	b.client = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		b.remember(r.URL)
		if len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *Browser) remember(u *url.URL) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := u.Query()
	for _, k := range []string{"code", "state", "code_challenge", "nonce"} {
		if v := q.Get(k); v != "" {
			b.seen = append(b.seen, v)
		}
	}
}

// Secrets are the one-time values the browser carried.
func (b *Browser) Secrets() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

// Client is the browser's HTTP client (its cookie jar, and the redirects
// it follows are remembered), for callers that must not fail the test on a
// transport error.
func (b *Browser) Client() *http.Client { return b.client }

// Get loads u and returns the final status and page.
func (b *Browser) Get(t testing.TB, u string) (int, string) {
	t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Location requests u without following its redirect and returns where it
// redirects to; cookies it sets are kept, as a browser would.
func (b *Browser) Location(t testing.TB, u string) string {
	t.Helper()
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		t.Fatalf("GET %s = %d without a redirect", u, resp.StatusCode)
	}
	if p, err := url.Parse(loc); err == nil {
		b.remember(p)
	}
	return loc
}

var pickerLink = regexp.MustCompile(`href="([^"]*login_hint=([^"&]*)[^"]*)"`)

// Approve has the administrator adminUPN approve the connector for their
// organisation through /api/consent/start, picking their account in the
// simulator's account picker, and fails the test unless the approval page
// says it worked.
func (w *World) Approve(t testing.TB, adminUPN string) {
	t.Helper()
	admin := w.User(t, adminUPN)
	b := NewBrowser()
	status, page := b.Get(t, w.URL+"/api/consent/start?tenant="+admin.TenantID)
	for _, m := range pickerLink.FindAllStringSubmatch(page, -1) {
		if hint, _ := url.QueryUnescape(m[2]); strings.EqualFold(hint, adminUPN) {
			status, page = b.Get(t, w.EntraURL+strings.ReplaceAll(m[1], "&amp;", "&"))
			break
		}
	}
	if status != http.StatusOK || !strings.Contains(page, "Pitcher is approved for your organisation") {
		t.Fatalf("approval by %s = %d\n%s", adminUPN, status, page)
	}
	w.remember(b)
}

// SignIn signs upn in through /api/login and fails the test unless the
// connection is made.
func (w *World) SignIn(t testing.TB, upn string) User {
	t.Helper()
	b := NewBrowser()
	status, page := b.Get(t, w.URL+"/api/login?login_hint="+url.QueryEscape(upn))
	if status != http.StatusOK || !strings.Contains(page, "Dynamics 365 is connected") {
		t.Fatalf("sign-in of %s = %d\n%s", upn, status, page)
	}
	w.remember(b)
	return w.User(t, upn)
}

// Connect approves upn's organisation (by its first administrator) and
// signs upn in: the state a user is in after onboarding.
func (w *World) Connect(t testing.TB, upn string) User {
	t.Helper()
	u := w.User(t, upn)
	for _, admin := range w.users {
		if admin.TenantID == u.TenantID && admin.Admin {
			w.Approve(t, admin.UPN)
			return w.SignIn(t, upn)
		}
	}
	t.Fatalf("the organisation of %s has no administrator in the seed", upn)
	return User{}
}

// DeviceToken is an access token the Pitcher app would hold for upn: issued
// by Entra to the app for the connector's API.
func (w *World) DeviceToken(t testing.TB, upn string) string {
	t.Helper()
	return w.AppToken(t, upn, AppClientID)
}

// AppToken is an access token for the connector's API that Entra issued to
// the application clientID (a client of the seed) for upn.
func (w *World) AppToken(t testing.TB, upn, clientID string) string {
	t.Helper()
	return w.mint(t, upn, clientID, APIScope)
}

// DataverseToken is an access token for the Dataverse environment that
// Entra issued to the connector for upn, as the connector's own are: for
// a client reading Dynamics beside the connector (benchmarks).
func (w *World) DataverseToken(t testing.TB, upn string) string {
	t.Helper()
	return w.mint(t, upn, ConnectorClientID, w.DataverseURL+"/user_impersonation")
}

// mint has the Entra simulator issue clientID an access token for upn
// with scope.
func (w *World) mint(t testing.TB, upn, clientID, scope string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"upn": upn, "clientId": clientID, "scope": scope})
	resp, err := http.Post(w.EntraURL+"/_sim/tokens", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("mint a token of %s for %s: %d %v", clientID, upn, resp.StatusCode, err)
	}
	w.secret(out.AccessToken)
	return out.AccessToken
}

// API sends a request to the app's API with token (none if "") and body
// (none if nil; JSON unless it is a []byte) and returns the status, headers
// and body.
func (w *World) API(t testing.TB, method, path, token string, body any) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, w.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// Invoke runs a timer or Service Bus function once through funchost's admin
// API (asynchronously, as the host does); input is the message body.
func (w *World) Invoke(t testing.TB, function, input string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"input": input})
	resp, err := http.Post(w.URL+"/admin/functions/"+function, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("invoke %s = %d, want 202", function, resp.StatusCode)
	}
}

// WaitFor polls cond every 20 ms until it holds, failing the test after
// timeout with what it waited for and the World's logs.
func (w *World) WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; logs:\n%s", timeout, what, w.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// AssertNoSecrets fails the test if the logs contain the connector's
// secret, the encryption key, anything that looks like a JWT, or any code,
// state, nonce, PKCE challenge or device token this World handed out, or
// any of extra; or if they name a person: any seeded user's display name or
// UPN (People), whatever its case. Logs name users by pseudonym only.
// Every World runs it when its test ends (Start); tests call it too with
// values of their own. In a World of more than 100 people (a fleet) it looks
// for a spread sample of 100: their names reach the logs, or not, by the
// same code paths, and each name is a scan of the whole log.
func (w *World) AssertNoSecrets(t testing.TB, extra ...string) {
	t.Helper()
	w.mu.Lock()
	secrets := append(append([]string{ConnectorSecret, EncryptionKey, "eyJ"}, w.secrets...), extra...)
	w.mu.Unlock()
	logs := w.Logs()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the logs contain a secret value %.12q…", s)
		}
	}
	people := w.People()
	if n := len(people); n > 100 {
		sample := make([]string, 0, 100)
		for i := range 100 {
			sample = append(sample, people[i*n/100])
		}
		people = sample
	}
	for _, p := range people {
		if at := regexp.MustCompile(`(?i)` + regexp.QuoteMeta(p)).FindStringIndex(logs); at != nil {
			t.Errorf("the logs name a person, %q, where a pseudonym belongs:\n%s", p, lineAt(logs, at[0]))
		}
	}
}

// People are the display names and UPNs of the seeded users, which no log
// may contain; for checks of logs other than the World's own.
func (w *World) People() []string {
	var out []string
	for _, u := range w.users {
		out = append(out, u.Name, u.UPN)
	}
	slices.Sort(out)
	return out
}

// lineAt is the line of s around byte i.
func lineAt(s string, i int) string {
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return s[start:]
	}
	return s[start : i+end]
}

// Secrets are the one-time values this World handed out so far (codes,
// states, nonces, PKCE challenges, device tokens), for checks of logs
// other than the World's own.
func (w *World) Secrets() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.secrets...)
}

func (w *World) remember(b *Browser) {
	for _, s := range b.Secrets() {
		w.secret(s)
	}
}

func (w *World) secret(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.secrets = append(w.secrets, s)
}

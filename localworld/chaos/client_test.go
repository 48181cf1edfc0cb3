package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pitcher/connector/localworld/testworld"
)

// client talks to the world as the Pitcher app and the people around it
// do, without failing the test on a transport error (faults make those
// expected): it returns them instead.
type client struct {
	w      *testworld.World
	http   *http.Client
	mu     sync.Mutex
	tokens map[string]string // device token by UPN
	seen   []string          // every token, code and state handed out
}

func newClient(w *testworld.World) *client {
	return &client{w: w, http: &http.Client{Timeout: 45 * time.Second}, tokens: map[string]string{}}
}

// do sends a request and returns the status and body.
func (c *client) do(method, u, token string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// admin calls a simulator's /_sim/ API (or funchost's admin API) and
// fails unless it answers 2xx.
func (c *client) admin(method, u string, body any) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	status, out, err := c.do(method, u, "", b)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("%s %s = %d %s", method, u, status, out)
	}
	return nil
}

// token is upn's device token, minted from the Entra simulator when there
// is none (or fresh is set: the API refused the last one).
func (c *client) token(upn string, fresh bool) (string, error) {
	c.mu.Lock()
	tok := c.tokens[upn]
	c.mu.Unlock()
	if tok != "" && !fresh {
		return tok, nil
	}
	body, _ := json.Marshal(map[string]string{"upn": upn, "clientId": testworld.AppClientID, "scope": testworld.APIScope})
	status, out, err := c.do(http.MethodPost, c.w.EntraURL+"/_sim/tokens", "", body)
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("mint a device token for %s: %d %v", upn, status, err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(out, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("mint a device token for %s: %s", upn, out)
	}
	c.mu.Lock()
	c.tokens[upn] = t.AccessToken
	c.seen = append(c.seen, t.AccessToken)
	c.mu.Unlock()
	return t.AccessToken, nil
}

// api calls the app's API as upn, minting a new device token once if the
// API answers 401 (the signing key may have rotated).
func (c *client) api(method, path, upn string, body []byte) (int, []byte, error) {
	tok, err := c.token(upn, false)
	if err != nil {
		return 0, nil, err
	}
	status, out, err := c.do(method, c.w.URL+path, tok, body)
	if err == nil && status == http.StatusUnauthorized {
		if tok, err = c.token(upn, true); err != nil {
			return 0, nil, err
		}
		status, out, err = c.do(method, c.w.URL+path, tok, body)
	}
	return status, out, err
}

// signIn signs upn in through /api/login as a browser would, and reports
// whether the connection was made.
func (c *client) signIn(upn string) error {
	b := testworld.NewBrowser()
	resp, err := b.Client().Get(c.w.URL + "/api/login?login_hint=" + url.QueryEscape(upn))
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.mu.Lock()
	c.seen = append(c.seen, b.Secrets()...)
	c.mu.Unlock()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Dynamics 365 is connected") {
		return fmt.Errorf("sign-in of %s = %d %.200s", upn, resp.StatusCode, page)
	}
	return nil
}

// secrets are the values this client handed out.
func (c *client) secrets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

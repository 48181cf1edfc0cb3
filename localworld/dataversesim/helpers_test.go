package dataversesim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type result struct {
	status int
	header http.Header
	body   string
}

// errorCode returns the code and message of an error body.
func (r result) errorCode() (string, string) {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(r.body), &e)
	return e.Error.Code, e.Error.Message
}

func newTestServer(t *testing.T, opts Options) (*Sim, *httptest.Server) {
	t.Helper()
	if opts.Auth == (AuthOptions{}) {
		opts.Auth.InsecureAnyToken = true
	}
	s := New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// send sends a request; header is name, value pairs; a missing
// Authorization gets "Bearer test".
func send(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer test")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

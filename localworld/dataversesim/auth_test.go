package dataversesim

import (
	"strings"
	"testing"
	"time"
)

func TestTokenVerification(t *testing.T) {
	iss, err := NewTestIssuer()
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	s, srv := newTestServer(t, Options{Auth: AuthOptions{JWKSURL: iss.JWKSURL()}})
	tid, oid := "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	other, _ := NewTestIssuer()
	defer other.Close()
	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantCode   string
	}{
		{"valid", "Bearer " + iss.Token(tid, oid, srv.URL, s.Now(), time.Hour), 200, ""},
		{"valid, audience with slash", "Bearer " + iss.Token(tid, oid, srv.URL+"/", s.Now(), time.Hour), 200, ""},
		{"expired", "Bearer " + iss.Token(tid, oid, srv.URL, s.Now().Add(-2*time.Hour), time.Hour), 401, "0x8005f101"},
		{"other audience", "Bearer " + iss.Token(tid, oid, "https://other.crm.dynamics.com", s.Now(), time.Hour), 401, ""},
		{"other signer", "Bearer " + other.Token(tid, oid, srv.URL, s.Now(), time.Hour), 401, ""},
		{"no oid", "Bearer " + iss.Token(tid, "", srv.URL, s.Now(), time.Hour), 401, ""},
		{"not a JWT", "Bearer abc", 401, ""},
		{"missing", "", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", "", "Authorization", tt.auth)
			code, _ := r.errorCode()
			if r.status != tt.wantStatus || code != tt.wantCode {
				t.Fatalf("got %d %q (%s), want %d %q", r.status, code, r.body, tt.wantStatus, tt.wantCode)
			}
			if r.status == 401 {
				ch := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(ch, "Bearer authorization_uri=https://login.microsoftonline.com/") || !strings.Contains(ch, "resource_id="+srv.URL) {
					t.Errorf("WWW-Authenticate = %q", ch)
				}
			} else if !strings.Contains(r.body, UserID(tid, oid)) {
				t.Errorf("WhoAmI = %s, want user %s", r.body, UserID(tid, oid))
			}
		})
	}
}

func TestThrottlingLimits(t *testing.T) {
	t.Run("requests per window", func(t *testing.T) {
		s, srv := newTestServer(t, Options{Throttle: Throttle{Requests: 2, Window: 30 * time.Second}})
		for range 2 {
			if r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", ""); r.status != 200 {
				t.Fatal(r.body)
			}
		}
		r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", "")
		code, msg := r.errorCode()
		if r.status != 429 || code != "0x80072322" || r.header.Get("Retry-After") != "30" || msg != "Number of requests exceeded the limit of 2 over time window of 30 seconds." {
			t.Fatalf("third request: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
		}
		if r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", "", "Authorization", "Bearer someone-else"); r.status != 200 {
			t.Errorf("another user is throttled too: %d", r.status)
		}
		s.Advance(31 * time.Second)
		if r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", ""); r.status != 200 {
			t.Errorf("after the window: %d", r.status)
		}
	})
	t.Run("execution time", func(t *testing.T) {
		_, srv := newTestServer(t, Options{Throttle: Throttle{ExecutionTime: 20 * time.Millisecond}, Faults: Faults{Latency: 25 * time.Millisecond}})
		send(t, srv, "GET", "/api/data/v9.2/WhoAmI", "")
		r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", "")
		if code, msg := r.errorCode(); r.status != 429 || code != "0x80072321" || !strings.Contains(msg, "exceeded limit of 20 milliseconds") {
			t.Errorf("after the budget: %d %s", r.status, r.body)
		}
	})
	t.Run("concurrency", func(t *testing.T) {
		s, srv := newTestServer(t, Options{Throttle: Throttle{Concurrency: 1}})
		release, err := s.throttle.admit(insecureUser("test").key(), 1) // one request in flight
		if err != nil {
			t.Fatal(err)
		}
		r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", "")
		if code, msg := r.errorCode(); r.status != 429 || code != "0x80072326" || msg != "Number of concurrent requests exceeded the limit of 1." || r.header.Get("Retry-After") == "" {
			t.Errorf("second concurrent request: %d %s", r.status, r.body)
		}
		release(0)
		if r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", ""); r.status != 200 {
			t.Errorf("after release: %d", r.status)
		}
	})
	t.Run("batch counts each request", func(t *testing.T) {
		_, srv := newTestServer(t, Options{Throttle: Throttle{Requests: 2, Window: time.Minute}})
		body := "--b\r\nContent-Type: application/http\r\n\r\nGET WhoAmI HTTP/1.1\r\n\r\n\r\n--b\r\nContent-Type: application/http\r\n\r\nGET WhoAmI HTTP/1.1\r\n\r\n\r\n--b\r\nContent-Type: application/http\r\n\r\nGET WhoAmI HTTP/1.1\r\n\r\n\r\n--b--\r\n"
		r := send(t, srv, "POST", "/api/data/v9.2/$batch", body, "Content-Type", "multipart/mixed; boundary=b")
		if r.status != 429 {
			t.Errorf("a batch of 3 with 2 allowed: %d %s", r.status, r.body)
		}
	})
}

func TestScriptedFaults(t *testing.T) {
	s, srv := newTestServer(t, Options{})
	s.FailNext(Fault{Status: 502, Path: "/WhoAmI"})
	r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", "")
	if r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("scripted 502: %d %v", r.status, r.header)
	}
	if r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", ""); r.status != 200 {
		t.Errorf("after the scripted fault: %d", r.status)
	}
	s.SetFaults(Faults{ErrorRate: 1})
	if r := send(t, srv, "GET", "/api/data/v9.2/WhoAmI", ""); r.status < 502 || r.status > 504 {
		t.Errorf("error rate 1: %d", r.status)
	}
}

package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	tenant = "7d3a1c55-0b6e-4f7a-9a51-2f0c6f1d4e21"
	oid    = "c2b9e0a4-5d71-4e38-8f0a-93b1d6e7f402"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestPseudonyms(t *testing.T) {
	p := NewPseudonyms(key)
	ref := p.User(tenant, oid)
	if !IsPseudonym(ref) {
		t.Fatalf("User = %q, want u- and 16 hex digits", ref)
	}
	if again := p.User(strings.ToUpper(tenant), strings.ToUpper(oid)); again != ref {
		t.Errorf("the pseudonym of the upper-case ids = %q, want the same %q (ids compare case-insensitively)", again, ref)
	}
	others := map[string]string{
		"another user":   p.User(tenant, "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"),
		"another tenant": p.User("11111111-1111-4111-8111-111111111111", oid),
		"another key":    NewPseudonyms([]byte("another key, also 32 bytes long!")).User(tenant, oid),
	}
	for what, o := range others {
		if o == ref {
			t.Errorf("%s has the same pseudonym %q", what, ref)
		}
	}
	if strings.Contains(ref, oid[:8]) {
		t.Errorf("the pseudonym %q shows part of the object id", ref)
	}
	for _, s := range []string{"u-0123", "x-0123456789abcdef", "u-0123456789ABCDEF", oid} {
		if IsPseudonym(s) {
			t.Errorf("IsPseudonym(%q) = true", s)
		}
	}
}

func logger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(NewHandler(slog.NewJSONHandler(buf, nil), NewPseudonyms(key)))
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestHandlerKeepsUsersPseudonymous: whichever way a user's object id
// reaches a line, the line names the user only by pseudonym.
func TestHandlerKeepsUsersPseudonymous(t *testing.T) {
	ref := NewPseudonyms(key).User(tenant, oid)
	upper := strings.ToUpper(oid)
	tests := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"attribute", func(l *slog.Logger) { l.Info("sync skipped", "tenant", tenant, "user", oid) }},
		{"with", func(l *slog.Logger) {
			l.With("tenant", tenant, "user", oid).Warn("failed", "error", "get connection "+tenant+"/"+oid+": 503")
		}},
		{"error value", func(l *slog.Logger) {
			l.Error("failed", "tenant", tenant, "user", oid, "error", errors.New("user "+upper+" of tenant must sign in"))
		}},
		{"message", func(l *slog.Logger) { l.Info("sync of "+oid+" done", "tenant", tenant, "user", oid) }},
		{"string list", func(l *slog.Logger) {
			l.Info("invocation", "tenant", tenant, "user", oid, "logs", []string{"user " + oid})
		}},
		{"group", func(l *slog.Logger) {
			l.Info("x", "tenant", tenant, "user", oid, slog.Group("detail", "key", tenant+"_"+oid))
		}},
		{"approver", func(l *slog.Logger) { l.Info("admin consent recorded", "tenant", tenant, "approver", oid) }},
		{"scope", func(l *slog.Logger) {
			s := &Scope{Function: "SyncWorker", InvocationID: "inv-1"}
			s.SetUser(tenant, oid)
			l.ErrorContext(WithScope(context.Background(), s), "store failed", "error", "row "+tenant+"_"+oid)
		}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		tc.log(logger(&buf))
		out := buf.String()
		if strings.Contains(strings.ToLower(out), oid) {
			t.Errorf("%s: the line holds the object id:\n%s", tc.name, out)
		}
		if !strings.Contains(out, ref) {
			t.Errorf("%s: the line does not name the user by pseudonym %s:\n%s", tc.name, ref, out)
		}
	}
}

// TestHandlerHidesAddresses: an e-mail address (a UPN: Entra's
// descriptions name the account, as in AADSTS50020, and Dataverse's
// messages may name a contact) reaches no line, however it is logged;
// what is not an address stays as it was.
func TestHandlerHidesAddresses(t *testing.T) {
	const upn = "Alice.Smith_contoso.com#EXT#@fabrikam.onmicrosoft.com"
	desc := "AADSTS50020: User account '" + upn + "' from identity provider 'https://sts.windows.net/x/' does not exist in tenant 'Fabrikam'."
	var buf bytes.Buffer
	l := logger(&buf)
	l.Warn("request refused for dave@fabrikam.example", "error", errors.New(desc), "detail", "contact bob@contoso.example exists",
		"hints", []string{"carol@contoso.example"}, slog.Group("g", "who", "erin@contoso.example"))
	l.Info("kept", "module", "github.com/pitcher/connector@v1.2.3/x.go", "url", "https://contoso.crm.dynamics.com/api/data/v9.2/", "at", "a @ b")
	out := buf.String()
	for _, a := range []string{upn, "dave@fabrikam.example", "bob@contoso.example", "carol@contoso.example", "erin@contoso.example"} {
		if strings.Contains(out, a) {
			t.Errorf("the logs hold the address %s", a)
		}
	}
	got := lines(t, &buf)
	if want := "AADSTS50020: User account '" + AddressRedacted + "' from identity provider 'https://sts.windows.net/x/' does not exist in tenant 'Fabrikam'."; got[0]["error"] != want {
		t.Errorf("error = %q, want %q", got[0]["error"], want)
	}
	if got[0]["msg"] != "request refused for "+AddressRedacted || got[0]["hints"].([]any)[0] != AddressRedacted {
		t.Errorf("line = %v, want the addresses of the message and of a list hidden", got[0])
	}
	if got[1]["module"] != "github.com/pitcher/connector@v1.2.3/x.go" || got[1]["at"] != "a @ b" ||
		got[1]["url"] != "https://contoso.crm.dynamics.com/api/data/v9.2/" {
		t.Errorf("a line without addresses changed: %v", got[1])
	}
}

func TestHandlerAddsTheScope(t *testing.T) {
	var buf bytes.Buffer
	l := logger(&buf)
	s := &Scope{Function: "UploadWorker", InvocationID: "inv-7"}
	ctx := WithScope(context.Background(), s)
	l.InfoContext(ctx, "before the user is known")
	s.SetUser(tenant, oid)
	l.InfoContext(ctx, "after")
	l.Info("without the context")
	got := lines(t, &buf)
	if got[0]["function"] != "UploadWorker" || got[0]["invocationId"] != "inv-7" || got[0]["tenant"] != nil {
		t.Errorf("line before SetUser = %v, want function and invocationId only", got[0])
	}
	if got[1]["tenant"] != tenant || got[1]["userRef"] != NewPseudonyms(key).User(tenant, oid) {
		t.Errorf("line after SetUser = %v, want tenant and userRef", got[1])
	}
	if got[2]["function"] != nil {
		t.Errorf("line without the context = %v, want no scope", got[2])
	}
}

func TestCount(t *testing.T) {
	var buf bytes.Buffer
	Count(context.Background(), logger(&buf).With("tenant", tenant, "user", oid), MetricRowsSynced, 42, slog.String("entitySet", "accounts"))
	got := lines(t, &buf)[0]
	if got["msg"] != "metric" || got["metric"] != MetricRowsSynced || got["value"] != float64(42) || got["entitySet"] != "accounts" || got["userRef"] == nil {
		t.Errorf("metric line = %v", got)
	}
}

func TestObserveThrottling(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n++; n == 1 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	var buf bytes.Buffer
	c := &http.Client{Transport: ObserveThrottling(http.DefaultTransport, logger(&buf))}
	for i := 0; i < 2; i++ {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := lines(t, &buf)
	if len(got) != 1 || got[0]["metric"] != MetricThrottleWaits || got[0]["retryAfterMs"] != float64(3000) {
		t.Errorf("lines = %v, want one throttle_waits metric with retryAfterMs 3000 (the 200 is not counted)", got)
	}
}

package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/funcwire"
	"github.com/pitcher/connector/localworld/funchost"
)

func newTestServer(t *testing.T) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(&logs, nil)), Deps{}))
	t.Cleanup(srv.Close)
	return srv, &logs
}

func do(t *testing.T, method, url, body string) (*http.Response, ErrorBody) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp, eb
}

func TestReadinessProbe(t *testing.T) {
	srv, _ := newTestServer(t)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / = %d, want 200", resp.StatusCode)
	}
}

// TestEveryFunctionAnswersNotImplemented checks that each function of
// functions/ is routed, and that until its issue lands it says so with a 501
// naming it instead of pretending to succeed.
func TestEveryFunctionAnswersNotImplemented(t *testing.T) {
	srv, _ := newTestServer(t)
	now := time.Now()
	timer, _ := json.Marshal(funcwire.TimerRequest("SyncScheduler", "timer", funcwire.TimerInfo{}, now))
	sb := func(function, binding string) string {
		b, _ := json.Marshal(funcwire.ServiceBusRequest(function, binding, funcwire.ServiceBusMessage{Body: []byte(`{"v":1}`), MessageID: "m1", DeliveryCount: 1}, "sb.example", now))
		return string(b)
	}
	tests := []struct{ function, method, path, body string }{
		{"AdminConsentStart", "GET", "/api/consent/start?tenant=organizations", ""},
		{"AdminConsentCallback", "GET", "/api/consent/callback?state=s", ""},
		{"LoginStart", "GET", "/api/login", ""},
		{"LoginCallback", "GET", "/api/auth/callback?code=c&state=s", ""},
		{"UploadIntake", "POST", "/api/uploads", `{}`},
		{"UploadStatus", "GET", "/api/uploads/u-1", ""},
		{"Changes", "GET", "/api/changes?cursor=0", ""},
		{"Diagnostics", "GET", "/api/diagnostics", ""},
		{"SyncScheduler", "POST", "/SyncScheduler", string(timer)},
		{"SyncWorker", "POST", "/SyncWorker", sb("SyncWorker", "job")},
		{"UploadWorker", "POST", "/UploadWorker", sb("UploadWorker", "upload")},
	}
	for _, tc := range tests {
		t.Run(tc.function, func(t *testing.T) {
			resp, eb := do(t, tc.method, srv.URL+tc.path, tc.body)
			if resp.StatusCode != http.StatusNotImplemented {
				t.Errorf("%s %s = %d, want 501", tc.method, tc.path, resp.StatusCode)
			}
			if eb.Error.Function != tc.function || eb.Error.Code != apperr.NotImplemented || !strings.Contains(eb.Error.Message, tc.function) {
				t.Errorf("%s %s body = %+v, want a not_implemented error naming %s", tc.method, tc.path, eb.Error, tc.function)
			}
			if eb.Error.InvocationID != "inv-1" {
				t.Errorf("%s %s invocationId = %q, want the host's inv-1", tc.method, tc.path, eb.Error.InvocationID)
			}
		})
	}
}

func TestUnknownPath(t *testing.T) {
	srv, _ := newTestServer(t)
	resp, eb := do(t, "GET", srv.URL+"/api/nope", "")
	if resp.StatusCode != http.StatusNotFound || eb.Error.Code != apperr.NotFound {
		t.Errorf("GET /api/nope = %d %+v, want 404 not_found", resp.StatusCode, eb.Error)
	}
}

// TestInvokeBadPayloads: a malformed invocation is a 400 that says what is
// wrong, and the handler keeps serving.
func TestInvokeBadPayloads(t *testing.T) {
	srv, logs := newTestServer(t)
	tests := []struct{ name, body, want string }{
		{"empty", "", "must be a JSON object"},
		{"array", "[1,2]", "must be a JSON object"},
		{"truncated", `{"Data":{"timer":`, "malformed JSON"},
		{"Data not an object", `{"Data":"x","Metadata":{}}`, "Data is a JSON string"},
		{"Metadata not an object", `{"Data":{},"Metadata":[1]}`, "Metadata is a JSON array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, eb := do(t, "POST", srv.URL+"/SyncWorker", tc.body)
			if resp.StatusCode != http.StatusBadRequest || eb.Error.Code != apperr.Invalid || !strings.Contains(eb.Error.Message, tc.want) {
				t.Errorf("POST /SyncWorker %q = %d %+v, want 400 invalid containing %q", tc.body, resp.StatusCode, eb.Error, tc.want)
			}
		})
	}
	if resp, _ := http.Get(srv.URL + "/"); resp == nil || resp.StatusCode != 200 {
		t.Fatal("the handler stopped answering after bad payloads")
	}
	if !strings.Contains(logs.String(), `"function":"SyncWorker"`) || !strings.Contains(logs.String(), `"invocationId":"inv-1"`) {
		t.Errorf("failures were not logged with function and invocation id to stdout:\n%s", logs)
	}
}

// TestInvokeOutcomes covers the encoding layer: success carries Logs; an
// error maps to its status; a panic is a 500 that leaves the server up; the
// logged failure keeps the Logs the host would drop.
func TestInvokeOutcomes(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	fns := map[string]invocationFunc{
		"ok": func(_ context.Context, inv *Invocation) error {
			inv.Logf("synced %d rows", 3)
			return nil
		},
		"throttled": func(_ context.Context, inv *Invocation) error {
			inv.Logf("page 2 throttled")
			return &apperr.Error{Kind: apperr.Throttled, Message: "Dataverse is throttling", RetryAfter: 1500e6}
		},
		"boom":     func(context.Context, *Invocation) error { panic("nil map") },
		"internal": func(context.Context, *Invocation) error { return errors.New("table write: connection reset") },
	}
	mux := http.NewServeMux()
	for name, fn := range fns {
		mux.Handle("POST /"+name, invoke(logger, name, fn))
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	payload := `{"Data":{},"Metadata":{}}`

	resp, err := http.Post(srv.URL+"/ok", "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	var ok funcwire.InvokeResponse
	_ = json.NewDecoder(resp.Body).Decode(&ok)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(ok.Logs) != 1 || ok.Logs[0] != "synced 3 rows" || ok.Outputs == nil {
		t.Errorf("POST /ok = %d %+v, want 200 with Logs [synced 3 rows] and Outputs {}", resp.StatusCode, ok)
	}

	resp, eb := do(t, "POST", srv.URL+"/throttled", payload)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || eb.Error.Message != "Dataverse is throttling" {
		t.Errorf("POST /throttled = %d Retry-After %q %+v, want 429, Retry-After 2", resp.StatusCode, resp.Header.Get("Retry-After"), eb.Error)
	}
	if !strings.Contains(logs.String(), "page 2 throttled") {
		t.Errorf("a failed invocation's Logs were not written to stdout:\n%s", logs.String())
	}

	resp, eb = do(t, "POST", srv.URL+"/boom", payload)
	if resp.StatusCode != 500 || strings.Contains(eb.Error.Message, "nil map") {
		t.Errorf("POST /boom = %d %+v, want 500 without internals", resp.StatusCode, eb.Error)
	}
	if !strings.Contains(logs.String(), "panic: nil map") {
		t.Errorf("the panic was not logged:\n%s", logs.String())
	}
	resp, eb = do(t, "POST", srv.URL+"/internal", payload)
	if resp.StatusCode != 500 || strings.Contains(eb.Error.Message, "connection reset") {
		t.Errorf("POST /internal = %d %+v, want 500 with a generic message", resp.StatusCode, eb.Error)
	}
	if resp, _ := http.Post(srv.URL+"/ok", "application/json", strings.NewReader(payload)); resp == nil || resp.StatusCode != 200 {
		t.Error("the server stopped serving after a panic")
	}
}

func TestHTTPFunctionPanicIs500(t *testing.T) {
	var logs bytes.Buffer
	h := httpFunction(slog.New(slog.NewJSONHandler(&logs, nil)), "Changes", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("bad cursor") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/changes?cursor=secret-code", nil))
	if rec.Code != 500 {
		t.Errorf("panicking HTTP function answered %d, want 500", rec.Code)
	}
	if strings.Contains(logs.String(), "secret-code") {
		t.Errorf("the query string reached the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("the request log does not record status 500:\n%s", logs.String())
	}
}

// TestJSONAnswersAreNotSniffed: every JSON answer the handler writes (of
// every function, to a browser, the app or the host, and the 404 of a path
// no function serves) carries X-Content-Type-Options: nosniff.
func TestJSONAnswersAreNotSniffed(t *testing.T) {
	fns, err := funchost.LoadFunctions("..", funchost.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newTestServer(t)
	authed := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), Deps{Auth: fakeAuth{}}))
	defer authed.Close()
	type call struct{ name, base, method, path, body string }
	calls := []call{
		{"unknown path", srv.URL, "GET", "/api/nothing-here", ""},
		{"bad invocation", srv.URL, "POST", "/SyncWorker", "[1]"},
		{"no token", authed.URL, "GET", "/api/changes", ""},
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, fn := range fns {
		method, path := http.MethodPost, "/"+fn.Name
		if fn.Trigger.Type == funchost.HTTPTrigger {
			method, path = fn.Trigger.Methods[0], "/api/"+param.ReplaceAllString(fn.Route.Template, "x1")
		}
		calls = append(calls, call{fn.Name, srv.URL, method, path, "{}"})
	}
	for _, c := range calls {
		resp, _ := do(t, c.method, c.base+c.path, c.body)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %s %s = %d, Content-Type %q, X-Content-Type-Options %q; want a JSON answer with nosniff", c.name, c.method, c.path,
				resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"))
		}
	}
}

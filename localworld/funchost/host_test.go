package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/funcwire"
	"github.com/pitcher/connector/localworld/testenv"
)

func TestForwardedHTTP(t *testing.T) {
	root := testApp{functions: map[string]string{"Echo": echoFn, "Redirect": redirectFn}}.write(t)
	h, _, _ := startHost(t, root, "TEST_SETTING=from-env")
	base := "http://" + h.Addr()

	resp, err := http.Post(base+"/api/echo/42?x=1&y=two", "application/json", strings.NewReader(`{"note":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	var echo map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&echo)
	resp.Body.Close()
	want := map[string]string{"method": "POST", "path": "/api/echo/42", "query": "x=1&y=two", "body": `{"note":"hi"}`, "contentType": "application/json", "host": h.Addr(), "setting": "from-env"}
	for k, v := range want {
		if echo[k] != v {
			t.Errorf("forwarded %s = %q, want %q", k, echo[k], v)
		}
	}
	if len(echo["invocationId"]) != 36 {
		t.Errorf("forwarded X-Azure-Functions-InvocationId = %q, want a GUID", echo["invocationId"])
	}

	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/echo/abc"},   // {id:int} constraint
		{"DELETE", "/api/echo/42"}, // method not in the function's methods
		{"GET", "/api/nothing"},
		{"GET", "/echo/42"}, // no route prefix
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s = %d, want 404", tc.method, tc.path, resp.StatusCode)
		}
	}

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(base + "/api/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/elsewhere" {
		t.Errorf("GET /api/redirect = %d Location %q, want the handler's 302 passed through", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestChunkedBodyDropped: like the host, funchost forwards a body only when
// the request has a Content-Length.
func TestChunkedBodyDropped(t *testing.T) {
	root := testApp{functions: map[string]string{"Echo": echoFn}}.write(t)
	h, out, _ := startHost(t, root)
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte("chunked")); pw.Close() }()
	resp, err := http.Post("http://"+h.Addr()+"/api/echo/1", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	var echo map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&echo)
	resp.Body.Close()
	if echo["body"] != "" {
		t.Errorf("chunked body forwarded as %q, want it dropped as the host does", echo["body"])
	}
	out.WaitFor(t, outputTimeout, 1, "without Content-Length")
}

func TestTimerFiresOnSchedule(t *testing.T) {
	root := testApp{
		values:    map[string]string{"TICK": "*/1 * * * * *"},
		functions: map[string]string{"Tick": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"tick","schedule":"%TICK%"}]}`},
	}.write(t)
	_, out, _ := startHost(t, root)
	out.WaitFor(t, outputTimeout, 2, "Executed 'Functions.Tick' (Succeeded", "] IsPastDue=false")
	if strings.Contains(out.String(), "Last=") {
		t.Errorf("a schedule firing every second is not monitored by the host, so ScheduleStatus must be null:\n%s", out)
	}
}

// TestTimerPastDue: an occurrence missed while the host was down fires at
// start with IsPastDue, as the host's schedule monitor does.
func TestTimerPastDue(t *testing.T) {
	root := testApp{functions: map[string]string{"Tick": yearlyTick}}.write(t)
	missed := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	st, _ := json.Marshal(funcwire.ScheduleStatus{Last: missed.AddDate(-1, 0, 0), Next: missed, LastUpdated: missed.AddDate(-1, 0, 0)})
	if err := os.MkdirAll(filepath.Join(root, ".state", "timers"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".state", "timers", "Tick.json"), st, 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, _ := startHost(t, root)
	out.WaitFor(t, outputTimeout, 1, "] IsPastDue=true Last=2020-01-01T00:00:00Z", "Reason='Timer is past due'")
}

func TestAdminAPI(t *testing.T) {
	root := testApp{functions: map[string]string{"Tick": yearlyTick, "Queue": queueFn, "Echo": echoFn}}.write(t)
	h, out, _ := startHost(t, root)
	base := "http://" + h.Addr()
	out.WaitFor(t, outputTimeout, 1, "Handler ready")

	resp, err := http.Get(base + "/admin/host/status")
	if err != nil {
		t.Fatal(err)
	}
	var status map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if status["state"] != "Running" {
		t.Errorf("GET /admin/host/status = %v, want state Running", status)
	}
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/admin/functions/Tick", `{}`, http.StatusAccepted},
		{"/admin/functions/queue", `{"input":"{\"report\":7}"}`, http.StatusAccepted},
		{"/admin/functions/Echo", `{}`, http.StatusBadRequest},
		{"/admin/functions/Nope", `{}`, http.StatusNotFound},
		{"/admin/functions/Tick", `not json`, http.StatusBadRequest},
	} {
		resp, err := http.Post(base+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST %s %s = %d, want %d", tc.path, tc.body, resp.StatusCode, tc.want)
		}
	}
	// The Service Bus payload funchost builds decodes with the app's own decoder.
	out.WaitFor(t, outputTimeout, 1, `] body={"report":7} messageId=true deliveryCount=1 contentType=application/json`, "] IsPastDue=false")
}

func TestInvokeOnce(t *testing.T) {
	root := testApp{functions: map[string]string{"Queue": queueFn, "Fail": failFn}}.write(t)
	out := &testenv.Buffer{}
	h, err := New(Options{Root: root, Addr: "127.0.0.1:0", Out: out})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Invoke(context.Background(), "Queue", `{"a":1}`)
	if err != nil || len(res.Logs) != 1 || !strings.HasPrefix(res.Logs[0], `body={"a":1} messageId=true deliveryCount=1`) {
		t.Errorf("Invoke(Queue) = %+v, %v", res, err)
	}

	h, err = New(Options{Root: root, Addr: "127.0.0.1:0", Out: out})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Invoke(context.Background(), "Fail", "")
	var ie *InvocationError
	if !errors.As(err, &ie) || ie.StatusCode != 500 {
		t.Fatalf("Invoke(Fail) error = %v, want an InvocationError with status 500", err)
	}
	if strings.Contains(out.String(), "dropped by the host") {
		t.Errorf("Logs of a failed invocation were printed; the host drops them:\n%s", out)
	}
	if _, err := h.Invoke(context.Background(), "Nope", ""); err == nil {
		t.Error("Invoke(Nope) succeeded")
	}
}

// TestCrashingHandlerRestarted: a handler that exits is restarted, requests
// wait for it, and after three restarts the host gives up.
func TestCrashingHandlerRestarted(t *testing.T) {
	root := testApp{functions: map[string]string{"Echo": echoFn, "Crash": crashFn}}.write(t)
	h, out, run := startHost(t, root)
	base := "http://" + h.Addr()
	for i := 1; i <= 3; i++ {
		if resp, err := http.Get(base + "/api/crash"); err == nil {
			resp.Body.Close()
		}
		out.WaitFor(t, outputTimeout, i, "Restarting it (", "crashing on purpose")
		resp, err := http.Get(base + "/api/echo/7")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after restart %d, GET /api/echo/7 = %d, want 200", i, resp.StatusCode)
		}
	}
	if resp, err := http.Get(base + "/api/crash"); err == nil {
		resp.Body.Close()
	}
	select {
	case <-run.done:
		if err := run.err; err == nil || !strings.Contains(err.Error(), "exceeded http worker restart retry count") || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("Run after a 4th crash = %v, want the restart limit error with the exit status", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the host kept running after the handler crashed a 4th time")
	}
}

// TestRestartLimitConfigurable: Options.MaxRestarts raises the limit: the
// handler is restarted after each of five crashes, and the sixth ends the
// host naming the limit.
func TestRestartLimitConfigurable(t *testing.T) {
	root := testApp{functions: map[string]string{"Echo": echoFn, "Crash": crashFn}}.write(t)
	out := &testenv.Buffer{}
	h, err := New(Options{Root: root, Addr: "127.0.0.1:0", StateDir: filepath.Join(root, ".state"), Out: out, MaxRestarts: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	base := "http://" + h.Addr()
	for i := 1; i <= 6; i++ {
		if resp, err := http.Get(base + "/api/crash"); err == nil {
			resp.Body.Close()
		}
		if i == 6 {
			break
		}
		out.WaitFor(t, outputTimeout, i, "Restarting it (", "of 5)")
		resp, err := http.Get(base + "/api/echo/7")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after restart %d, GET /api/echo/7 = %d, want 200", i, resp.StatusCode)
		}
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "restart retry count (5)") {
			t.Errorf("Run after a 6th crash = %v, want the restart limit (5) error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the host kept running after the handler crashed a 6th time")
	}
}

// TestFailedForwardLogsNoQuery: when the handler does not answer (here it
// exits), the failure is logged with the path only: the query of a sign-in
// callback carries Entra's code and the state.
func TestFailedForwardLogsNoQuery(t *testing.T) {
	root := testApp{functions: map[string]string{"Crash": crashFn}}.write(t)
	h, out, _ := startHost(t, root)
	if resp, err := http.Get("http://" + h.Addr() + "/api/crash?code=SECRET-CODE-1&state=SECRET-STATE-2"); err == nil {
		resp.Body.Close()
	}
	out.WaitFor(t, outputTimeout, 1, "Executed 'Functions.Crash' (Failed")
	if s := out.String(); strings.Contains(s, "SECRET-") || !strings.Contains(s, "GET /api/crash") {
		t.Errorf("the host's log quotes the request's query, or does not name its path:\n%s", s)
	}
}

// TestReadiness: requests wait for a slow handler; a handler that never
// answers GET / is given up on after the initialization timeout.
func TestReadiness(t *testing.T) {
	root := testApp{functions: map[string]string{"Echo": echoFn}}.write(t)
	h, out, _ := startHost(t, root, "TEST_HANDLER_START_DELAY=300ms")
	resp, err := http.Get("http://" + h.Addr() + "/api/echo/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET during start-up = %d, want 200 once the handler is ready", resp.StatusCode)
	}
	out.WaitFor(t, outputTimeout, 1, "Handler ready on 127.0.0.1:")

	root = testApp{hostExtra: map[string]any{"initializationTimeout": "00:00:00.2"}, functions: map[string]string{"Echo": echoFn}}.write(t)
	_, out, run := startHost(t, root, "TEST_HANDLER_NEVER_LISTEN=1")
	select {
	case <-run.done:
		if err := run.err; err == nil || !strings.Contains(err.Error(), "no answer on GET / within the initialization timeout") {
			t.Errorf("Run with a handler that never listens = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the host waited forever for a handler that never listens")
	}
	if got := strings.Count(out.String(), "Restarting it ("); got != 3 {
		t.Errorf("restarted %d times, want 3", got)
	}
}

// TestRealHandlerThroughFunchost runs this repository's app (functions/
// layout, local.settings.json.example) with the real handler, chosen through
// the documented host.json override setting.
func TestRealHandlerThroughFunchost(t *testing.T) {
	h, out, _ := startHost(t, "../..", "AzureFunctionsJobHost__customHandler__description__defaultExecutablePath="+realHandlerBin, "FUNCTIONS_WORKER_RUNTIME=custom",
		// Never the developer's own local world on port 5672.
		"ServiceBusConnection=Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true")
	for _, tc := range []struct{ path, function string }{{"/api/diagnostics", "Diagnostics"}, {"/api/uploads/u-42", "UploadStatus"}} {
		resp, err := http.Get("http://" + h.Addr() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code, Function string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		// The app-facing functions authenticate first: no token, 401.
		if resp.StatusCode != http.StatusUnauthorized || body.Error.Function != tc.function || body.Error.Code != "unauthorized" {
			t.Errorf("GET %s = %d %+v, want 401 naming %s", tc.path, resp.StatusCode, body, tc.function)
		}
	}
	if strings.Count(out.String(), "    ") < 11 {
		t.Errorf("funchost did not list the 11 functions:\n%s", out)
	}
}

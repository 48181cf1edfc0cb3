package funchost

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/testenv"
)

// binaries built once for the package's tests.
var testHandlerBin, realHandlerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "funchost-test")
	if err != nil {
		panic(err)
	}
	testHandlerBin = filepath.Join(dir, "testhandler")
	realHandlerBin = filepath.Join(dir, "handler")
	for bin, pkg := range map[string]string{testHandlerBin: "./testdata/testhandler", realHandlerBin: "../../cmd/handler"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// outputTimeout bounds how long a test waits for the host to print a line.
const outputTimeout = 15 * time.Second

// testApp writes an app folder using the test handler: host.json with the
// given customHandler extras, local.settings.json with values, and the
// functions (name -> function.json).
type testApp struct {
	timeout    string // functionTimeout; "" is 00:01:00
	hostExtra  map[string]any
	extensions map[string]any
	values     map[string]string
	functions  map[string]string
}

func (a testApp) write(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	desc := map[string]any{"defaultExecutablePath": testHandlerBin}
	ch := map[string]any{"description": desc, "enableForwardingHttpRequest": true}
	for k, v := range a.hostExtra {
		ch[k] = v
	}
	timeout := a.timeout
	if timeout == "" {
		timeout = "00:01:00"
	}
	host := map[string]any{"version": "2.0", "functionTimeout": timeout, "customHandler": ch}
	if a.extensions != nil {
		host["extensions"] = a.extensions
	}
	writeJSONFile(t, filepath.Join(root, "host.json"), host)
	values := map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom", "SB": "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true", "Q": "work", "TEST_SETTING": "from-file"}
	for k, v := range a.values {
		values[k] = v
	}
	writeJSONFile(t, filepath.Join(root, "local.settings.json"), map[string]any{"IsEncrypted": false, "Values": values})
	for name, fj := range a.functions {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, "function.json"), []byte(fj), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	echoFn     = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get","post"],"route":"echo/{id:int}"},{"type":"http","direction":"out","name":"res"}]}`
	redirectFn = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["get"],"route":"redirect"},{"type":"http","direction":"out","name":"res"}]}`
	crashFn    = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["get"],"route":"crash"},{"type":"http","direction":"out","name":"res"}]}`
	yearlyTick = `{"bindings":[{"type":"timerTrigger","direction":"in","name":"tick","schedule":"0 0 0 1 1 *"}]}`
	queueFn    = `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"%Q%","connection":"SB"}]}`
	workFn     = `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"%Q%","connection":"SB"}]}`
	failFn     = `{"bindings":[{"type":"timerTrigger","direction":"in","name":"tick","schedule":"0 0 0 1 1 *"}]}`
)

// hostRun is a Host running in the background; done is closed when Run has
// returned err.
type hostRun struct {
	done chan struct{}
	err  error
}

// startHost runs a Host for root until the test ends.
func startHost(t *testing.T, root string, environ ...string) (*Host, *testenv.Buffer, *hostRun) {
	t.Helper()
	out := &testenv.Buffer{}
	h, err := New(Options{Root: root, Addr: "127.0.0.1:0", StateDir: filepath.Join(root, ".state"), Environ: environ, Out: out})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &hostRun{done: make(chan struct{})}
	go func() { r.err = h.Run(ctx); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(40 * time.Second):
			t.Error("host did not stop")
		}
	})
	return h, out, r
}

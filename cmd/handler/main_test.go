package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/localworld/testenv"
)

func testEnv(port int) map[string]string {
	return map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": strconv.Itoa(port),
		"AzureWebJobsStorage":          "UseDevelopmentStorage=true",
		"ServiceBusConnection":         "Endpoint=sb://localhost:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true",
		"SYNC_QUEUE":                   "sync-jobs",
		"UPLOAD_QUEUE":                 "uploads",
		"ENTRA_CLIENT_ID":              "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70",
		"ENTRA_CLIENT_SECRET":          "CLIENT_SECRET_VALUE",
		"PUBLIC_BASE_URL":              "http://127.0.0.1:7071",
		"TOKEN_ENCRYPTION_KEYS":        "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"LOG_PSEUDONYM_KEY":            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}
}

// waitReady polls GET / the way the Functions host does.
func waitReady(t testing.TB, url string, stop <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case err := <-stop:
			t.Fatalf("handler stopped before it was ready: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("%s never answered", url)
}

func TestRunServesUntilCancelled(t *testing.T) {
	port := testenv.FreePort(t)
	kv := testEnv(port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return kv[k] }, io.Discard, io.Discard) }()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitReady(t, base+"/", done)

	resp, err := http.Get(base + "/api/diagnostics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("GET /api/diagnostics without a token = %d (WWW-Authenticate %q), want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
}

func TestRunRejectsBadSettings(t *testing.T) {
	err := run(context.Background(), nil, func(string) string { return "" }, io.Discard, io.Discard)
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 10 {
		t.Fatalf("run with no settings = %v, want a config error listing 10 problems", err)
	}
	if err := run(context.Background(), []string{"--db", "x"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Error("run with unknown arguments succeeded")
	}
}

// TestRunRefusesAmbiguousSettings: a configuration document that gives a
// field twice (which encoding/json would settle silently, the last one
// winning) and a client id that is not one stop the start, each problem
// naming the setting, the place and the fix.
func TestRunRefusesAmbiguousSettings(t *testing.T) {
	kv := testEnv(testenv.FreePort(t))
	kv["SYNC_CONFIG"] = `{"entitySets":[{"name":"accounts","select":["name"],"name":"contacts"}]}`
	kv["UPLOAD_CONFIG"] = `{"activity":{"entitySet":"appointments","logicalName":"appointment","entitySet":"tasks"},
		"entitySets":[{"name":"accounts","logicalName":"account","keys":[["accountnumber"]],"fields":["name","accountnumber"]}]}`
	kv["API_ALLOWED_CLIENT_IDS"] = "pitcher-ipad"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a start that is not refused serves until then
	defer cancel()
	err := run(ctx, nil, func(k string) string { return kv[k] }, io.Discard, io.Discard)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("run = %v, want a config error", err)
	}
	for _, want := range []string{"SYNC_CONFIG.(document): entitySets[0].name is given twice; give each field once",
		"UPLOAD_CONFIG.(document): activity.entitySet is given twice; give each field once",
		`API_ALLOWED_CLIENT_IDS: "pitcher-ipad" is not a GUID`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("run = %v\nwant a problem %q", err, want)
		}
	}
	if len(ce.Problems) != 3 {
		t.Errorf("run found %d problems, want 3: %v", len(ce.Problems), err)
	}
}

func TestServeDrainsInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.WriteHeader(http.StatusOK)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, h, 10*time.Second, slog.New(slog.DiscardHandler)) }()
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/SyncWorker", "application/json", strings.NewReader("{}"))
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-started
	cancel() // SIGTERM while an invocation runs
	select {
	case err := <-done:
		t.Fatalf("serve returned (%v) before the in-flight invocation finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if got := <-status; got != http.StatusOK {
		t.Errorf("in-flight invocation answered %d, want 200", got)
	}
	if err := <-done; err != nil {
		t.Errorf("serve = %v, want nil after a clean drain", err)
	}
}

func TestServeDrainDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { close(started); <-release })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, h, 100*time.Millisecond, slog.New(slog.DiscardHandler)) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "drain did not finish within 100ms") {
		t.Errorf("serve = %v, want a drain deadline error", err)
	}
}

// BenchmarkHandlerStartup measures, per start of the built binary, the time
// from exec to the first answer on GET /: the figure the host's 30 s
// initialization timeout and Flex cold starts depend on (ms-to-ready).
func BenchmarkHandlerStartup(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "handler")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		port := testenv.FreePort(b)
		var env []string
		for k, v := range testEnv(port) {
			env = append(env, k+"="+v)
		}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), env...)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
		for {
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatal("handler never answered")
			}
			time.Sleep(200 * time.Microsecond)
		}
		total += time.Since(start)
		b.StopTimer()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-ready")
}

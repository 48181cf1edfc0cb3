package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/loopback"
)

// Process is a service a test started for itself, to stop when the test
// needs it gone (Stop, by its PID) and in any case when the test ends.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Stop kills the process and waits until it has exited and its ports are
// closed. It may be called more than once.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// PrivateAzurite starts an in-memory Azurite of the test's own on free
// ports (scripts/lib.sh's start_azurite) and returns its connection string.
// The test may stop it to see what a dead Storage does to the code; it is
// stopped when the test ends in any case.
func PrivateAzurite(tb testing.TB) (string, *Process) {
	tb.Helper()
	root := RepoRoot(tb)
	bin := filepath.Join(root, "node_modules", ".bin", "azurite")
	need(tb, "CONNECTOR_TEST_STORAGE", "Azurite")
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("%s is missing: run npm ci (make test does)", bin)
	}
	blob, queue, table := FreePort(tb), FreePort(tb), FreePort(tb)
	p := start(tb, bin, "--silent", "--skipApiVersionCheck", "--inMemoryPersistence", "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(blob), "--queuePort", strconv.Itoa(queue), "--tablePort", strconv.Itoa(table))
	waitPorts(tb, p, blob, queue, table)
	cs := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;QueueEndpoint=http://127.0.0.1:%d/devstoreaccount1;TableEndpoint=http://127.0.0.1:%d/devstoreaccount1;", blob, queue, table)
	return cs, p
}

// PrivateServiceBus starts a Service Bus fake of the test's own, with its
// admin API, on free ports (scripts/lib.sh's start_servicebus).
func PrivateServiceBus(tb testing.TB) (ServiceBusEnv, *Process) {
	tb.Helper()
	need(tb, "CONNECTOR_TEST_SERVICEBUS", "the Service Bus fake")
	port, admin := FreePort(tb), FreePort(tb)
	p := start(tb, "node", filepath.Join(RepoRoot(tb), "localworld", "servicebus-fake", "main.js"), "--port", strconv.Itoa(port), "--admin-port", strconv.Itoa(admin))
	waitPorts(tb, p, port, admin)
	return ServiceBusEnv{
		ConnectionString: fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;", port),
		AdminURL:         "http://127.0.0.1:" + strconv.Itoa(admin),
	}, p
}

func start(tb testing.TB, name string, args ...string) *Process {
	tb.Helper()
	cmd := exec.Command(name, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	tb.Cleanup(p.Stop)
	return p
}

// waitPorts waits until every port accepts connections, failing the test
// if the process exits first or a minute passes.
func waitPorts(tb testing.TB, p *Process, ports ...int) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, port := range ports {
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-p.done:
				tb.Fatalf("%s exited before it listened on port %d", p.cmd.Path, port)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				tb.Fatalf("%s did not listen on port %d within a minute", p.cmd.Path, port)
			}
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	p, err := loopback.FreePorts(1)
	if err != nil {
		tb.Fatal(err)
	}
	return p[0]
}

// RepoRoot is the repository's root (where go.mod is), found upwards from
// the test's directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

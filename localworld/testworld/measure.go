package testworld

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// What benchmarks measure of a World: the Storage requests the handler
// sends and the handler's memory.

// StorageCounts are the requests the handler sent to Storage since the
// World started (Options.CountStorage). Each request is one billed
// transaction; a Table batch of up to 100 operations is one request.
type StorageCounts struct{ Table, Blob int64 }

// storageCounter puts a counting reverse proxy in front of Azurite's Table
// and Blob endpoints.
type storageCounter struct{ table, blob atomic.Int64 }

// countStorage returns the connection string the handler is given: conn
// with its Table and Blob endpoints replaced by counting proxies (Shared
// Key signatures cover the path, which the proxies keep, not the host).
func (w *World) countStorage(t testing.TB, conn string) string {
	t.Helper()
	w.storage = &storageCounter{}
	parts := strings.Split(conn, ";")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		var n *atomic.Int64
		switch k {
		case "TableEndpoint":
			n = &w.storage.table
		case "BlobEndpoint":
			n = &w.storage.blob
		default:
			continue
		}
		target, err := url.Parse(v)
		if err != nil {
			t.Fatalf("storage %s: %v", k, err)
		}
		proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host, r.Out.Host = target.Scheme, target.Host, target.Host
		}}
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			n.Add(1)
			proxy.ServeHTTP(rw, r)
		}))
		t.Cleanup(srv.Close)
		parts[i] = k + "=" + srv.URL + target.Path
	}
	return strings.Join(parts, ";")
}

// StorageRequests returns the Storage requests the handler has sent so far;
// the World must have been started with Options.CountStorage.
func (w *World) StorageRequests(t testing.TB) StorageCounts {
	t.Helper()
	if w.storage == nil {
		t.Fatal("StorageRequests needs a World started with Options.CountStorage")
	}
	return StorageCounts{Table: w.storage.table.Load(), Blob: w.storage.blob.Load()}
}

// HandlerPeakRSS is the peak resident memory (VmHWM) of the running
// handler process, in bytes: its high-water mark since it started.
func (w *World) HandlerPeakRSS(t testing.TB) int64 {
	t.Helper()
	pid, _ := w.Host.Handler()
	if pid == 0 {
		t.Fatal("no handler is running")
	}
	n, err := PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// PeakRSS reads VmHWM of process pid from /proc/<pid>/status (Linux), in
// bytes.
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("peak RSS of process %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak RSS of process %d: VmHWM %q: %w", pid, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("peak RSS of process %d: no VmHWM in /proc/%d/status", pid, pid)
}

// ResetHandlerPeakRSS sets the handler's high-water mark (VmHWM) to its
// resident memory now (Linux: clear_refs 5), so HandlerPeakRSS then
// measures the peak of what follows; it returns that resident memory in
// bytes.
func (w *World) ResetHandlerPeakRSS(t testing.TB) int64 {
	t.Helper()
	pid, _ := w.Host.Handler()
	if pid == 0 {
		t.Fatal("no handler is running")
	}
	if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset the handler's peak RSS: %v", err)
	}
	return w.HandlerPeakRSS(t)
}

// StopCPUProfile ends the running handler's CPU profile (Options.CPUProfile)
// and waits until it is written.
func (w *World) StopCPUProfile(t testing.TB) {
	t.Helper()
	pid, _ := w.Host.Handler()
	if w.cpuProfile == "" || pid == 0 {
		t.Fatal("StopCPUProfile needs a running handler of a World started with Options.CPUProfile")
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, "the handler's CPU profile", time.Minute, func() bool {
		_, err := os.Stat(w.cpuProfile)
		return err == nil
	})
}

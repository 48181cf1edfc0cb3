package uploader

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/queue/queuetest"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/uploadconfig"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
)

// BenchmarkIntakeMemory measures what Accept holds in memory while it
// decodes and stores a 32 MiB report: 8 documents of 3 MiB − 1 KiB (each
// ≈4 MiB of Base64), the body just under UPLOAD_MAX_BODY_BYTES' default.
// Figures are in docs/performance.md ("Intake memory"):
//
//	go test -run '^$' -bench BenchmarkIntakeMemory -benchtime 5x ./internal/uploader/
//
// peak-heap-MiB is the largest rise of the heap's object bytes
// (runtime/metrics "/memory/classes/heap/objects:bytes": live objects and
// dead ones not yet swept, i.e. what the heap holds) above the figure just
// before the call, after a GC, sampled every 100 µs by another goroutine
// during the call; the largest over the iterations. alloc-MiB/op is
// "/gc/heap/allocs:bytes" over the call: everything allocated, freed or not.
//
// "discard" stores into a Blobs that reads what it is given and keeps
// nothing, so the figures are the intake's own; "azurite" stores into
// Blob Storage (Azurite, CONNECTOR_TEST_STORAGE) through documents.Store,
// the Azure SDK's buffers included.
func BenchmarkIntakeMemory(b *testing.B) {
	const docs, docBytes = 8, 3<<20 - 1<<10
	body := memReport(b, docs, docBytes)
	b.Logf("report: %d bytes, %d documents of %d bytes", len(body), docs, docBytes)
	b.Run("discard", func(b *testing.B) { benchIntake(b, body, discardBlobs{}) })
	b.Run("azurite", func(b *testing.B) {
		if os.Getenv("CONNECTOR_TEST_STORAGE") == "" {
			b.Skip("CONNECTOR_TEST_STORAGE is not set (source /tmp/dev/env.sh, or make test)")
		}
		name := strings.ToLower(testenv.TablePrefix(b))
		c, err := container.NewClientFromConnectionString(testenv.Storage(b), name, nil)
		if err != nil {
			b.Fatal(err)
		}
		s := documents.New(c)
		if err := s.EnsureContainer(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _, _ = c.Delete(context.Background(), nil) })
		benchIntake(b, body, s)
	})
}

func benchIntake(b *testing.B, body []byte, blobs Blobs) {
	svc, o := memIntake(b, blobs)
	ctx := context.Background()
	idAt := bytes.Index(body, []byte(`"uploadId":"`)) + len(`"uploadId":"`)
	var peak, allocs uint64
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		copy(body[idAt:], fmt.Sprintf("mem-%06d", i+1))
		runtime.GC()
		base, allocBase := heapObjects(), heapAllocs()
		sampler := startPeakSampler()
		b.StartTimer()
		_, accepted, err := svc.Accept(ctx, o, "application/json", bytes.NewReader(body))
		b.StopTimer()
		top := sampler.stop()
		allocs += heapAllocs() - allocBase
		if err != nil || !accepted {
			b.Fatalf("Accept = %v, %v", accepted, err)
		}
		if top > base && top-base > peak {
			peak = top - base
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(allocs)/float64(b.N)/(1<<20), "alloc-MiB/op")
}

// TestIntakeMemoryIsBounded is the guard on the benchmark's figure: a
// 32 MiB report with 8 documents is decoded and stored allocating a small
// multiple of the decoder's buffers, not of the body (the whole report
// decoded in memory allocated about 9 times the body).
func TestIntakeMemoryIsBounded(t *testing.T) {
	const docs, docBytes = 8, 3<<20 - 1<<10
	body := memReport(t, docs, docBytes)
	svc, o := memIntake(t, discardBlobs{})
	runtime.GC()
	before := heapAllocs()
	_, accepted, err := svc.Accept(context.Background(), o, "application/json", bytes.NewReader(body))
	allocated := heapAllocs() - before
	if err != nil || !accepted {
		t.Fatalf("Accept = %v, %v", accepted, err)
	}
	if limit := uint64(len(body)) / 8; allocated > limit {
		t.Errorf("accepting a %d MiB report allocated %.1f MiB, want at most %.1f MiB (an eighth of the body): documents must stream, not be held",
			len(body)>>20, float64(allocated)/(1<<20), float64(limit)/(1<<20))
	}
}

// memIntake is an intake storing documents into blobs, for one user of an
// in-process simulator whose organisation settings are already read.
func memIntake(tb testing.TB, blobs Blobs) (*Service, Owner) {
	tb.Helper()
	sim := dataversesim.New(dataversesim.Options{Seed: 3, Auth: dataversesim.AuthOptions{InsecureAnyToken: true}})
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	conns := &fakeConns{conns: map[string]store.Connection{}}
	conns.set(store.Connection{TenantID: tenant, UserID: user, Status: store.StatusActive, OrgURL: srv.URL, ConnectedAt: time.Now()})
	svc := New(Config{Allow: uploadconfig.Default(), MaxBodyBytes: 32 << 20, MaxDocuments: 10, InlineDocumentBytes: 4 << 20, MaxDeliveryCount: 10},
		Deps{Rows: &memRows{rows: map[string]store.Upload{}}, Blobs: blobs, Queue: &queuetest.Sender[queue.Upload]{},
			Connections: conns, Tokens: &fakeTokens{}, Logger: slog.New(slog.DiscardHandler)})
	o := Owner{TenantID: tenant, UserID: user, OrgURL: srv.URL}
	// The organisation's settings are read once an hour: read them now.
	if svc.maxUpload(context.Background(), o) == 0 {
		tb.Fatal("could not read maxuploadfilesize from the simulator")
	}
	return svc, o
}

// memReport is a valid report with n documents of size random bytes,
// under upload id mem-000000 (patched in place for each iteration).
func memReport(tb testing.TB, n, size int) []byte {
	tb.Helper()
	var ds []any
	for i := range n {
		content := make([]byte, size)
		_, _ = rand.Read(content)
		ds = append(ds, map[string]any{"name": fmt.Sprintf("photo-%d.jpg", i), "mimeType": "image/jpeg",
			"content": base64.StdEncoding.EncodeToString(content)})
	}
	body, err := json.Marshal(map[string]any{
		"uploadId":  "mem-000000",
		"meeting":   map[string]any{"subject": "Visit", "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z"},
		"notes":     []any{map[string]any{"text": "Photos of the shelf"}},
		"documents": ds,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

var (
	heapObjectsSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heapAllocsSample  = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
)

func heapObjects() uint64 {
	metrics.Read(heapObjectsSample)
	return heapObjectsSample[0].Value.Uint64()
}

func heapAllocs() uint64 {
	metrics.Read(heapAllocsSample)
	return heapAllocsSample[0].Value.Uint64()
}

// peakSampler reads the heap's object bytes every 100 µs until stopped.
type peakSampler struct {
	done atomic.Bool
	max  chan uint64
}

func startPeakSampler() *peakSampler {
	p := &peakSampler{max: make(chan uint64, 1)}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var top uint64
		for !p.done.Load() {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > top {
				top = v
			}
			time.Sleep(100 * time.Microsecond)
		}
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > top {
			top = v
		}
		p.max <- top
	}()
	return p
}

func (p *peakSampler) stop() uint64 {
	p.done.Store(true)
	return <-p.max
}

// discardBlobs reads what it is given and keeps nothing.
type discardBlobs struct{}

func (discardBlobs) Put(context.Context, string, []byte) error { return nil }
func (discardBlobs) PutFrom(_ context.Context, _ string, body io.ReadSeeker, _ string) error {
	_, err := io.Copy(io.Discard, body)
	return err
}
func (discardBlobs) Get(context.Context, string) ([]byte, error) {
	return nil, documents.ErrNotFound
}
func (discardBlobs) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, documents.ErrNotFound
}
func (discardBlobs) Delete(context.Context, ...string) error { return nil }

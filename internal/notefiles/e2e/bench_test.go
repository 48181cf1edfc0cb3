// Package e2e measures document downloads through the whole connector
// (funchost, the handler binary, Azurite, the Service Bus fake, the
// simulators).
package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// docMB is the size of BenchmarkDocumentDownload's file in MB: BENCH_DOC_MB,
// or 50; at most 90 (Dataverse's largest file is 125 MB of Base64).
func docMB(b *testing.B) int { return testenv.IntEnv(b, "BENCH_DOC_MB", 50, 1, 90) }

// BenchmarkDocumentDownload: a file attached to an account in Dynamics is
// synced as a note, then the app downloads it twice through funchost: the
// first read streams it from Dataverse into the cache and to the app, the
// second comes from the cache. It fails unless both downloads are the file
// byte for byte and the second costs no Dataverse request. Run it with
// scripts/bench.sh (-benchtime 1x).
//
// Metrics: first-MB/s and cached-MB/s (the app's download, request to last
// byte), first-dv-req and cached-dv-req (requests to the Dataverse
// environment during each), first-blob-tx and cached-blob-tx (Blob
// requests of each), rss-above-idle-MB (the handler's peak resident memory during the
// downloads above its resident memory before them).
func BenchmarkDocumentDownload(b *testing.B) {
	size := docMB(b) << 20
	file := make([]byte, size)
	_, _ = rand.Read(file)
	want := sha256.Sum256(file)
	for range b.N {
		var dv atomic.Int64
		w := testworld.Start(b, testworld.Options{
			Dataverse:     dataversesim.Options{Seed: 3},
			DataverseHook: func(*http.Request) { dv.Add(1) },
			CountStorage:  true,
			Settings:      []string{"AzureWebJobs.SyncScheduler.Disabled=true"},
		})
		org := w.Dataverse.IDs("organizations")[0]
		if err := w.Dataverse.UpdateRow("organizations", org, map[string]any{"maxuploadfilesize": 131072000}); err != nil {
			b.Fatal(err)
		}
		note, err := w.Dataverse.AttachFile("accounts", w.Dataverse.IDs("accounts")[0],
			dataversesim.Attachment{Subject: "Catalogue", FileName: "catalogue.pdf", MimeType: "application/pdf", Content: file})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		u := w.Connect(b, "dave@fabrikam.example") // the sign-in queues the first sync
		w.WaitSynced(b, u, start, 2*time.Minute, "annotations")
		token := w.DeviceToken(b, u.UPN)

		idle := w.ResetHandlerPeakRSS(b)
		b.ResetTimer()
		dvBefore, blobBefore := dv.Load(), w.StorageRequests(b).Blob
		first := download(b, w, token, note, want)
		firstDV, firstBlob := dv.Load()-dvBefore, w.StorageRequests(b).Blob-blobBefore
		dvBefore, blobBefore = dv.Load(), w.StorageRequests(b).Blob
		cached := download(b, w, token, note, want)
		cachedDV, cachedBlob := dv.Load()-dvBefore, w.StorageRequests(b).Blob-blobBefore
		b.StopTimer()
		peak := w.HandlerPeakRSS(b)
		if cachedDV != 0 {
			b.Errorf("the second download of an unchanged document made %d Dataverse requests, want 0", cachedDV)
		}
		mb := float64(size) / (1 << 20)
		b.ReportMetric(mb/first.Seconds(), "first-MB/s")
		b.ReportMetric(mb/cached.Seconds(), "cached-MB/s")
		b.ReportMetric(float64(firstDV), "first-dv-req")
		b.ReportMetric(float64(cachedDV), "cached-dv-req")
		b.ReportMetric(float64(firstBlob), "first-blob-tx")
		b.ReportMetric(float64(cachedBlob), "cached-blob-tx")
		b.ReportMetric(float64(peak-idle)/(1<<20), "rss-above-idle-MB")
		b.ReportMetric(mb, "file-MB")
	}
}

// download reads note's document as the app does and checks it is the
// file; it returns how long it took.
func download(b *testing.B, w *testworld.World, token, note string, want [32]byte) time.Duration {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, w.URL+"/api/documents/"+note, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		b.Fatalf("GET /api/documents/%s = %d %s", note, resp.StatusCode, bytes.TrimSpace(body))
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		b.Fatalf("download: %v", err)
	}
	took := time.Since(start)
	if !bytes.Equal(h.Sum(nil), want[:]) {
		b.Fatal("the downloaded document is not the file attached in Dynamics")
	}
	return took
}

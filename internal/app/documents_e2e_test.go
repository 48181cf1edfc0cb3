package app_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/handlers"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/notefiles"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// getDocument is the app's GET /api/documents/{id} with token and header
// (name, value pairs).
func getDocument(t *testing.T, w *testworld.World, token, id string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.URL+"/api/documents/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/documents/%s: %v", id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /api/documents/%s: read the body: %v", id, err)
	}
	return resp.StatusCode, resp.Header, b
}

// errorCode is the code of an error body.
func errorCode(b []byte) apperr.Kind {
	var eb handlers.ErrorBody
	_ = json.Unmarshal(b, &eb)
	return eb.Error.Code
}

// TestDocumentsOffline: a file attached in Dynamics to an account Alice
// syncs reaches her app as a note (its file's name, size and type, never
// its content) and downloads through the connector byte for byte: once
// from Dynamics, then from the cache, with 304 and ranges. A file on a row
// she does not sync does not reach her; nobody else can download hers;
// Dynamics' throttling is a 503 to retry; her disconnect erases her
// cached files.
func TestDocumentsOffline(t *testing.T) {
	began := time.Now()
	w := testworld.Start(t, testworld.Options{Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true"}})
	sets := slices.Concat(syncedSets, []string{"annotations"})
	// Files of several 4 MiB blocks are allowed (the limit is on the Base64 text).
	if err := w.Dataverse.UpdateRow("organizations", w.Dataverse.IDs("organizations")[0], map[string]any{"maxuploadfilesize": 32 << 20}); err != nil {
		t.Fatal(err)
	}

	// Dave (another organisation, same environment) synced before the
	// files were attached: they are Alice's only.
	start := time.Now()
	alice, dave := w.Connect(t, "alice@contoso.example"), w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, alice, start, time.Minute, sets...)
	w.WaitSynced(t, dave, start, time.Minute, sets...)

	const name = "Angebot für Müller.pdf"
	content := make([]byte, 9<<20+12345)
	_, _ = rand.Read(content)
	attach := func(set, id, file string, b []byte) string {
		note, err := w.Dataverse.AttachFile(set, id, dataversesim.Attachment{Subject: "Offer", FileName: file, MimeType: "application/pdf", Content: b})
		if err != nil {
			t.Fatal(err)
		}
		return note
	}
	accounts := w.Dataverse.IDs("accounts")
	offer := attach("accounts", accounts[0], name, content)
	small := []byte("price list, 2026")
	prices := attach("accounts", accounts[1], "prices.txt", small)
	leadNote := attach("leads", w.Dataverse.IDs("leads")[0], "lead.pdf", []byte("not for the app"))
	start = time.Now()
	w.SendSyncJob(t, alice, time.Now())
	w.WaitSynced(t, alice, start, time.Minute, sets...)
	waitQuiet(t, w, 30*time.Second)

	// Her app sees the account's notes with their files' metadata only.
	token := w.DeviceToken(t, alice.UPN)
	changes, _ := w.Changes(t, token, "", 1000)
	notes := testworld.Replay(changes)["annotations"]
	var note struct {
		FileName   string `json:"filename"`
		FileSize   int    `json:"filesize"`
		IsDocument bool   `json:"isdocument"`
	}
	if err := json.Unmarshal(notes[offer], &note); err != nil || note.FileName != name || note.FileSize != len(content) || !note.IsDocument ||
		strings.Contains(string(notes[offer]), "documentbody") {
		t.Errorf("the app's note %s = %s (%v); want %s, %d bytes, isdocument, no documentbody", offer, notes[offer], err, name, len(content))
	}
	if _, ok := notes[prices]; !ok {
		t.Errorf("the app lacks the note %s of another synced account", prices)
	}
	if _, ok := notes[leadNote]; ok {
		t.Errorf("the app received the note %s of a lead, which Alice does not sync", leadNote)
	}

	// She downloads it: the file, its type, length, version and name.
	status, h, body := getDocument(t, w, token, offer)
	if status != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("GET /api/documents/%s = %d with %d bytes, want 200 with the %d bytes attached", offer, status, len(body), len(content))
	}
	_, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if h.Get("Content-Type") != "application/pdf" || h.Get("Content-Length") != strconv.Itoa(len(content)) || h.Get("ETag") == "" ||
		err != nil || params["filename"] != name {
		t.Errorf("download headers = %v; want application/pdf, its length, an ETag and the file name %s", h, name)
	}
	etag := h.Get("ETag")
	before := w.Dataverse.Requests()
	if status, _, body := getDocument(t, w, token, offer); status != http.StatusOK || !bytes.Equal(body, content) {
		t.Errorf("second download = %d with %d bytes, want 200 with the file", status, len(body))
	}
	if status, _, body := getDocument(t, w, token, offer, "If-None-Match", etag); status != http.StatusNotModified || len(body) != 0 {
		t.Errorf("download with If-None-Match %s = %d with %d bytes, want 304", etag, status, len(body))
	}
	status, h, body = getDocument(t, w, token, offer, "Range", "bytes=4194000-4195000")
	if status != http.StatusPartialContent || !bytes.Equal(body, content[4194000:4195001]) || h.Get("Content-Range") != "bytes 4194000-4195000/"+strconv.Itoa(len(content)) {
		t.Errorf("download of a range = %d %q with %d bytes, want 206 with those 1001 bytes", status, h.Get("Content-Range"), len(body))
	}
	if n := w.Dataverse.Requests() - before; n != 0 {
		t.Errorf("downloads of the cached file made %d Dataverse requests, want 0", n)
	}

	// Nobody else can download it, nor learn it exists.
	daveToken := w.DeviceToken(t, dave.UPN)
	status, _, body = getDocument(t, w, daveToken, offer)
	unknown, _, unknownBody := getDocument(t, w, daveToken, uuid.NewString())
	if status != http.StatusNotFound || unknown != http.StatusNotFound || errorCode(body) != errorCode(unknownBody) || strings.Contains(string(body), name) {
		t.Errorf("Dave's download of Alice's note = %d %s; of an unknown note %d %s; want the same 404", status, body, unknown, unknownBody)
	}
	if status, _, body := getDocument(t, w, token, "offer.pdf"); status != http.StatusBadRequest {
		t.Errorf("GET /api/documents/offer.pdf = %d %s, want 400", status, body)
	}

	// Dynamics throttles the first download of the other note: the app is
	// told when to retry, and the retry succeeds.
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30, Path: "documentbody"})
	if status, h, body := getDocument(t, w, token, prices); status != http.StatusServiceUnavailable || h.Get("Retry-After") != "30" {
		t.Errorf("download throttled by Dynamics = %d Retry-After %q %s, want 503 with Retry-After 30", status, h.Get("Retry-After"), body)
	}
	if status, _, body := getDocument(t, w, token, prices); status != http.StatusOK || !bytes.Equal(body, small) {
		t.Errorf("the retry = %d %q, want 200 %q", status, body, small)
	}

	// Her disconnect erases her cached files.
	cachedFiles := func() []string {
		var out []string
		for _, b := range w.ScanStorage(t).Blobs {
			if b.Container == notefiles.Container && strings.HasPrefix(b.Name, alice.TenantID+"/"+alice.OID+"/") {
				out = append(out, b.Name)
			}
		}
		return out
	}
	if n := len(cachedFiles()); n != 2 {
		t.Fatalf("Alice has %d cached files before she disconnects, want 2 (the scan is blind)", n)
	}
	if status, _, _ := w.Disconnect(t, alice.UPN); status != http.StatusAccepted && status != http.StatusNoContent {
		t.Fatalf("DELETE /api/connection = %d, want 202 or 204", status)
	}
	w.WaitDisconnected(t, alice.UPN, 45*time.Second)
	if left := cachedFiles(); len(left) > 0 {
		t.Errorf("after Alice disconnected, her cached files remain: %v", left)
	}
	t.Logf("took %s", time.Since(began).Round(time.Second))
}

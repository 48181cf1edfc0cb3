package uploader_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// countBatches counts the $batch requests reaching the simulator.
func countBatches(w *testworld.World) *atomic.Int64 {
	n := &atomic.Int64{}
	w.SetDataverseHook(func(rw http.ResponseWriter, r *http.Request, sim http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/$batch") {
			n.Add(1)
		}
		sim.ServeHTTP(rw, r)
	})
	return n
}

// exactlyOnce checks that the simulator holds one set of the report's
// records: the rows its status names, and no more than one report's worth.
func exactlyOnce(t *testing.T, c *client, id string, before map[string]int) {
	t.Helper()
	_, st := c.status(t, id)
	after := c.w.Dataverse.Counts()
	for set, want := range map[string]int{"accounts": 1, "appointments": 1, "annotations": 2} {
		if got := after[set] - before[set]; got != want {
			t.Errorf("%s grew by %d, want %d: the report was written more than once or not at all", set, got, want)
		}
	}
	for _, r := range st.Records {
		if _, ok := c.w.Dataverse.GetRow(r.EntitySet, r.ID); !ok {
			t.Errorf("record %s %s/%s is not in Dynamics", r.Item, r.EntitySet, r.ID)
		}
	}
	if len(st.Records) != 4 {
		t.Errorf("status lists %d records, want 4 (account, meeting, note, document): %+v", len(st.Records), st.Records)
	}
}

// TestThrottledUploadIsRetriedLater: a 429 whose Retry-After is longer than
// the worker waits out itself (5 s) schedules a retry at Retry-After and
// completes the message; the retry writes the report once.
func TestThrottledUploadIsRetriedLater(t *testing.T) {
	w := testworld.Start(t, testworld.Options{})
	c := connect(t, w, "dave@fabrikam.example")
	before := w.Dataverse.Counts()
	batches := countBatches(w)
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusTooManyRequests, Path: "$batch", RetryAfter: 6})

	if status, _, b := c.post(t, newReport("throttled-1")); status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", status, b)
	}
	up := c.waitStatus(t, "throttled-1", 30*time.Second, store.UploadRetrying)
	_, st := c.status(t, "throttled-1")
	if st.NextAttemptAt == nil || st.NextAttemptAt.Sub(up.UpdatedAt) < 6*time.Second || st.LastError == nil || st.LastError.HTTPStatus != http.StatusTooManyRequests {
		t.Errorf("throttled status = %+v, want retrying at Retry-After (6 s) with the 429 as last error", st)
	}
	up = c.waitStatus(t, "throttled-1", 30*time.Second, store.UploadDone)
	if up.Attempts != 2 || up.RetryAttempt != 1 || batches.Load() != 2 {
		t.Errorf("attempts %d, retry attempt %d, batches %d; want 2, 1, 2", up.Attempts, up.RetryAttempt, batches.Load())
	}
	exactlyOnce(t, c, "throttled-1", before)
	w.ServiceBus.WaitCounts(t, w.UploadQueue, 10*time.Second, func(q testenv.QueueCounts) bool { return q.Active+q.Locked+q.Scheduled+q.DeadLetter == 0 })
}

// TestRefusedUploadFails: a report Dynamics refuses (a value too long for
// its column) ends failed with Dataverse's code, message and the item,
// and nothing of it is written: the change set is atomic.
func TestRefusedUploadFails(t *testing.T) {
	w := testworld.Start(t, testworld.Options{})
	c := connect(t, w, "dave@fabrikam.example")
	before := w.Dataverse.Counts()
	r := newReport("refused-1")
	r["customers"].([]any)[0].(map[string]any)["fields"].(map[string]any)["name"] = strings.Repeat("n", 161)
	if status, _, b := c.post(t, r); status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", status, b)
	}
	c.waitStatus(t, "refused-1", 30*time.Second, store.UploadFailed)
	_, st := c.status(t, "refused-1")
	if e := st.LastError; e == nil || e.Code != "0x80044331" || e.HTTPStatus != http.StatusBadRequest || e.Item != "customers[0]" || !strings.Contains(e.Message, "'name'") {
		t.Errorf("last error = %+v, want Dataverse's 0x80044331 for customers[0]", st.LastError)
	}
	if st.CompletedAt == nil || len(st.Records) != 0 {
		t.Errorf("failed status = %+v, want completed with no records", st)
	}
	if after := w.Dataverse.Counts(); after["accounts"] != before["accounts"] || after["appointments"] != before["appointments"] || after["annotations"] != before["annotations"] {
		t.Errorf("a refused change set left rows behind: %v → %v", before, after)
	}
}

// TestUnavailableDynamicsDeadLettersThenResubmit: when every delivery
// fails, the message reaches the dead-letter queue and the upload says
// dead_lettered; resubmitting it (connectorctl dlq resubmit) finishes it.
func TestUnavailableDynamicsDeadLettersThenResubmit(t *testing.T) {
	w := testworld.Start(t, testworld.Options{})
	c := connect(t, w, "dave@fabrikam.example")
	before := w.Dataverse.Counts()
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusInternalServerError, Path: "$batch", Count: 10})
	if status, _, b := c.post(t, newReport("dlq-1")); status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", status, b)
	}
	up := c.waitStatus(t, "dlq-1", time.Minute, store.UploadDeadLettered)
	w.ServiceBus.WaitCounts(t, w.UploadQueue, 30*time.Second, func(q testenv.QueueCounts) bool { return q.DeadLetter == 1 })
	if up.Attempts != 10 || up.ErrorStatus != http.StatusInternalServerError {
		t.Errorf("dead-lettered upload: %d attempts, last error %d %q; want 10 attempts and the 500", up.Attempts, up.ErrorStatus, up.ErrorMessage)
	}

	client, err := azservicebus.NewClientFromConnectionString(w.ServiceBus.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	dl := queue.NewDeadLetters(client, w.UploadQueue)
	msgs, err := dl.List(context.Background(), 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead letters = %v, %v; want the upload's message", msgs, err)
	}
	if _, err := dl.Resubmit(context.Background(), []int64{msgs[0].SequenceNumber}); err != nil {
		t.Fatal(err)
	}
	c.waitStatus(t, "dlq-1", 30*time.Second, store.UploadDone)
	exactlyOnce(t, c, "dlq-1", before)
}

// TestReauthParksUntilSignIn: when Entra says the user must sign in again,
// the upload is parked; the user's next sign-in resumes it.
func TestReauthParksUntilSignIn(t *testing.T) {
	w := testworld.Start(t, testworld.Options{})
	c := connect(t, w, "dave@fabrikam.example")
	before := w.Dataverse.Counts()
	// The refresh token has expired, and Dynamics refuses the cached
	// access token: the refresh that follows tells the connector.
	resp, err := http.Post(w.EntraURL+"/_sim/users/dave@fabrikam.example/expire-refresh-tokens", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusUnauthorized, Path: "$batch"})

	if status, _, b := c.post(t, newReport("parked-1")); status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", status, b)
	}
	c.waitStatus(t, "parked-1", 30*time.Second, store.UploadParked)
	_, st := c.status(t, "parked-1")
	if st.LastError == nil || st.LastError.Code != "reauth_required" || !strings.Contains(st.LastError.Message, "AADSTS700082") {
		t.Errorf("parked status = %+v, want reauth_required naming Entra's reason", st.LastError)
	}
	conn, err := store.NewConnections(w.DB).Get(context.Background(), c.user.TenantID, c.user.OID)
	if err != nil || conn.Status != store.StatusReauthRequired {
		t.Fatalf("connection = %+v, %v; want reauth_required", conn, err)
	}

	w.SignIn(t, "dave@fabrikam.example")
	c.waitStatus(t, "parked-1", 30*time.Second, store.UploadDone)
	exactlyOnce(t, c, "parked-1", before)
}

// TestUnauthorizedAfterRefreshRetried: Dynamics refuses the token, and
// the fresh one the connector gets from Entra right after (a grant Entra
// still honours): the upload is tried again and written, never parked
// behind a sign-in that could not help (found by make chaos, seed 7).
func TestUnauthorizedAfterRefreshRetried(t *testing.T) {
	w := testworld.Start(t, testworld.Options{})
	c := connect(t, w, "dave@fabrikam.example")
	before := w.Dataverse.Counts()
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusUnauthorized, Path: "$batch", Count: 2})
	if status, _, b := c.post(t, newReport("unauthorized-1")); status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", status, b)
	}
	up := c.waitStatus(t, "unauthorized-1", 30*time.Second, store.UploadDone)
	if up.Attempts != 2 {
		t.Errorf("%d attempts; want the refused one and the one that wrote it", up.Attempts)
	}
	exactlyOnce(t, c, "unauthorized-1", before)
	if conn, err := store.NewConnections(w.DB).Get(context.Background(), c.user.TenantID, c.user.OID); err != nil || conn.Status != store.StatusActive {
		t.Errorf("connection = %+v, %v; want still active", conn, err)
	}
}

// TestHandlerKilledMidBatch: the handler dies while Dynamics runs the
// report's $batch (Dynamics commits it; the answer is lost). Service Bus
// delivers the message again to the restarted handler, which writes the
// same records again: Dynamics holds exactly one set.
func TestHandlerKilledMidBatch(t *testing.T) {
	w := testworld.Start(t, testworld.Options{})
	c := connect(t, w, "dave@fabrikam.example")
	before := w.Dataverse.Counts()
	var batches atomic.Int64
	w.SetDataverseHook(func(rw http.ResponseWriter, r *http.Request, sim http.Handler) {
		if !strings.HasSuffix(r.URL.Path, "/$batch") || batches.Add(1) > 1 {
			sim.ServeHTTP(rw, r)
			return
		}
		sim.ServeHTTP(httptest.NewRecorder(), r)     // Dynamics commits the change set...
		if err := w.Host.KillHandler(); err != nil { // ...and the handler dies before the answer.
			t.Errorf("kill the handler: %v", err)
		}
		panic(http.ErrAbortHandler)
	})
	if status, _, b := c.post(t, newReport("killed-1")); status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", status, b)
	}
	up := c.waitStatus(t, "killed-1", time.Minute, store.UploadDone)
	if batches.Load() != 2 || up.Attempts != 2 {
		t.Errorf("%d batches, %d attempts; want the batch sent again by the second delivery", batches.Load(), up.Attempts)
	}
	if after := w.Dataverse.Counts(); after["appointments"]-before["appointments"] != 1 {
		t.Fatalf("appointments grew by %d after the batch ran twice, want 1", after["appointments"]-before["appointments"])
	}
	exactlyOnce(t, c, "killed-1", before)
	if !strings.Contains(w.Logs(), "Restarting it") {
		t.Errorf("the logs do not show the handler restarting")
	}
}

// TestLargeDocumentChunkedAndResumed: a document above the inline budget
// goes through the chunked upload after the batch. When its commit fails,
// the redelivery does not send the batch again (it is recorded as done)
// and uploads only the document.
func TestLargeDocumentChunkedAndResumed(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Settings: []string{"UPLOAD_INLINE_DOCUMENT_BYTES=1024"}})
	if err := w.Dataverse.UpdateRow("organizations", dataversesim.OrganizationID.String(), map[string]any{"maxuploadfilesize": 20 << 20}); err != nil {
		t.Fatal(err)
	}
	c := connect(t, w, "dave@fabrikam.example")
	before := w.Dataverse.Counts()
	var batches, blocks atomic.Int64
	w.SetDataverseHook(func(rw http.ResponseWriter, r *http.Request, sim http.Handler) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/$batch"):
			batches.Add(1)
		case strings.HasSuffix(r.URL.Path, "/UploadBlock"):
			blocks.Add(1)
		}
		sim.ServeHTTP(rw, r)
	})
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusInternalServerError, Path: "CommitAnnotationBlocksUpload"})

	big := make([]byte, 5<<20) // two blocks of at most 4 MB
	for i := range big {
		big[i] = byte(i * 7)
	}
	r := newReport("chunked-1")
	r["documents"] = append(r["documents"].([]any), map[string]any{"name": "catalogue.bin", "mimeType": "application/octet-stream", "content": base64.StdEncoding.EncodeToString(big)})
	if status, _, b := c.post(t, r); status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", status, b)
	}
	up := c.waitStatus(t, "chunked-1", time.Minute, store.UploadDone)
	if batches.Load() != 1 || blocks.Load() != 4 || up.Attempts != 2 {
		t.Errorf("%d batches, %d blocks, %d attempts; want the batch once and the document's 2 blocks twice over 2 attempts", batches.Load(), blocks.Load(), up.Attempts)
	}
	_, st := c.status(t, "chunked-1")
	doc, ok := w.Dataverse.GetRow("annotations", recordOf(t, st, "documents[1]"))
	if !ok || doc["documentbody"] != base64.StdEncoding.EncodeToString(big) || doc["_objectid_value"] != recordOf(t, st, "meeting") {
		t.Errorf("the chunked document is not in Dynamics whole, on the meeting (found %v)", ok)
	}
	if after := w.Dataverse.Counts(); after["annotations"]-before["annotations"] != 3 {
		t.Errorf("annotations grew by %d, want 3 (the note and two documents)", after["annotations"]-before["annotations"])
	}
}

package uploader_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestUploadHappyPath: a report with a new account, a meeting regarding
// it, a note and a document lands in Dynamics as exactly those records,
// linked as the report says, and the status says so.
func TestUploadHappyPath(t *testing.T) {
	w := testworld.Start(t, testworld.Options{})
	c := connect(t, w, "dave@fabrikam.example")
	before := w.Dataverse.Counts()

	r := newReport("happy-1")
	body, _ := json.Marshal(r)
	if err := c.spec.s.CheckRequest(http.MethodPost, "/api/uploads", body); err != nil {
		t.Errorf("the test's report does not match docs/openapi.yaml: %v", err)
	}
	status, h, b := c.post(t, r)
	if status != http.StatusAccepted {
		t.Fatalf("POST /api/uploads = %d %s, want 202", status, b)
	}
	if loc := h.Get("Location"); loc != w.URL+"/api/uploads/happy-1" {
		t.Errorf("Location = %q, want the status URL", loc)
	}
	c.waitStatus(t, "happy-1", 30*time.Second, store.UploadDone)
	code, st := c.status(t, "happy-1")
	if code != http.StatusOK || st.Status != store.UploadDone || st.Attempts != 1 || st.CompletedAt == nil || st.LastError != nil {
		t.Fatalf("status = %d %+v, want done after one attempt", code, st)
	}

	after := w.Dataverse.Counts()
	for set, want := range map[string]int{"accounts": 1, "appointments": 1, "annotations": 2, "contacts": 0} {
		if got := after[set] - before[set]; got != want {
			t.Errorf("%s grew by %d, want %d", set, got, want)
		}
	}
	accountID := recordOf(t, st, "customers[0]")
	account, ok := w.Dataverse.GetRow("accounts", accountID)
	if !ok || account["name"] != "Contoso happy-1" || account["accountnumber"] != "AN-happy-1" {
		t.Errorf("account %s = %v, want the report's name and account number", accountID, account)
	}
	meetingID := recordOf(t, st, "meeting")
	meeting, ok := w.Dataverse.GetRow("appointments", meetingID)
	if !ok || meeting["subject"] != "Quarterly review happy-1" || meeting["_regardingobjectid_value"] != accountID {
		t.Errorf("appointment %s = %v, want the report's subject, regarding account %s", meetingID, meeting, accountID)
	}
	note, ok := w.Dataverse.GetRow("annotations", recordOf(t, st, "notes[0]"))
	if !ok || note["notetext"] != "Send the offer by Friday." || note["_objectid_value"] != meetingID {
		t.Errorf("note = %v, want the report's text on the appointment", note)
	}
	doc, ok := w.Dataverse.GetRow("annotations", recordOf(t, st, "documents[0]"))
	if !ok || doc["filename"] != "offer.txt" || doc["documentbody"] != base64.StdEncoding.EncodeToString([]byte("Offer for happy-1")) || doc["_objectid_value"] != meetingID {
		t.Errorf("document = %v, want offer.txt with its content on the appointment", doc)
	}
	docs, err := container.NewClientFromConnectionString(w.Storage, "documents", nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix := c.user.TenantID + "/" + c.user.OID + "/happy-1/"
	page, err := docs.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix}).NextPage(context.Background())
	if err != nil || len(page.Segment.BlobItems) != 0 {
		t.Errorf("blobs left under %s after the upload is done: %d (%v); the report and its documents must not be kept twice", prefix, len(page.Segment.BlobItems), err)
	}
	w.AssertNoSecrets(t, base64.StdEncoding.EncodeToString([]byte("Offer for happy-1")), "Send the offer by Friday.")
}

package uploader_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/uploader"
	"github.com/pitcher/connector/localworld/testworld"
)

// Helpers of the end-to-end tests: a connected user of a World, reports to
// send, and ways to watch an upload.

// rep is a meeting report as the app sends it.
type rep map[string]any

// newReport is a report with a meeting regarding a new account (by account
// number), one note and one small document.
func newReport(id string) rep {
	return rep{
		"uploadId": id,
		"meeting": map[string]any{"subject": "Quarterly review " + id, "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z",
			"location": "Contoso HQ", "regarding": map[string]any{"customer": 0}},
		"customers": []any{map[string]any{"entitySet": "accounts", "key": map[string]any{"accountnumber": "AN-" + id},
			"fields": map[string]any{"name": "Contoso " + id, "telephone1": "+41 44 000 00 00"}}},
		"notes":     []any{map[string]any{"subject": "Next steps", "text": "Send the offer by Friday."}},
		"documents": []any{map[string]any{"name": "offer.txt", "mimeType": "text/plain", "content": base64.StdEncoding.EncodeToString([]byte("Offer for " + id))}},
	}
}

// client is a signed-in user of a World with their device token.
type client struct {
	w     *testworld.World
	user  testworld.User
	token string
	spec  *specChecker
}

func connect(t testing.TB, w *testworld.World, upn string) *client {
	t.Helper()
	u := w.Connect(t, upn)
	return &client{w: w, user: u, token: w.DeviceToken(t, upn), spec: loadSpec(t)}
}

// post sends a report (a rep, or raw bytes) and checks the answer against
// the OpenAPI document.
func (c *client) post(t testing.TB, body any) (int, http.Header, []byte) {
	t.Helper()
	status, h, b := c.w.API(t, http.MethodPost, "/api/uploads", c.token, body)
	c.spec.check(t, http.MethodPost, "/api/uploads", status, h, b)
	return status, h, b
}

// status reads an upload's status, checked against the OpenAPI document.
func (c *client) status(t testing.TB, id string) (int, uploader.Status) {
	t.Helper()
	status, h, b := c.w.API(t, http.MethodGet, "/api/uploads/"+id, c.token, nil)
	c.spec.check(t, http.MethodGet, "/api/uploads/{id}", status, h, b)
	var st uploader.Status
	if status == http.StatusOK {
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("status body %s: %v", b, err)
		}
	}
	return status, st
}

// row reads the upload's row directly.
func (c *client) row(t testing.TB, id string) store.Upload {
	t.Helper()
	up, err := store.NewUploads(c.w.DB).Get(context.Background(), c.user.TenantID, c.user.OID, id)
	if err != nil {
		t.Fatalf("upload %s: %v", id, err)
	}
	return up
}

// waitStatus waits until upload id has one of the statuses.
func (c *client) waitStatus(t testing.TB, id string, timeout time.Duration, statuses ...string) store.Upload {
	t.Helper()
	var up store.Upload
	c.w.WaitFor(t, fmt.Sprintf("upload %s to be %s", id, strings.Join(statuses, " or ")), timeout, func() bool {
		got, err := store.NewUploads(c.w.DB).Get(context.Background(), c.user.TenantID, c.user.OID, id)
		if err != nil {
			return false
		}
		up = got
		for _, s := range statuses {
			if got.Status == s {
				return true
			}
		}
		return false
	})
	return up
}

// recordOf returns the id of the record written for item.
func recordOf(t testing.TB, st uploader.Status, item string) string {
	t.Helper()
	for _, r := range st.Records {
		if r.Item == item {
			return r.ID
		}
	}
	t.Fatalf("status %s lists no record for %s: %+v", st.UploadID, item, st.Records)
	return ""
}

func errorBody(t testing.TB, b []byte) (code, message string, problems []string) {
	t.Helper()
	var e struct {
		Error struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			Problems []struct{ Field, Message string }
		}
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	for _, p := range e.Error.Problems {
		problems = append(problems, p.Field+": "+p.Message)
	}
	return e.Error.Code, e.Error.Message, problems
}

// blobs lists the names of the blobs of the user's upload id in the
// documents container, uncommitted ones (blocks staged, never committed)
// included.
func (c *client) blobs(t testing.TB, id string) []string {
	t.Helper()
	cc, err := container.NewClientFromConnectionString(c.w.Storage, "documents", nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix := c.user.TenantID + "/" + c.user.OID + "/" + id + "/"
	var names []string
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, Include: container.ListBlobsInclude{UncommittedBlobs: true}})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list the blobs of %s: %v", id, err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return names
}

// blob reads a blob of the documents container, checked against its SHA-256.
func (c *client) blob(t testing.TB, name string) []byte {
	t.Helper()
	cc, err := container.NewClientFromConnectionString(c.w.Storage, "documents", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := documents.New(cc).Get(context.Background(), name)
	if err != nil {
		t.Fatalf("blob %s: %v", name, err)
	}
	return b
}

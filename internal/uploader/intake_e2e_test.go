package uploader_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestIntake runs the intake's rules through the whole connector, with the
// worker switched off so the uploads queue can be counted: what is
// accepted is queued once, and whatever is refused changes nothing.
func TestIntake(t *testing.T) {
	spool := t.TempDir() // the handler's temporary files
	w := testworld.Start(t, testworld.Options{Settings: []string{"AzureWebJobs.UploadWorker.Disabled=true", "UPLOAD_MAX_BODY_BYTES=200000", "TMPDIR=" + spool}})
	c := connect(t, w, "dave@fabrikam.example")
	// The organisation accepts documents of at most 1,000 Base64 bytes.
	if err := w.Dataverse.UpdateRow("organizations", dataversesim.OrganizationID.String(), map[string]any{"maxuploadfilesize": 1000}); err != nil {
		t.Fatal(err)
	}
	queued := func() int { return w.ServiceBus.Counts(t, w.UploadQueue).Active }
	noRow := func(id string) {
		t.Helper()
		if _, err := store.NewUploads(w.DB).Get(context.Background(), c.user.TenantID, c.user.OID, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused report left a row for %s (%v)", id, err)
		}
		if names := c.blobs(t, id); len(names) > 0 {
			t.Errorf("a refused report left blobs for %s: %s", id, strings.Join(names, ", "))
		}
		if left, _ := os.ReadDir(spool); len(left) > 0 {
			t.Errorf("the handler left %d temporary file(s)", len(left))
		}
	}

	t.Run("accepted once, duplicates answered from the status", func(t *testing.T) {
		r := newReport("dup-1")
		if status, _, b := c.post(t, r); status != http.StatusAccepted {
			t.Fatalf("first POST = %d %s, want 202", status, b)
		}
		// The same report spelled differently (key order, spacing, a time
		// zone offset) is the same report.
		body, _ := json.MarshalIndent(r, "", "    ")
		respelled := strings.Replace(string(body), `"2026-03-02T09:30:00Z"`, `"2026-03-02T10:30:00+01:00"`, 1)
		for range 2 {
			status, h, b := c.post(t, []byte(respelled))
			if status != http.StatusOK || h.Get("Location") != w.URL+"/api/uploads/dup-1" {
				t.Fatalf("repeated POST = %d %s (Location %q), want 200 with the status URL", status, b, h.Get("Location"))
			}
			var st struct{ Status string }
			_ = json.Unmarshal(b, &st)
			if st.Status != store.UploadQueued {
				t.Errorf("repeated POST status = %q, want queued", st.Status)
			}
		}
		if n := queued(); n != 1 {
			t.Errorf("the uploads queue holds %d messages after one report sent three times, want 1", n)
		}
	})

	t.Run("same id, other content", func(t *testing.T) {
		r := newReport("dup-1")
		r["notes"] = []any{map[string]any{"text": "Something else"}}
		status, _, b := c.post(t, r)
		code, msg, _ := errorBody(t, b)
		if status != http.StatusConflict || code != "conflict" || !strings.Contains(msg, "dup-1") {
			t.Fatalf("POST of another report under a used id = %d %s, want 409 naming the id", status, b)
		}
		if n := queued(); n != 1 {
			t.Errorf("the conflicting report queued a message (%d in the queue)", n)
		}
		if got := c.row(t, "dup-1").ContentHash; got == "" {
			t.Errorf("the first report's row lost its content hash")
		}
	})

	t.Run("malformed reports: every problem named, nothing kept", func(t *testing.T) {
		bad := newReport("bad-1")
		bad["meeting"].(map[string]any)["start"] = "next Tuesday"
		bad["customers"] = []any{
			map[string]any{"entitySet": "systemusers", "fields": map[string]any{"fullname": "x"}},
			map[string]any{"entitySet": "accounts", "key": map[string]any{"accountnumber": "A"}, "fields": map[string]any{"creditlimit": 1}},
		}
		bad["attachments"] = []any{}
		status, _, b := c.post(t, bad)
		code, _, problems := errorBody(t, b)
		want := []string{
			"meeting.start: is not an RFC 3339 time",
			`customers[0].entitySet: "systemusers" is not an entity set reports may write`,
			"customers[1].fields.creditlimit: is not a column reports may write in accounts",
			"attachments: unknown field",
		}
		if status != http.StatusBadRequest || code != "invalid" || len(problems) != len(want) {
			t.Fatalf("POST of a bad report = %d, problems %q; want 400 with %d problems", status, problems, len(want))
		}
		for i := range want {
			if !strings.HasPrefix(problems[i], want[i]) {
				t.Errorf("problem %d = %q, want %q…", i, problems[i], want[i])
			}
		}
		noRow("bad-1")
		for _, body := range [][]byte{[]byte(`{"uploadId":`), []byte(`[]`), nil} {
			status, _, b := c.post(t, body)
			if status != http.StatusBadRequest {
				t.Errorf("POST %q = %d %s, want 400", body, status, b)
			}
		}
		status, _, b = c.w.API(t, http.MethodPost, "/api/uploads", c.token, nil)
		if status != http.StatusBadRequest || !strings.Contains(string(b), "Content-Type") {
			t.Errorf("POST without a JSON content type = %d %s, want 400 naming Content-Type", status, b)
		}
		if n := queued(); n != 1 {
			t.Errorf("refused reports queued messages (%d in the queue)", n)
		}
	})

	t.Run("too large", func(t *testing.T) {
		big := newReport("big-1")
		big["documents"] = []any{map[string]any{"name": "big.bin", "mimeType": "application/octet-stream", "content": base64.StdEncoding.EncodeToString(make([]byte, 200000))}}
		status, _, b := c.post(t, big)
		if code, _, _ := errorBody(t, b); status != http.StatusRequestEntityTooLarge || code != "too_large" {
			t.Errorf("POST over UPLOAD_MAX_BODY_BYTES = %d %s, want 413", status, b)
		}
		noRow("big-1")

		over := newReport("over-1")
		over["documents"] = []any{map[string]any{"name": "a.bin", "mimeType": "application/octet-stream", "content": base64.StdEncoding.EncodeToString(make([]byte, 900))}}
		status, _, b = c.post(t, over)
		_, _, problems := errorBody(t, b)
		if status != http.StatusBadRequest || len(problems) != 1 || !strings.HasPrefix(problems[0], "documents[0].content: is 1200 bytes of Base64; the organisation's Dynamics accepts at most 1000") {
			t.Errorf("POST of a document over maxuploadfilesize = %d %q, want 400 naming documents[0].content", status, problems)
		}
		noRow("over-1")
	})

	t.Run("refused while streaming: nothing stored", func(t *testing.T) {
		content := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("offer "), 100)) // 800 bytes of Base64
		r := newReport("cut-1")
		r["documents"] = []any{map[string]any{"name": "offer.txt", "mimeType": "text/plain", "content": content}}
		body, _ := json.Marshal(r)
		at := bytes.Index(body, []byte(content)) + 400
		status, _, b := c.post(t, body[:at])
		if _, _, problems := errorBody(t, b); status != http.StatusBadRequest || len(problems) != 1 || problems[0] != "(body): malformed JSON: it ends early" {
			t.Errorf("POST of a body cut in a document = %d %q, want 400 saying it ends early", status, problems)
		}
		noRow("cut-1")

		dup := strings.Replace(strings.Replace(string(body), `"uploadId":"cut-1"`, `"uploadId":"dup-keys-1","uploadId":"dup-keys-2"`, 1),
			`"name":"Contoso cut-1"`, `"name":"Contoso","name":"Contoso cut-1"`, 1)
		status, _, b = c.post(t, []byte(dup))
		_, _, problems := errorBody(t, b)
		want := []string{"uploadId: is given twice", "customers[0].fields.name: is given twice"}
		if status != http.StatusBadRequest || len(problems) != len(want) {
			t.Fatalf("POST with keys given twice = %d %q, want 400 naming %q", status, problems, want)
		}
		for i := range want {
			if !strings.HasPrefix(problems[i], want[i]) {
				t.Errorf("problem %d = %q, want %q…", i, problems[i], want[i])
			}
		}
		noRow("dup-keys-1")
		noRow("dup-keys-2")
	})

	t.Run("escaped Base64 is the same document", func(t *testing.T) {
		file := make([]byte, 700)
		for i := range file {
			file[i] = byte(i * 13)
		}
		plain := base64.StdEncoding.EncodeToString(file)
		r := newReport("esc-1")
		r["documents"] = []any{map[string]any{"name": "scan.bin", "mimeType": "application/octet-stream", "content": plain}}
		body, _ := json.Marshal(r)
		escaped := strings.Replace(string(body), plain, strings.NewReplacer("/", `\/`, "+", `\u002b`).Replace(plain), 1)
		if escaped == string(body) || !strings.Contains(escaped, `\/`) {
			t.Fatal("nothing to escape in the test's Base64")
		}
		if status, _, b := c.post(t, []byte(escaped)); status != http.StatusAccepted {
			t.Fatalf("POST with \\/ in a document = %d %s, want 202", status, b)
		}
		names := c.blobs(t, "esc-1")
		var doc string
		for _, n := range names {
			if strings.Contains(n, "/document-") {
				doc = n
			}
		}
		if got := c.blob(t, doc); !bytes.Equal(got, file) {
			t.Errorf("the stored document is %d bytes, not the file sent", len(got))
		}
		if status, _, b := c.post(t, body); status != http.StatusOK {
			t.Errorf("the same report without escapes = %d %s, want 200 (the same report)", status, b)
		}
		if again := c.blobs(t, "esc-1"); strings.Join(again, ",") != strings.Join(names, ",") {
			t.Errorf("blobs after the repeat = %q, want %q", again, names)
		}
	})

	t.Run("other users and tenants", func(t *testing.T) {
		// alice is in another tenant, admin@fabrikam.example in the same one.
		other := connect(t, w, "alice@contoso.example")
		colleague := connect(t, w, "admin@fabrikam.example")
		for _, o := range []*client{other, colleague} {
			if status, _ := o.status(t, "dup-1"); status != http.StatusNotFound {
				t.Errorf("%s reading dave's upload = %d, want 404", o.user.UPN, status)
			}
			mine := newReport("dup-1") // the same id, their own report
			mine["notes"] = []any{map[string]any{"text": "by " + o.user.UPN}}
			if status, _, b := o.post(t, mine); status != http.StatusAccepted {
				t.Errorf("%s sending their own dup-1 = %d %s, want 202 (ids are per user)", o.user.UPN, status, b)
			}
		}
		if n := queued(); n != 4 {
			t.Errorf("the queue holds %d messages, want 4 (dave's two and the two others')", n)
		}
		if status, _ := c.status(t, "dup-1"); status != http.StatusOK {
			t.Errorf("dave reading his own upload = %d, want 200", status)
		}
		if c.row(t, "dup-1").ContentHash == other.row(t, "dup-1").ContentHash {
			t.Errorf("another user's report overwrote dave's")
		}
	})

	t.Run("status", func(t *testing.T) {
		if status, _ := c.status(t, "no-such-upload"); status != http.StatusNotFound {
			t.Errorf("GET of an unknown upload = %d, want 404", status)
		}
		if status, _ := c.status(t, "bad%20id"); status != http.StatusBadRequest {
			t.Errorf("GET of a malformed id = %d, want 400", status)
		}
		status, h, b := w.API(t, http.MethodGet, "/api/uploads/dup-1", "", nil)
		c.spec.check(t, http.MethodGet, "/api/uploads/{id}", status, h, b)
		if status != http.StatusUnauthorized {
			t.Errorf("GET without a token = %d, want 401", status)
		}
		status, h, b = w.API(t, http.MethodPost, "/api/uploads", "not-a-token", newReport("x"))
		c.spec.check(t, http.MethodPost, "/api/uploads", status, h, b)
		if status != http.StatusUnauthorized {
			t.Errorf("POST with a bad token = %d, want 401", status)
		}
	})
	w.AssertNoSecrets(t)
}

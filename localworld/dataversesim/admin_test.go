package dataversesim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestAdminAPI(t *testing.T) {
	s, srv := newTestServer(t, Options{})
	steps := []struct {
		method, path, body string
		wantStatus         int
		wantBody           string
	}{
		{"POST", "/_sim/seed", `{"rows":3,"sets":["accounts"]}`, 200, `"accounts":3`},
		{"POST", "/_sim/seed", `{"rows":3,"sets":["organizations"]}`, 400, "cannot seed"},
		{"POST", "/_sim/seed", `{"rowz":3}`, 400, "unknown field"},
		{"POST", "/_sim/tables/accounts", `{"name":"By hand","accountnumber":"H-1"}`, 201, `"id"`},
		{"POST", "/_sim/tables/accounts", `{"name":"` + strings.Repeat("x", 161) + `"}`, 400, "0x80044331"},
		{"PATCH", "/_sim/tables/accounts/" + SeedID("accounts", 0), `{"name":"Edited"}`, 204, ""},
		{"GET", "/_sim/tables/accounts/" + SeedID("accounts", 0), "", 200, `"name":"Edited"`},
		{"DELETE", "/_sim/tables/accounts/" + SeedID("accounts", 1), "", 204, ""},
		{"DELETE", "/_sim/tables/accounts/" + SeedID("accounts", 1), "", 404, "Does Not Exist"},
		{"PUT", "/_sim/throttle", `{"requests":600,"windowSeconds":30}`, 200, `"requests":600,"windowSeconds":30,"concurrency":52`},
		{"PUT", "/_sim/throttle", `{"requests":-1}`, 400, "requests"},
		{"PUT", "/_sim/faults", `{"errorRate":0.7,"resetRate":0.7}`, 400, "between 0 and 1"},
		{"POST", "/_sim/faults/next", `{"status":200}`, 400, "status"},
		{"POST", "/_sim/faults/next", `{"status":429,"after":true}`, 400, "with after"},
		{"PUT", "/_sim/faults", `{"errorRate":0.5,"afterRate":0.6}`, 400, "afterRate"},
		{"PUT", "/_sim/faults", `{"afterRate":0.25,"randomSeed":3}`, 200, `"afterRate":0.25`},
		{"PUT", "/_sim/faults", `{}`, 200, `"afterRate":0`},
		{"POST", "/_sim/faults/next", `{"status":504,"method":"PATCH","path":"accounts","after":true}`, 204, ""},
		{"PATCH", "/api/data/v9.2/accounts(" + SeedID("accounts", 2) + ")", `{"name":"Lost answer"}`, 504, "Gateway Timeout"},
		{"GET", "/_sim/tables/accounts/" + SeedID("accounts", 2), "", 200, `"name":"Lost answer"`},
		{"POST", "/_sim/changetracking/expire", "", 204, ""},
		{"POST", "/_sim/clock/advance", `{"seconds":-5}`, 400, "forward"},
		{"POST", "/_sim/clock/advance", `{"seconds":60}`, 200, `"now"`},
		{"GET", "/_sim/state", "", 200, `"accounts":3`},
	}
	for _, st := range steps {
		r := send(t, srv, st.method, st.path, st.body)
		if r.status != st.wantStatus || !strings.Contains(r.body, st.wantBody) {
			t.Errorf("%s %s: %d %s, want %d containing %q", st.method, st.path, r.status, r.body, st.wantStatus, st.wantBody)
		}
	}
	if got := s.Throttle().Requests; got != 600 {
		t.Errorf("throttle requests = %d, want 600", got)
	}
	var state struct{ Counts map[string]int }
	_ = json.Unmarshal([]byte(send(t, srv, "GET", "/_sim/state", "").body), &state)
	if state.Counts["contacts"] != 0 || state.Counts["organizations"] != 1 {
		t.Errorf("counts = %v", state.Counts)
	}
}

// TestAdminAttachFile: POST /_sim/tables/{set}/{id}/notes attaches the raw
// request body to the row as a note, and the file reads back byte for byte
// through the Web API, as documentbody/$value and in blocks; a missing
// filename, an unknown row and a file over maxuploadfilesize are refused.
func TestAdminAttachFile(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 1})
	file := make([]byte, 3<<20+12345) // 4.2 MB of Base64, within the 5 MB default
	if _, err := rand.Read(file); err != nil {
		t.Fatal(err)
	}
	acc := SeedID("accounts", 0)
	r := send(t, srv, "POST", "/_sim/tables/accounts/"+acc+"/notes?filename=deck%20v2.pdf&mimetype=application/pdf&subject=Deck&notetext=for+Monday", string(file))
	var created struct {
		ID       string `json:"id"`
		FileSize int    `json:"filesize"`
	}
	if err := json.Unmarshal([]byte(r.body), &created); r.status != http.StatusCreated || err != nil || created.FileSize != len(file) {
		t.Fatalf("attach = %d %s", r.status, r.body)
	}
	row, _ := s.GetRow("annotations", created.ID)
	for k, v := range map[string]any{"filename": "deck v2.pdf", "mimetype": "application/pdf", "subject": "Deck", "notetext": "for Monday",
		"isdocument": true, "objecttypecode": "account", "_objectid_value": acc, "filesize": float64(len(file))} {
		if row[k] != v {
			t.Errorf("note %s = %v, want %v", k, row[k], v)
		}
	}

	r = send(t, srv, "GET", "/api/data/v9.2/annotations("+created.ID+")/documentbody/$value", "")
	if got, err := base64.StdEncoding.DecodeString(r.body); r.status != http.StatusOK || err != nil || !bytes.Equal(got, file) {
		t.Errorf("documentbody/$value = %d, %d bytes of Base64 (%v); want the file", r.status, len(r.body), err)
	}
	r = send(t, srv, "POST", "/api/data/v9.2/InitializeAnnotationBlocksDownload",
		`{"Target":{"annotationid":"`+created.ID+`","@odata.type":"Microsoft.Dynamics.CRM.annotation"}}`, "Content-Type", "application/json")
	var init struct {
		FileContinuationToken string
		FileName              string
		FileSizeInBytes       int
	}
	if err := json.Unmarshal([]byte(r.body), &init); r.status != http.StatusOK || err != nil || init.FileName != "deck v2.pdf" || init.FileSizeInBytes != len(file) {
		t.Fatalf("InitializeAnnotationBlocksDownload = %d %s", r.status, r.body)
	}
	var got []byte
	for off := 0; off < len(file); off += 1 << 20 {
		r := send(t, srv, "POST", "/api/data/v9.2/DownloadBlock",
			fmt.Sprintf(`{"Offset":%d,"BlockLength":%d,"FileContinuationToken":"%s"}`, off, 1<<20, init.FileContinuationToken), "Content-Type", "application/json")
		var block struct{ Data string }
		if err := json.Unmarshal([]byte(r.body), &block); r.status != http.StatusOK || err != nil {
			t.Fatalf("DownloadBlock at %d = %d", off, r.status)
		}
		data, err := base64.StdEncoding.DecodeString(block.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, data...)
	}
	if !bytes.Equal(got, file) {
		t.Errorf("downloaded %d bytes in blocks, want the %d attached, identical", len(got), len(file))
	}

	tooBig := string(make([]byte, DefaultMaxUploadFileSize+attachSlack+1))
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"no filename", "/_sim/tables/accounts/" + acc + "/notes?mimetype=text/plain", "x", 400, "filename"},
		{"unknown row", "/_sim/tables/accounts/" + uuid.NewString() + "/notes?filename=a.txt", "x", 404, "Does Not Exist"},
		{"unknown set", "/_sim/tables/widgets/" + acc + "/notes?filename=a.txt", "x", 404, "widgets"},
		{"a table without notes", "/_sim/tables/organizations/" + OrganizationID.String() + "/notes?filename=a.txt", "x", 400, "HasNotes is false"},
		{"over the limit in Base64", "/_sim/tables/accounts/" + acc + "/notes?filename=a.bin", string(make([]byte, DefaultMaxUploadFileSize/4*3+1)), 413, "0x80044a02"},
		{"over the limit as sent", "/_sim/tables/accounts/" + acc + "/notes?filename=a.bin", tooBig, 413, "maxuploadfilesize is 5242880 bytes"},
	} {
		r := send(t, srv, "POST", tc.path, tc.body)
		if r.status != tc.status || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d %s, want %d containing %q", tc.name, r.status, r.body, tc.status, tc.want)
		}
	}
	if n := s.Count("annotations"); n != 1 {
		t.Errorf("%d notes, want the one attached", n)
	}
}

package dataversesim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestChunkedDownload: a note's document is read back in blocks, as the
// Web API's InitializeAnnotationBlocksDownload and DownloadBlock serve it,
// byte for byte; the last block is short; bad offsets, oversized blocks,
// unknown tokens and notes are refused as Dataverse refuses them; and
// documentbody/$value answers the same file as Base64 text.
func TestChunkedDownload(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	file := bytes.Repeat([]byte("Pitcher minutes\n"), 220_000) // 3.5 MB (4.7 MB in Base64, within the 5 MB default): four 1 MB blocks, the last short
	id := uuid.NewString()
	note := fmt.Sprintf(`{"annotationid":"%s","subject":"Minutes","filename":"minutes \"Q3\".txt","mimetype":"text/plain","documentbody":"%s"}`,
		id, base64.StdEncoding.EncodeToString(file))
	if r := send(t, srv, "POST", "/api/data/v9.2/annotations", note, "Content-Type", "application/json"); r.status != http.StatusNoContent {
		code, msg := r.errorCode()
		t.Fatalf("create the note = %d %s %s", r.status, code, msg)
	}

	r := send(t, srv, "POST", "/api/data/v9.2/InitializeAnnotationBlocksDownload",
		`{"Target":{"annotationid":"`+strings.ToUpper(id)+`","@odata.type":"Microsoft.Dynamics.CRM.annotation"}}`, "Content-Type", "application/json")
	var init struct {
		FileContinuationToken string
		FileName              string
		FileSizeInBytes       int
	}
	if err := json.Unmarshal([]byte(r.body), &init); r.status != http.StatusOK || err != nil || init.FileContinuationToken == "" ||
		init.FileName != `minutes "Q3".txt` || init.FileSizeInBytes != len(file) {
		t.Fatalf("InitializeAnnotationBlocksDownload = %d %s", r.status, r.body)
	}
	var got []byte
	for off := 0; off < len(file); off += 1 << 20 {
		r := send(t, srv, "POST", "/api/data/v9.2/DownloadBlock",
			fmt.Sprintf(`{"Offset":%d,"BlockLength":%d,"FileContinuationToken":"%s"}`, off, 1<<20, init.FileContinuationToken), "Content-Type", "application/json")
		var block struct{ Data string }
		if err := json.Unmarshal([]byte(r.body), &block); r.status != http.StatusOK || err != nil {
			t.Fatalf("DownloadBlock at %d = %d %s", off, r.status, r.body[:min(len(r.body), 200)])
		}
		data, err := base64.StdEncoding.DecodeString(block.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, data...)
	}
	if !bytes.Equal(got, file) {
		t.Errorf("downloaded %d bytes, want the %d uploaded, identical", len(got), len(file))
	}

	for _, tc := range []struct {
		name, path, body, code string
		status                 int
	}{
		{"beyond the end", "DownloadBlock", fmt.Sprintf(`{"Offset":%d,"BlockLength":10,"FileContinuationToken":"%s"}`, len(file)+1, init.FileContinuationToken), "0x0", 400},
		{"a block over 4 MB", "DownloadBlock", fmt.Sprintf(`{"Offset":0,"BlockLength":%d,"FileContinuationToken":"%s"}`, 5<<20, init.FileContinuationToken), "0x0", 400},
		{"an unknown token", "DownloadBlock", `{"Offset":0,"BlockLength":10,"FileContinuationToken":"nope"}`, "0x0", 400},
		{"an unknown note", "InitializeAnnotationBlocksDownload", `{"Target":{"annotationid":"` + uuid.NewString() + `","@odata.type":"Microsoft.Dynamics.CRM.annotation"}}`, "0x80040217", 404},
	} {
		r := send(t, srv, "POST", "/api/data/v9.2/"+tc.path, tc.body, "Content-Type", "application/json")
		if code, _ := r.errorCode(); r.status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}

	r = send(t, srv, "GET", "/api/data/v9.2/annotations("+id+")/documentbody/$value", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/plain" || r.body != base64.StdEncoding.EncodeToString(file) {
		t.Errorf("documentbody/$value = %d %s, %d bytes; want 200 text/plain with the Base64 file", r.status, r.header.Get("Content-Type"), len(r.body))
	}
}

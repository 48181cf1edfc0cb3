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

// deltaToken is the $deltatoken of the @odata.deltaLink in a change-tracking
// answer.
func deltaToken(t *testing.T, body string) string {
	t.Helper()
	var page struct {
		DeltaLink string `json:"@odata.deltaLink"`
	}
	err := json.Unmarshal([]byte(body), &page)
	_, tok, ok := strings.Cut(page.DeltaLink, "$deltatoken=")
	if err != nil || !ok {
		t.Fatalf("no delta link in %s", body[:min(len(body), 300)])
	}
	return tok
}

// TestNoteObjectTypeCode: a note's objecttypecode is the logical name of the
// table its objectid points to, kept in step by the system however objectid
// is written (create, PATCH, PUT and DELETE of the $ref, the chunked upload,
// CreateRow and UpdateRow), null when the note regards nothing; it can be
// selected and filtered, shows in change-tracking reads, is an EntityName
// column in the metadata, and cannot be written.
func TestNoteObjectTypeCode(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 1})
	const api = "/api/data/v9.2/"
	acc, con, appt, lead := SeedID("accounts", 0), SeedID("contacts", 0), SeedID("appointments", 0), SeedID("leads", 0)
	typeOf := func(id string) any {
		t.Helper()
		r := send(t, srv, "GET", api+"annotations("+id+")?$select=objecttypecode", "")
		var row map[string]any
		if err := json.Unmarshal([]byte(r.body), &row); r.status != http.StatusOK || err != nil {
			t.Fatalf("read note %s = %d %s", id, r.status, r.body)
		}
		if _, ok := row["subject"]; ok {
			t.Errorf("$select=objecttypecode answered more columns: %s", r.body)
		}
		v, ok := row["objecttypecode"]
		if !ok {
			t.Fatalf("no objecttypecode in %s", r.body)
		}
		return v
	}
	write := func(method, path, body string) {
		t.Helper()
		if r := send(t, srv, method, api+path, body, "Content-Type", "application/json"); r.status != http.StatusNoContent {
			t.Fatalf("%s %s = %d %s", method, path, r.status, r.body)
		}
	}
	tok := deltaToken(t, send(t, srv, "GET", api+"annotations?$select=objecttypecode", "", "Prefer", "odata.track-changes").body)

	id := uuid.NewString()
	// A value in the body is ignored, as for every column the system sets.
	write("POST", "annotations", `{"annotationid":"`+id+`","subject":"n","objecttypecode":"contact","objectid_account@odata.bind":"/accounts(`+acc+`)"}`)
	if got := typeOf(id); got != "account" {
		t.Errorf("created regarding an account: objecttypecode %v, want account", got)
	}
	write("PATCH", "annotations("+id+")", `{"objectid_contact@odata.bind":"/contacts(`+con+`)"}`)
	if got := typeOf(id); got != "contact" {
		t.Errorf("PATCHed to a contact: objecttypecode %v, want contact", got)
	}
	write("PUT", "annotations("+id+")/objectid_appointment/$ref", `{"@odata.id":"appointments(`+appt+`)"}`)
	if got := typeOf(id); got != "appointment" {
		t.Errorf("PUT $ref to an appointment: objecttypecode %v, want appointment", got)
	}
	write("DELETE", "annotations("+id+")/objectid_appointment/$ref", "")
	if got := typeOf(id); got != nil {
		t.Errorf("after DELETE $ref: objecttypecode %v, want null", got)
	}
	write("PATCH", "annotations("+id+")", `{"objecttypecode":"lead"}`)
	if got := typeOf(id); got != nil {
		t.Errorf("a PATCH of objecttypecode alone took: %v, want null still", got)
	}
	r := send(t, srv, "PUT", api+"annotations("+id+")/objecttypecode", `{"value":"account"}`, "Content-Type", "application/json")
	if code, msg := r.errorCode(); r.status != http.StatusBadRequest || code != "0x0" || msg != "The property 'objecttypecode' cannot be set." {
		t.Errorf("PUT objecttypecode = %d %s, want 400 as for a read-only column", r.status, r.body)
	}

	cid, err := s.CreateRow("annotations", map[string]any{"subject": "c", "objectid_lead@odata.bind": "/leads(" + lead + ")"})
	if err != nil {
		t.Fatal(err)
	}
	if got := typeOf(cid); got != "lead" {
		t.Errorf("CreateRow regarding a lead: objecttypecode %v, want lead", got)
	}
	if err := s.UpdateRow("annotations", cid, map[string]any{"objectid_account@odata.bind": "/accounts(" + acc + ")"}); err != nil {
		t.Fatal(err)
	}
	if got := typeOf(cid); got != "account" {
		t.Errorf("UpdateRow to an account: objecttypecode %v, want account", got)
	}
	if err := s.UpdateRow("annotations", cid, map[string]any{"objectid_account@odata.bind": nil}); err != nil {
		t.Fatal(err)
	}
	if got := typeOf(cid); got != nil {
		t.Errorf("UpdateRow clearing objectid: objecttypecode %v, want null", got)
	}

	uid := uuid.NewString()
	target := `{"annotationid":"` + uid + `","subject":"u","filename":"u.txt","mimetype":"text/plain","objectid_lead@odata.bind":"/leads(` + lead + `)","@odata.type":"Microsoft.Dynamics.CRM.annotation"}`
	r = send(t, srv, "POST", api+"InitializeAnnotationBlocksUpload", `{"Target":`+target+`}`, "Content-Type", "application/json")
	var up struct{ FileContinuationToken string }
	if err := json.Unmarshal([]byte(r.body), &up); r.status != http.StatusOK || err != nil {
		t.Fatalf("InitializeAnnotationBlocksUpload = %d %s", r.status, r.body)
	}
	block := base64.StdEncoding.EncodeToString([]byte("block-1"))
	r = send(t, srv, "POST", api+"UploadBlock", `{"BlockId":"`+block+`","BlockData":"`+base64.StdEncoding.EncodeToString([]byte("hello"))+`","FileContinuationToken":"`+up.FileContinuationToken+`"}`, "Content-Type", "application/json")
	if r.status != http.StatusNoContent {
		t.Fatalf("UploadBlock = %d %s", r.status, r.body)
	}
	r = send(t, srv, "POST", api+"CommitAnnotationBlocksUpload", `{"Target":`+target+`,"BlockList":["`+block+`"],"FileContinuationToken":"`+up.FileContinuationToken+`"}`, "Content-Type", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("CommitAnnotationBlocksUpload = %d %s", r.status, r.body)
	}
	if got := typeOf(uid); got != "lead" {
		t.Errorf("committed regarding a lead: objecttypecode %v, want lead", got)
	}

	r = send(t, srv, "GET", api+"annotations?$select=subject&$filter=objecttypecode%20eq%20'lead'", "")
	if r.status != http.StatusOK || strings.Count(r.body, `"annotationid"`) != 1 || !strings.Contains(r.body, uid) {
		t.Errorf("$filter on objecttypecode = %d %s, want the one note regarding a lead", r.status, r.body)
	}
	full := send(t, srv, "GET", api+"annotations?$select=objecttypecode", "", "Prefer", "odata.track-changes")
	delta := send(t, srv, "GET", api+"annotations?$select=objecttypecode&$deltatoken="+tok, "")
	for name, r := range map[string]result{"full": full, "delta": delta} {
		for _, want := range []string{`"objecttypecode":"lead","annotationid":"` + uid + `"`, `"objecttypecode":null,"annotationid":"` + id + `"`, `"objecttypecode":null,"annotationid":"` + cid + `"`} {
			if r.status != http.StatusOK || !strings.Contains(r.body, want) {
				t.Errorf("%s change-tracking read = %d %s, want it to contain %s", name, r.status, r.body, want)
			}
		}
	}
	meta := send(t, srv, "GET", api+"EntityDefinitions(LogicalName='annotation')?$expand=Attributes", "")
	if !strings.Contains(meta.body, `{"AttributeType":"EntityName","LogicalName":"objecttypecode"`) {
		t.Errorf("metadata does not give objecttypecode as an EntityName column: %s", meta.body)
	}
}

// TestDeleteCascadesToNotes: deleting a row deletes the notes regarding it,
// through the Web API and DeleteRow alike, each leaving a tombstone the next
// delta read of annotations lists; other rows' notes stay; and a change set
// that fails after such a delete brings the row and its notes back.
func TestDeleteCascadesToNotes(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 2})
	const api = "/api/data/v9.2/"
	acc, other, con := SeedID("accounts", 0), SeedID("accounts", 1), SeedID("contacts", 0)
	note := func(values map[string]any) string {
		t.Helper()
		id, err := s.CreateRow("annotations", values)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	accNote := note(map[string]any{"subject": "a", "objectid_account@odata.bind": "/accounts(" + acc + ")"})
	accFile, err := s.AttachFile("accounts", acc, Attachment{FileName: "a.txt", Content: []byte("minutes")})
	if err != nil {
		t.Fatal(err)
	}
	kept := note(map[string]any{"subject": "other account", "objectid_account@odata.bind": "/accounts(" + other + ")"})
	conNote := note(map[string]any{"subject": "c", "objectid_contact@odata.bind": "/contacts(" + con + ")"})
	loose := note(map[string]any{"subject": "regarding nothing"})
	tok := deltaToken(t, send(t, srv, "GET", api+"annotations?$select=subject", "", "Prefer", "odata.track-changes").body)

	missing := uuid.NewString()
	batch := "--batch_b\r\nContent-Type: multipart/mixed; boundary=changeset_c\r\n\r\n" +
		"--changeset_c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nDELETE accounts(" + acc + ") HTTP/1.1\r\n\r\n\r\n" +
		"--changeset_c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\nDELETE accounts(" + missing + ") HTTP/1.1\r\n\r\n\r\n" +
		"--changeset_c--\r\n--batch_b--\r\n"
	if r := send(t, srv, "POST", api+"$batch", batch, "Content-Type", "multipart/mixed; boundary=batch_b"); r.status != http.StatusNotFound {
		t.Fatalf("a change set failing after the delete = %d %s, want 404", r.status, r.body)
	}
	for _, id := range []string{accNote, accFile} {
		if _, ok := s.GetRow("annotations", id); !ok {
			t.Errorf("note %s is gone after its account's delete was rolled back", id)
		}
	}

	if r := send(t, srv, "DELETE", api+"accounts("+acc+")", ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE the account = %d %s", r.status, r.body)
	}
	if err := s.DeleteRow("contacts", con); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{accNote, accFile, conNote} {
		r := send(t, srv, "GET", api+"annotations("+id+")", "")
		if code, _ := r.errorCode(); r.status != http.StatusNotFound || code != "0x80040217" {
			t.Errorf("note %s of a deleted row = %d %s, want 404", id, r.status, r.body)
		}
	}
	for _, id := range []string{kept, loose} {
		if _, ok := s.GetRow("annotations", id); !ok {
			t.Errorf("note %s went with another row", id)
		}
	}
	r := send(t, srv, "GET", api+"annotations?$select=subject&$deltatoken="+tok, "")
	if r.status != http.StatusOK || strings.Count(r.body, `"reason":"deleted"`) != 3 || strings.Contains(r.body, `"@odata.etag"`) {
		t.Errorf("delta after the deletes = %d %s, want the three notes' deletions and nothing else", r.status, r.body)
	}
	for _, id := range []string{accNote, accFile, conNote} {
		if !strings.Contains(r.body, `"id":"`+id+`","reason":"deleted"`) {
			t.Errorf("delta does not list the deletion of note %s: %s", id, r.body)
		}
	}
}

// TestAttachFile: AttachFile makes a note regarding the row with the file
// as its document, as a person attaching a file in Dynamics does; the next
// delta read lists it; it enforces maxuploadfilesize on the Base64 text and
// refuses unknown rows and sets, tables without notes and a missing name.
func TestAttachFile(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 1})
	const api = "/api/data/v9.2/"
	contact := SeedID("contacts", 0)
	tok := deltaToken(t, send(t, srv, "GET", api+"annotations?$select=subject", "", "Prefer", "odata.track-changes").body)
	content := []byte("a small PDF, honestly")
	id, err := s.AttachFile("contacts", strings.ToUpper(contact), Attachment{Subject: "Offer", NoteText: "as discussed", FileName: "offer.pdf", Content: content})
	if err != nil {
		t.Fatal(err)
	}
	row, ok := s.GetRow("annotations", id)
	want := Row{"subject": "Offer", "notetext": "as discussed", "filename": "offer.pdf", "mimetype": "application/octet-stream", "isdocument": true,
		"documentbody": base64.StdEncoding.EncodeToString(content), "filesize": float64(len(content)), "_objectid_value": contact, "objecttypecode": "contact"}
	for k, v := range want {
		if !ok || row[k] != v {
			t.Errorf("note %s = %v, want %v", k, row[k], v)
		}
	}
	r := send(t, srv, "GET", api+"annotations?$select=subject&$deltatoken="+tok, "")
	if r.status != http.StatusOK || !strings.Contains(r.body, `"annotationid":"`+id+`"`) {
		t.Errorf("the next delta read = %d %s, want the new note", r.status, r.body)
	}

	if err := s.UpdateRow("organizations", OrganizationID.String(), map[string]any{"maxuploadfilesize": 12}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachFile("contacts", contact, Attachment{FileName: "nine.bin", Content: make([]byte, 9)}); err != nil {
		t.Errorf("9 bytes (12 in Base64) with a limit of 12: %v", err)
	}
	for _, tc := range []struct {
		name, set, id string
		f             Attachment
		want          string
	}{
		{"over the limit in Base64", "contacts", contact, Attachment{FileName: "ten.bin", Content: make([]byte, 10)}, "0x80044a02"},
		{"unknown row", "contacts", uuid.NewString(), Attachment{FileName: "x"}, "Does Not Exist"},
		{"not a row id", "contacts", "nope", Attachment{FileName: "x"}, "Does Not Exist"},
		{"unknown set", "widgets", contact, Attachment{FileName: "x"}, "Resource not found for the segment 'widgets'"},
		{"a table without notes", "organizations", OrganizationID.String(), Attachment{FileName: "x"}, "HasNotes is false"},
		{"no file name", "contacts", contact, Attachment{Content: []byte("x")}, "file name"},
		{"a file name too long", "contacts", contact, Attachment{FileName: strings.Repeat("n", 256)}, "0x80044331"},
	} {
		if _, err := s.AttachFile(tc.set, tc.id, tc.f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if n := s.Count("annotations"); n != 2 {
		t.Errorf("%d notes, want the 2 attached: a refused file leaves none", n)
	}
}

// TestDocumentBodyValueRefusals: documentbody/$value of an unknown or
// deleted note answers Dataverse's 404, and without read access on notes
// 403 PrivilegeDenied naming prvReadNote.
func TestDocumentBodyValueRefusals(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 1})
	id, err := s.AttachFile("accounts", SeedID("accounts", 0), Attachment{FileName: "a.txt", Content: []byte("text")})
	if err != nil {
		t.Fatal(err)
	}
	value := func(id string) result {
		return send(t, srv, "GET", "/api/data/v9.2/annotations("+id+")/documentbody/$value", "")
	}
	if r := value(id); r.status != http.StatusOK || r.body != base64.StdEncoding.EncodeToString([]byte("text")) {
		t.Fatalf("documentbody/$value = %d %s", r.status, r.body)
	}
	unknown := uuid.NewString()
	if err := s.DeleteRow("annotations", id); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{unknown, id} {
		r := value(id)
		code, msg := r.errorCode()
		if r.status != http.StatusNotFound || code != "0x80040217" || msg != "annotation With Id = "+id+" Does Not Exist" ||
			r.header.Get("Content-Type") != "application/json; odata.metadata=minimal" {
			t.Errorf("documentbody/$value of %s = %d %v %s, want 404 0x80040217", id, r.status, r.header, r.body)
		}
	}

	id, err = s.AttachFile("accounts", SeedID("accounts", 0), Attachment{FileName: "b.txt", Content: []byte("text")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPrivilege("annotations", AccessRead, false); err != nil {
		t.Fatal(err)
	}
	r := value(id)
	code, msg := r.errorCode()
	if r.status != http.StatusForbidden || code != "0x80040220" || !strings.Contains(msg, "is missing prvReadNote privilege") {
		t.Errorf("documentbody/$value without read access = %d %s, want 403 PrivilegeDenied", r.status, r.body)
	}
}

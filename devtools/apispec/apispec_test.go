package apispec

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T) *Spec {
	t.Helper()
	s, err := Load(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jsonHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestCheckResponse: the checker accepts what the document says and
// catches each way an answer can differ from it.
func TestCheckResponse(t *testing.T) {
	s := load(t)
	ok := `{"uploadId":"r-1","status":"queued","attempts":0,"records":[],"createdAt":"2026-03-02T09:30:00Z","updatedAt":"2026-03-02T09:30:00Z"}`
	tests := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		want               string // "" or part of the error
	}{
		{"documented", "POST", "/api/uploads", 202, jsonHeader("Location", "https://x/api/uploads/r-1"), ok, ""},
		{"missing header", "POST", "/api/uploads", 202, jsonHeader(), ok, "required header Location"},
		{"undocumented status", "POST", "/api/uploads", 418, jsonHeader(), ok, "status 418 is not documented"},
		{"unknown status value", "GET", "/api/uploads/{id}", 200, jsonHeader(), strings.Replace(ok, "queued", "lost", 1), "does not match"},
		{"unknown field", "GET", "/api/uploads/{id}", 200, jsonHeader(), strings.Replace(ok, `"attempts"`, `"extra":1,"attempts"`, 1), "does not match"},
		{"error body", "GET", "/api/uploads/{id}", 404, jsonHeader(), `{"error":{"code":"not_found","message":"you have no upload x"}}`, ""},
		{"changes", "GET", "/api/changes", 200, jsonHeader(), `{"changes":[{"entitySet":"accounts","id":"6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f","op":"delete"}],"cursor":"c","more":false}`, ""},
		{"other content type", "GET", "/api/changes", 200, http.Header{"Content-Type": {"text/plain"}}, `x`, "content type text/plain is not documented"},
		{"undocumented path", "GET", "/api/nothing", 200, jsonHeader(), `{}`, "not in the document"},
		{"document not modified", "GET", "/api/documents/{id}", 304, http.Header{"Etag": {`"102"`}, "Cache-Control": {"private, no-cache"}}, ``, ""},
		{"document not modified without its ETag", "GET", "/api/documents/{id}", 304, http.Header{"Cache-Control": {"private, no-cache"}}, ``, "required header ETag"},
		{"document not found", "GET", "/api/documents/{id}", 404, jsonHeader(), `{"error":{"code":"not_found","message":"the note has no file attached"}}`, ""},
		{"document too large", "GET", "/api/documents/{id}", 413, jsonHeader(), `{"error":{"code":"too_large","message":"open it in Dynamics 365"}}`, ""},
		{"document throttled", "GET", "/api/documents/{id}", 503, jsonHeader("Retry-After", "30"), `{"error":{"code":"transient","message":"Dynamics 365 is busy"}}`, ""},
		{"document refused by Dynamics", "GET", "/api/documents/{id}", 403, jsonHeader(), `{"error":{"code":"forbidden","message":"your security role"}}`, ""},
	}
	for _, tc := range tests {
		err := s.CheckResponse(tc.method, tc.path, tc.status, tc.header, []byte(tc.body))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: CheckResponse = %v, want it accepted", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: CheckResponse = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestReportExamples: the examples of docs/api.md's upload section are
// meeting reports by the document too.
func TestCheckRequest(t *testing.T) {
	s := load(t)
	good := `{"uploadId":"r-1","meeting":{"subject":"s","start":"2026-03-02T09:30:00Z","end":"2026-03-02T10:30:00Z","regarding":{"customer":0}},
		"customers":[{"entitySet":"accounts","key":{"accountnumber":"AN-1"},"fields":{"name":"Contoso","revenue":5,"creditonhold":false,"fax":null}}],
		"documents":[{"name":"a.pdf","mimeType":"application/pdf","content":"JVBERi0xLjQK"}]}`
	if err := s.CheckRequest("POST", "/api/uploads", []byte(good)); err != nil {
		t.Errorf("a valid report is refused by the document: %v", err)
	}
	if err := s.CheckRequest("POST", "/api/uploads", []byte(`{"uploadId":"r-1","meeting":{"subject":"s","start":"x","end":"y"},"extra":1}`)); err == nil {
		t.Errorf("a report with an unknown field passes the document")
	}
}

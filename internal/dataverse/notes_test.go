package dataverse_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

func setMaxUpload(t *testing.T, e *env, n int) {
	t.Helper()
	if err := e.sim.UpdateRow("organizations", dataversesim.OrganizationID.String(), map[string]any{"maxuploadfilesize": n}); err != nil {
		t.Fatal(err)
	}
}

func TestNoteWithDocumentAndSizeLimit(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 1})
	ctx := context.Background()
	setMaxUpload(t, e, 1000)
	settings, err := e.c.OrganizationSettings(ctx)
	if err != nil || settings.MaxUploadFileSize != 1000 || settings.ExpireChangeTrackingInDays != 7 {
		t.Fatalf("settings = %+v, %v", settings, err)
	}
	note := dataverse.Note{
		ID: "6c1d0b6e-0000-4000-8000-000000000001", Subject: "Visit report", FileName: "r.pdf", MimeType: "application/pdf",
		Regarding: dataverse.ByID("accounts", dataversesim.SeedID("accounts", 0)), RegardingTable: "account",
		Document: bytes.Repeat([]byte{7}, 750), // 1000 Base64 characters: exactly the limit
	}
	if _, err := e.c.CreateNote(ctx, note); err != nil {
		t.Fatalf("note at the limit: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/data/v9.2/annotations("+note.ID+")/documentbody/$value", nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != base64.StdEncoding.EncodeToString(note.Document) || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("documentbody/$value = %q (%s)", got, resp.Header.Get("Content-Type"))
	}
	note.ID, note.Document = "6c1d0b6e-0000-4000-8000-000000000002", bytes.Repeat([]byte{7}, 751)
	if _, err := e.c.CreateNote(ctx, note); !dataverse.IsFileTooLarge(err) {
		t.Errorf("note above the limit: err = %v, want file too large", err)
	}
	if e.sim.Count("annotations") != 1 {
		t.Errorf("annotations = %d, want 1", e.sim.Count("annotations"))
	}
}

func TestUploadNoteInBlocks(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 1})
	ctx := context.Background()
	doc := make([]byte, 10_000)
	for i := range doc {
		doc[i] = byte(i)
	}
	note := dataverse.Note{ID: "6c1d0b6e-0000-4000-8000-000000000003", Subject: "Big", FileName: "big.bin", MimeType: "application/octet-stream",
		Regarding: dataverse.ByID("accounts", dataversesim.SeedID("accounts", 0)), RegardingTable: "account"}
	up, err := e.c.UploadNote(ctx, note, bytes.NewReader(doc), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if up.AnnotationID != note.ID || up.FileSizeInBytes != int64(len(doc)) {
		t.Errorf("upload = %+v", up)
	}
	row, _ := e.sim.GetRow("annotations", note.ID)
	if row["documentbody"] != base64.StdEncoding.EncodeToString(doc) || row["_objectid_value"] != dataversesim.SeedID("accounts", 0) {
		t.Errorf("stored note differs: filesize %v, regarding %v", row["filesize"], row["_objectid_value"])
	}
	// 1 initialize + 3 blocks + 1 commit.
	if got := e.sim.Requests(); got != 5 {
		t.Errorf("requests = %d, want 5", got)
	}
	setMaxUpload(t, e, 1000)
	note.ID = "6c1d0b6e-0000-4000-8000-000000000004"
	if _, err := e.c.UploadNote(ctx, note, bytes.NewReader(doc), 0); !dataverse.IsFileTooLarge(err) {
		t.Errorf("upload above the limit: err = %v, want file too large", err)
	}
}

func TestMetadataAndDiscovery(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	ctx := context.Background()
	d, err := e.c.EntityDefinition(ctx, "appointment")
	if err != nil || d.EntitySetName != "appointments" || d.PrimaryIDAttribute != "activityid" || !d.ChangeTrackingEnabled {
		t.Errorf("appointment = %+v, %v", d, err)
	}
	if _, err := e.c.EntityDefinition(ctx, "nosuch"); !dataverse.IsNotFound(err) {
		t.Errorf("unknown table: err = %v", err)
	}
	tracked, err := e.c.EntityDefinitions(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range tracked {
		if !d.ChangeTrackingEnabled || d.EntitySetName == "leads" {
			t.Errorf("tracked-only list holds %+v", d)
		}
	}
	disco, err := dataverse.NewDiscovery(e.srv.URL, dataverse.StaticToken("x"), &dataverse.Options{HTTPClient: e.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := disco.Instances(ctx)
	if err != nil || len(inst) != 1 || inst[0].APIURL != e.srv.URL {
		t.Fatalf("instances = %+v, %v", inst, err)
	}
	if _, err := dataverse.New(inst[0].APIURL, dataverse.StaticToken("x"), nil); err != nil {
		t.Errorf("the discovered ApiUrl is not a usable environment URL: %v", err)
	}
}

func TestEnvironmentURLs(t *testing.T) {
	tests := []struct {
		in, root string
	}{
		{"https://contoso.crm.dynamics.com", "https://contoso.crm.dynamics.com/api/data/v9.2/"},
		{"https://contoso.api.crm4.dynamics.com/", "https://contoso.api.crm4.dynamics.com/api/data/v9.2/"},
		{"https://contoso.crm.dynamics.com/api/data/v9.0", "https://contoso.crm.dynamics.com/api/data/v9.0/"},
		{"http://127.0.0.1:7073", "http://127.0.0.1:7073/api/data/v9.2/"},
		{"http://contoso.crm.dynamics.com", ""},
		{"https://contoso.crm.dynamics.com/main.aspx", ""},
		{"https://user:pw@contoso.crm.dynamics.com", ""},
		{"contoso", ""},
	}
	for _, tt := range tests {
		c, err := dataverse.New(tt.in, dataverse.StaticToken("x"), nil)
		switch {
		case tt.root == "" && err == nil:
			t.Errorf("New(%q) accepted it", tt.in)
		case tt.root != "" && err != nil:
			t.Errorf("New(%q): %v", tt.in, err)
		case tt.root != "" && c.APIRoot() != tt.root:
			t.Errorf("New(%q).APIRoot() = %q, want %q", tt.in, c.APIRoot(), tt.root)
		}
	}
}

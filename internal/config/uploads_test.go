package config

import (
	"errors"
	"strings"
	"testing"
)

func TestUploadsDefaults(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uploads
	if u.MaxBodyBytes != 32<<20 || u.MaxDocuments != 10 || u.InlineDocumentBytes != 4<<20 || u.MaxDeliveryCount != 10 || u.Container != "documents" {
		t.Errorf("Uploads = %+v, want the documented defaults (32 MiB body, 10 documents, 4 MiB inline, 10 deliveries, container documents)", u)
	}
}

func TestUploadsSettings(t *testing.T) {
	c, err := Load(env(with(map[string]string{
		SettingUploadMaxBodyBytes: "1048576", SettingUploadMaxDocuments: "0", SettingUploadInlineBytes: "0",
		SettingUploadMaxDeliveries: "5", SettingDocumentsContainer: "report-docs-2",
	})))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uploads
	if u.MaxBodyBytes != 1<<20 || u.MaxDocuments != 0 || u.InlineDocumentBytes != 0 || u.MaxDeliveryCount != 5 || u.Container != "report-docs-2" {
		t.Errorf("Uploads = %+v", u)
	}
}

func TestUploadsProblems(t *testing.T) {
	_, err := Load(env(with(map[string]string{
		SettingUploadMaxBodyBytes: "200000000", SettingUploadMaxDocuments: "ten", SettingUploadInlineBytes: "-1",
		SettingUploadMaxDeliveries: "0", SettingDocumentsContainer: "Docs--1",
	})))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *config.Error", err)
	}
	want := []string{
		`UPLOAD_MAX_BODY_BYTES: "200000000" is not a whole number from 65536 to 104857600`,
		`UPLOAD_MAX_DOCUMENTS: "ten" is not a whole number from 0 to 100`,
		`UPLOAD_INLINE_DOCUMENT_BYTES: "-1" is not a whole number`,
		`UPLOAD_MAX_DELIVERY_COUNT: "0" is not a whole number from 1 to 2000 (deliveries; set it to the uploads queue's maxDeliveryCount)`,
		`DOCUMENTS_CONTAINER: "Docs--1" is not a container name`,
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("problems = %q, want %d: %q", ce.Problems, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(ce.Problems[i].String(), w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, ce.Problems[i], w)
		}
	}
}

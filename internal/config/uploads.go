package config

import (
	"strconv"
)

// Uploads holds the settings of the upstream upload pipeline.
type Uploads struct {
	// MaxBodyBytes bounds a POST /api/uploads body (the Functions host
	// itself refuses more than 100 MB).
	MaxBodyBytes int64
	// MaxDocuments bounds the documents of one report.
	MaxDocuments int
	// InlineDocumentBytes: documents up to this size travel inside the
	// report's $batch, as long as the batch's documents stay within it in
	// total; the others use the chunked upload.
	InlineDocumentBytes int64
	// MaxDeliveryCount is the uploads queue's maxDeliveryCount: the worker
	// marks an upload dead_lettered when its last delivery fails.
	MaxDeliveryCount int
	// Container is the Blob Storage container of uploaded documents.
	Container string
}

// Setting names of the uploads group.
const (
	SettingUploadConfig        = "UPLOAD_CONFIG"
	SettingUploadMaxBodyBytes  = "UPLOAD_MAX_BODY_BYTES"
	SettingUploadMaxDocuments  = "UPLOAD_MAX_DOCUMENTS"
	SettingUploadInlineBytes   = "UPLOAD_INLINE_DOCUMENT_BYTES"
	SettingUploadMaxDeliveries = "UPLOAD_MAX_DELIVERY_COUNT"
	SettingDocumentsContainer  = "DOCUMENTS_CONTAINER"
)

// hostBodyLimit is the Functions host's HTTP request limit (100 MB).
const hostBodyLimit = 104857600

func (r *reader) uploads() Uploads {
	u := Uploads{
		MaxBodyBytes:        r.integer(SettingUploadMaxBodyBytes, 32<<20, 64<<10, hostBodyLimit, "bytes; the Functions host refuses bodies over 100 MB"),
		MaxDocuments:        int(r.integer(SettingUploadMaxDocuments, 10, 0, 100, "documents per report")),
		InlineDocumentBytes: r.integer(SettingUploadInlineBytes, 4<<20, 0, hostBodyLimit, "bytes; 0 sends every document through the chunked upload"),
		MaxDeliveryCount:    int(r.integer(SettingUploadMaxDeliveries, 10, 1, 2000, "deliveries; set it to the uploads queue's maxDeliveryCount")),
		Container:           r.containerName(SettingDocumentsContainer, "documents"),
	}
	return u
}

// integer reads an optional whole number from lo to hi; unit says what it
// counts, for the message.
func (r *reader) integer(name string, def, lo, hi int64, unit string) int64 {
	v := r.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r.problem(name, "%q is not a whole number from %d to %d (%s)", v, lo, hi, unit)
		return def
	}
	return n
}

// containerName reads an optional Blob Storage container name: 3 to 63
// lowercase letters, digits and single hyphens, starting and ending with a
// letter or digit.
func (r *reader) containerName(name, def string) string {
	v := r.get(name)
	if v == "" {
		return def
	}
	ok := len(v) >= 3 && len(v) <= 63 && v[0] != '-' && v[len(v)-1] != '-'
	for i := 0; i < len(v) && ok; i++ {
		c := v[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && v[i-1] != '-'
	}
	if !ok {
		r.problem(name, "%q is not a container name: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit", v)
		return def
	}
	return v
}

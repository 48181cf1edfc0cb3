// Package report is the meeting report the Pitcher app uploads: its wire
// format (the body of POST /api/uploads), strict decoding against the
// allow-list with every problem named at once, the canonical form that is
// stored and hashed, and the deterministic ids of the records it becomes.
package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Report is one meeting report. Decode fills it from the app's JSON; the
// stored form (Canonical) is the same JSON with each document's content
// replaced by its size and SHA-256.
type Report struct {
	// UploadID is the app's id for the report, unique per user: 1-100
	// letters, digits, '.', '_' or '-'.
	UploadID  string     `json:"uploadId"`
	Meeting   Meeting    `json:"meeting"`
	Notes     []Note     `json:"notes,omitempty"`
	Customers []Customer `json:"customers,omitempty"`
	Documents []Document `json:"documents,omitempty"`
}

// Meeting becomes the configured activity (an appointment).
type Meeting struct {
	Subject     string    `json:"subject"`
	Start       time.Time `json:"start"` // UTC
	End         time.Time `json:"end"`   // UTC, not before Start
	Location    string    `json:"location,omitempty"`
	Description string    `json:"description,omitempty"`
	// Regarding is the record the meeting is about, if any.
	Regarding *Reference `json:"regarding,omitempty"`
}

// Reference names a record: an existing one by id or alternate key, or
// one of the report's own customers by its index.
type Reference struct {
	EntitySet string         `json:"entitySet,omitempty"`
	ID        string         `json:"id,omitempty"`
	Key       map[string]any `json:"key,omitempty"`
	Customer  *int           `json:"customer,omitempty"`
}

// Customer is a row of an allowed entity set to create or update: by id,
// by alternate key, or (neither) a new row whose id the connector derives.
// Key values are strings or whole json.Numbers; field values strings,
// json.Numbers, booleans or nil.
type Customer struct {
	EntitySet string         `json:"entitySet"`
	ID        string         `json:"id,omitempty"`
	Key       map[string]any `json:"key,omitempty"`
	Fields    map[string]any `json:"fields"`
	// IfMatch is the row's @odata.etag as the app last received it (from
	// the Changes API or an upload's records): the version its edit is
	// based on. Only a row named by id has one.
	IfMatch string `json:"ifMatch,omitempty"`
}

// Note is a text note on the meeting.
type Note struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
}

// Document is a file attached to the meeting, named by its Size and SHA256
// (lower-case hex) in the stored form. Its content is not held here:
// Decode writes it into a Spool as it reads it.
type Document struct {
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

// Canonical is the stored form of r: compact JSON with map keys sorted and
// times in UTC, without document contents. Equal reports have equal
// canonical forms however the app spelled its JSON.
func (r *Report) Canonical() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// Every value in a decoded report is a string, number, bool,
		// nil, time or map of those: Marshal cannot fail.
		panic(fmt.Sprintf("report: canonical form: %v", err))
	}
	return b
}

// ContentHash is the SHA-256 (hex) of the canonical form: the identity of
// the report's content, which decides whether a second POST with the same
// upload id is the same report.
func (r *Report) ContentHash() string {
	sum := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(sum[:])
}

// Parse reads a report's stored form.
func Parse(stored []byte) (*Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(stored))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("report: stored form: %w", err)
	}
	return &r, nil
}

// namespace is the UUIDv5 namespace of the connector's record ids.
var namespace = uuid.MustParse("0c6f7d2e-4a51-5b8e-9d3c-7e1f2a9b4c60")

// Items of a report, for RecordID and for naming what failed.
const ItemMeeting = "meeting"

// Item names the i-th element of a list of the report: Item("notes", 0) is "notes[0]".
func Item(list string, i int) string { return fmt.Sprintf("%s[%d]", list, i) }

// RecordID is the Dataverse id of item of the upload uploadID of user in
// tenant: a UUIDv5, the same on every delivery, so writing it with an
// upsert can never create a second record. The owner is part of the name
// because upload ids are only unique per user.
func RecordID(tenantID, userID, uploadID, item string) string {
	return uuid.NewSHA1(namespace, []byte(tenantID+"/"+userID+"/"+uploadID+"/"+item)).String()
}

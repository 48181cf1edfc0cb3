package uploader

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/report"
	"github.com/pitcher/connector/internal/store"
)

// Status is what the app sees of an upload (GET /api/uploads/{id}).
type Status struct {
	UploadID string `json:"uploadId"`
	// Status is queued, processing, done, retrying, parked, failed,
	// conflict, dead_lettered or cancelled.
	Status string `json:"status"`
	// StatusURL is where to ask again; the HTTP layer fills it in.
	StatusURL string `json:"statusUrl,omitempty"`
	// Attempts counts the worker's runs.
	Attempts int `json:"attempts"`
	// Records are the Dynamics records written so far.
	Records []Record `json:"records"`
	// Conflicts are the rows the report updates that changed in Dynamics
	// since the app's copy: why a conflict upload wrote nothing, or what
	// a client-wins upload wrote over.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	LastError *LastError `json:"lastError,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	// NextAttemptAt is when a throttled upload runs again.
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	CompletedAt   *time.Time `json:"completedAt,omitempty"`
}

// Record is one record written into Dynamics for an item of the report
// ("meeting", "customers[0]", "notes[1]", "documents[0]").
type Record struct {
	Item      string `json:"item"`
	EntitySet string `json:"entitySet"`
	ID        string `json:"id"`
	// ETag is a customer row's version after a write based on the app's
	// version (ifMatch) that nothing else changed: the app's copy with the
	// report's fields, a version the app may base its next edit on. Absent
	// otherwise (a merge, a write over a change, an upsert, an answer
	// lost): the app then waits for the row in /api/changes.
	ETag string `json:"etag,omitempty"`
}

// LastError is why the last attempt did not finish: Dataverse's code (hex,
// often empty) and message with its HTTP status and the report's item it
// concerns, or one of the connector's codes (reauth_required, throttled,
// unavailable, stored_report_damaged, environment_invalid, not_allowed).
type LastError struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
	Item       string `json:"item,omitempty"`
}

// Status returns the upload id of o.
func (s *Service) Status(ctx context.Context, o Owner, id string) (Status, error) {
	if !report.ValidUploadID(id) {
		return Status{}, apperr.InvalidProblems("the upload id is not valid", []apperr.Problem{{Field: "id",
			Message: "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"}})
	}
	row, err := s.Rows.Get(ctx, o.TenantID, o.UserID, id)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, apperr.E(apperr.NotFound, "you have no upload %s", id)
	}
	if err != nil {
		return Status{}, apperr.Wrap(apperr.Transient, err, "could not read the upload; try again")
	}
	return statusOf(row), nil
}

func statusOf(row store.Upload) Status {
	st := Status{UploadID: row.UploadID, Status: row.Status, Attempts: row.Attempts, Records: records(row),
		Conflicts: conflicts(row), CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}
	if !row.NextAttemptAt.IsZero() {
		st.NextAttemptAt = &row.NextAttemptAt
	}
	if !row.CompletedAt.IsZero() {
		st.CompletedAt = &row.CompletedAt
	}
	if row.ErrorCode != "" || row.ErrorMessage != "" {
		st.LastError = &LastError{Code: row.ErrorCode, Message: row.ErrorMessage, HTTPStatus: row.ErrorStatus, Item: row.ErrorItem}
	}
	return st
}

func records(row store.Upload) []Record {
	out := []Record{}
	if row.Records != "" {
		_ = json.Unmarshal([]byte(row.Records), &out)
	}
	return out
}

func setRecords(row *store.Upload, recs []Record) {
	b, _ := json.Marshal(recs)
	row.Records = string(b)
}

func setError(row *store.Upload, e *LastError) {
	if e == nil {
		row.ErrorCode, row.ErrorMessage, row.ErrorStatus, row.ErrorItem = "", "", 0, ""
		return
	}
	msg := e.Message
	if len(msg) > 2000 {
		msg = strings.ToValidUTF8(msg[:2000], "") + "…"
	}
	row.ErrorCode, row.ErrorMessage, row.ErrorStatus, row.ErrorItem = e.Code, msg, e.HTTPStatus, e.Item
}

package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// UploadsTable holds one row per meeting report (docs/architecture.md,
// "State"): PartitionKey = <tenant id>_<user object id>, RowKey = the upload
// id. Every read and write names both ids, so one user can never reach
// another's rows.
const UploadsTable = "uploads"

// Upload statuses (the status API shows them as they are).
const (
	UploadQueued       = "queued"        // accepted, waiting for the worker
	UploadProcessing   = "processing"    // the worker is writing it
	UploadDone         = "done"          // in Dynamics
	UploadRetrying     = "retrying"      // failed for now; it runs again (at NextAttemptAt when set)
	UploadParked       = "parked"        // the user must sign in again; it resumes then
	UploadFailed       = "failed"        // Dynamics refused it; LastError says why
	UploadConflict     = "conflict"      // a row it updates changed in Dynamics meanwhile; nothing was written
	UploadDeadLettered = "dead_lettered" // every delivery failed; an operator resubmits it
	UploadCancelled    = "cancelled"     // the user disconnected (or was erased) before it was written; the row goes with the erasure
)

// Upload is the state of one meeting report.
type Upload struct {
	TenantID, UserID, UploadID string
	Status                     string
	// ContentHash identifies the report's content (report.ContentHash).
	ContentHash string
	// MessageSent: the uploads message was sent (a repeated POST sends it
	// if it was not).
	MessageSent bool
	// Attempts counts the worker's runs.
	Attempts int
	// RetryAttempt is the attempt number of the newest message sent for
	// the upload (0: the intake's); older messages are stale.
	RetryAttempt int
	// BatchDone: the report's $batch succeeded; DocumentsDone lists the
	// documents (by index) written through the chunked upload since.
	BatchDone     bool
	DocumentsDone []int
	// Records is the JSON of the Dynamics records written.
	Records string
	// Conflicts is the JSON of the rows found changed in Dynamics since
	// the app's copy (uploader.Conflict), "" for none.
	Conflicts string
	// The last error: Dataverse's code (or the connector's), its message,
	// Dataverse's HTTP status, and the report's item it concerns.
	ErrorCode, ErrorMessage, ErrorItem string
	ErrorStatus                        int
	CreatedAt, UpdatedAt               time.Time
	CompletedAt, NextAttemptAt         time.Time
	// ETag is the version read; Update refuses to overwrite a newer one.
	ETag azcore.ETag
}

// Uploads is the uploads table.
type Uploads struct{ table *aztables.Client }

// NewUploads returns the uploads table of db.
func NewUploads(db *DB) *Uploads { return &Uploads{table: db.Table(UploadsTable)} }

// UploadPartition is the PartitionKey of a user's uploads.
func UploadPartition(tenant, user string) string { return tenant + "_" + user }

// Get returns the upload id of user in tenant, or an error wrapping ErrNotFound.
func (u *Uploads) Get(ctx context.Context, tenant, user, id string) (Upload, error) {
	resp, err := u.table.GetEntity(ctx, UploadPartition(tenant, user), id, nil)
	if err != nil {
		return Upload{}, mapErr(err, "get upload "+id)
	}
	up, err := decodeUpload(resp.Value)
	if err != nil {
		return Upload{}, mapErr(err, "decode upload "+id)
	}
	return up, nil
}

// Insert adds a new upload; it fails with ErrConflict if the user already
// has one with that id. It returns the new ETag.
func (u *Uploads) Insert(ctx context.Context, up Upload) (azcore.ETag, error) {
	resp, err := u.table.AddEntity(ctx, encodeUpload(up), nil)
	if err != nil {
		return "", mapErr(err, "insert upload "+up.UploadID)
	}
	return resp.ETag, nil
}

// Update replaces the upload if it is still at up.ETag (ErrConflict
// otherwise) and returns the new ETag.
func (u *Uploads) Update(ctx context.Context, up Upload) (azcore.ETag, error) {
	etag := up.ETag
	resp, err := u.table.UpdateEntity(ctx, encodeUpload(up), &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		return "", mapErr(err, "update upload "+up.UploadID)
	}
	return resp.ETag, nil
}

// Delete removes the upload's row; a row that is gone is not an error.
func (u *Uploads) Delete(ctx context.Context, tenant, user, id string) error {
	_, err := u.table.DeleteEntity(ctx, UploadPartition(tenant, user), id, nil)
	if err = mapErr(err, "delete upload "+id); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// ListByStatus returns the uploads of user in tenant that have status.
func (u *Uploads) ListByStatus(ctx context.Context, tenant, user, status string) ([]Upload, error) {
	filter := "PartitionKey eq " + quote(UploadPartition(tenant, user)) + " and Status eq " + quote(status)
	pager := u.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []Upload
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err, "list "+status+" uploads")
		}
		for _, raw := range page.Entities {
			up, err := decodeUpload(raw)
			if err != nil {
				return nil, mapErr(err, "decode upload")
			}
			out = append(out, up)
		}
	}
	return out, nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func encodeUpload(up Upload) []byte {
	p := map[string]any{
		"TenantID": up.TenantID, "UserID": up.UserID, "Status": up.Status, "ContentHash": up.ContentHash,
		"MessageSent": up.MessageSent, "Attempts": int32(up.Attempts), "RetryAttempt": int32(up.RetryAttempt),
		"BatchDone": up.BatchDone, "DocumentsDone": joinInts(up.DocumentsDone), "Records": up.Records,
		"Conflicts": up.Conflicts, "ErrorCode": up.ErrorCode, "ErrorMessage": up.ErrorMessage, "ErrorItem": up.ErrorItem, "ErrorStatus": int32(up.ErrorStatus),
	}
	edmTime(p, "CreatedAt", up.CreatedAt)
	edmTime(p, "UpdatedAt", up.UpdatedAt)
	edmTime(p, "CompletedAt", up.CompletedAt)
	edmTime(p, "NextAttemptAt", up.NextAttemptAt)
	return encode(UploadPartition(up.TenantID, up.UserID), up.UploadID, p)
}

func decodeUpload(raw []byte) (Upload, error) {
	e, err := decode(raw)
	if err != nil {
		return Upload{}, err
	}
	p := props(e.Properties)
	return Upload{
		TenantID: p.str("TenantID"), UserID: p.str("UserID"), UploadID: e.RowKey, Status: p.str("Status"),
		ContentHash: p.str("ContentHash"), MessageSent: p.boolean("MessageSent"), Attempts: p.integer("Attempts"),
		RetryAttempt: p.integer("RetryAttempt"), BatchDone: p.boolean("BatchDone"), DocumentsDone: splitInts(p.str("DocumentsDone")),
		Records: p.str("Records"), Conflicts: p.str("Conflicts"), ErrorCode: p.str("ErrorCode"), ErrorMessage: p.str("ErrorMessage"), ErrorItem: p.str("ErrorItem"),
		ErrorStatus: p.integer("ErrorStatus"), CreatedAt: p.time("CreatedAt"), UpdatedAt: p.time("UpdatedAt"),
		CompletedAt: p.time("CompletedAt"), NextAttemptAt: p.time("NextAttemptAt"), ETag: azcore.ETag(e.ETag),
	}, nil
}

func (p props) boolean(k string) bool {
	b, _ := p[k].(bool)
	return b
}

func (p props) integer(k string) int {
	n, _ := p[k].(int32)
	return int(n)
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func splitInts(s string) []int {
	if s == "" {
		return nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(part); err == nil {
			out = append(out, n)
		}
	}
	return out
}

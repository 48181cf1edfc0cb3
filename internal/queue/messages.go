package queue

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/report"
)

// SchemaVersion is the version of the message schemas this build writes and
// reads. A message of another version is refused with an error saying so;
// a newer schema gets a new version and a decoder for both during rollout.
const SchemaVersion = 1

// ContentType is the content type of every message the connector sends.
const ContentType = "application/json"

// Message is a message the connector sends: a SyncJob, an Upload or a Lifecycle.
type Message interface {
	// MessageID is the Service Bus MessageId: derived from the work, so two
	// sends of the same work within the queue's duplicate detection window
	// deliver it once.
	MessageID() string
	// Validate returns an apperr Invalid error listing every problem, or nil.
	Validate() error
	schema() string
}

// SyncReason says why a sync job was queued.
type SyncReason string

// The reasons for a sync job.
const (
	ReasonInitial   SyncReason = "initial"   // the first sync after a user signed in
	ReasonScheduled SyncReason = "scheduled" // the SyncScheduler's periodic run
	ReasonManual    SyncReason = "manual"    // an operator or the user asked for it
	ReasonRetry     SyncReason = "retry"     // a delayed retry of an earlier job
	// ReasonContinuation continues a job that stopped at its time budget in
	// the middle of a full read, from the read's checkpoint.
	ReasonContinuation SyncReason = "continuation"
)

// SyncJob asks for one incremental sync of one user of one tenant. It is the
// body of a sync-jobs message.
type SyncJob struct {
	Version  int        `json:"v"`
	TenantID string     `json:"tenantId"` // Entra tenant id (GUID)
	UserID   string     `json:"userId"`   // the user's Entra object id (GUID)
	Reason   SyncReason `json:"reason"`
	// Slot is the time the job stands for (UTC, whole seconds): the
	// scheduler's occurrence, when the connection was made (a first
	// sync), or a retry's due time.
	// Jobs for the same user and slot are one job.
	Slot time.Time `json:"slot"`
	// Attempt counts retries: 0 for a first try.
	Attempt int `json:"attempt,omitempty"`
	// Part numbers the continuations of a job: 0 for the job itself, n for
	// its n-th continuation (ReasonContinuation), which keeps the job's slot.
	Part int `json:"part,omitempty"`
}

// NewSyncJob returns a job for user of tenant, with ids in canonical form
// and slot truncated to the second.
func NewSyncJob(tenantID, userID string, reason SyncReason, slot time.Time) SyncJob {
	return SyncJob{Version: SchemaVersion, TenantID: canonicalID(tenantID), UserID: canonicalID(userID), Reason: reason, Slot: slot.UTC().Truncate(time.Second)}
}

// InitialSync is the first sync of a user's connection made at
// connectedAt. Sign-ins that keep the connection (it stays active, so
// connectedAt stays) queue one job; a new connection, after the user
// disconnected or Entra ended the old one, gets a job of its own even
// within the queue's duplicate detection window.
func InitialSync(tenantID, userID string, connectedAt time.Time) SyncJob {
	return NewSyncJob(tenantID, userID, ReasonInitial, connectedAt)
}

// Retry returns the job to send again at at (with Sender.ScheduleAt): its
// own slot and a higher attempt, so duplicate detection does not drop it.
func (j SyncJob) Retry(at time.Time) SyncJob {
	r := NewSyncJob(j.TenantID, j.UserID, ReasonRetry, at)
	r.Attempt = j.Attempt + 1
	return r
}

// Continue returns the job that goes on where j stopped at its time
// budget: the same slot, the next part. Its MessageId is derived from j's,
// so a redelivered j that stops again sends the same continuation, and
// Service Bus keeps one.
func (j SyncJob) Continue() SyncJob {
	c := NewSyncJob(j.TenantID, j.UserID, ReasonContinuation, j.Slot)
	c.Part = j.Part + 1
	return c
}

// MessageID is "sync:<tenant>:<user hash>:<slot>", e.g.
// sync:4a6f...:9c1e0d...:20261128T140500Z, with ":part:<n>" appended for a
// continuation and ":initial" for a first sync (whose slot, the time the
// connection was made, may fall on a scheduled or manual job's), where the user hash is the first 32 hex digits of
// SHA-256("<tenant>|<user>"). MessageIds reach the Functions host's logs
// (Trigger Details), which must not name users by their object id.
func (j SyncJob) MessageID() string {
	sum := sha256.Sum256([]byte(canonicalID(j.TenantID) + "|" + canonicalID(j.UserID)))
	id := "sync:" + canonicalID(j.TenantID) + ":" + hex.EncodeToString(sum[:16]) + ":" + j.Slot.UTC().Format("20060102T150405Z")
	if j.Reason == ReasonInitial {
		id += ":initial"
	}
	if j.Part == 0 {
		return id
	}
	return id + ":part:" + strconv.Itoa(j.Part)
}

func (SyncJob) schema() string { return "sync-jobs" }

// Validate checks every field of j.
func (j SyncJob) Validate() error {
	var p problems
	p.version(j.Version)
	p.guid("tenantId", j.TenantID, "the Entra tenant id")
	p.guid("userId", j.UserID, "the user's Entra object id")
	switch j.Reason {
	case ReasonInitial, ReasonScheduled, ReasonManual, ReasonRetry:
		if j.Part != 0 {
			p.add("part", "must be 0 (absent) unless the reason is continuation")
		}
	case ReasonContinuation:
		if j.Part < 1 {
			p.add("part", "must be 1 or more for a continuation")
		}
	case "":
		p.add("reason", "missing; use initial, scheduled, manual, retry or continuation")
	default:
		p.add("reason", fmt.Sprintf("%q is not initial, scheduled, manual, retry or continuation", j.Reason))
	}
	switch {
	case j.Slot.IsZero():
		p.add("slot", "missing; set the time the job stands for")
	case !j.Slot.Equal(j.Slot.Truncate(time.Second)):
		p.add("slot", "must be whole seconds")
	}
	p.attempt(j.Attempt)
	return p.err("sync-jobs message")
}

// Upload asks for one meeting report to be written into Dynamics. It is the
// body of an uploads message; the report itself is in Table and Blob Storage.
type Upload struct {
	Version  int    `json:"v"`
	TenantID string `json:"tenantId"` // Entra tenant id (GUID)
	UserID   string `json:"userId"`   // the uploading user's Entra object id (GUID)
	UploadID string `json:"uploadId"` // the client-generated upload id
	// Attempt counts delayed retries: 0 for the message UploadIntake sends.
	Attempt int `json:"attempt,omitempty"`
}

// NewUpload returns the message for an accepted upload.
func NewUpload(tenantID, userID, uploadID string) Upload {
	return Upload{Version: SchemaVersion, TenantID: canonicalID(tenantID), UserID: canonicalID(userID), UploadID: uploadID}
}

// Retry returns the message to send again later (with Sender.ScheduleAt),
// with a higher attempt and so its own MessageId.
func (u Upload) Retry() Upload {
	u.Attempt++
	return u
}

// MessageID is "upload:<hex sha256 of tenant|user|upload id>" for the
// first message, with ":retry:<attempt>" appended for a retry. Upload ids
// are chosen by the client and unique only per user, while duplicate
// detection spans the whole queue: the tenant and user in the hash keep one
// user's upload from suppressing another's with the same id (the hash keeps
// the MessageId within Service Bus' 128 characters). A retry sent within
// the duplicate detection window must not be dropped as a copy of the first,
// so it has its own id.
func (u Upload) MessageID() string {
	sum := sha256.Sum256([]byte(canonicalID(u.TenantID) + "|" + canonicalID(u.UserID) + "|" + u.UploadID))
	id := "upload:" + hex.EncodeToString(sum[:])
	if u.Attempt == 0 {
		return id
	}
	return fmt.Sprintf("%s:retry:%d", id, u.Attempt)
}

func (Upload) schema() string { return "uploads" }

// Validate checks every field of u.
func (u Upload) Validate() error {
	var p problems
	p.version(u.Version)
	p.guid("tenantId", u.TenantID, "the Entra tenant id")
	p.guid("userId", u.UserID, "the user's Entra object id")
	switch {
	case u.UploadID == "":
		p.add("uploadId", "missing; set the client-generated upload id")
	case !report.ValidUploadID(u.UploadID):
		p.add("uploadId", "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	p.attempt(u.Attempt)
	return p.err("uploads message")
}

// Lifecycle operations.
const (
	// OpEraseUser goes on with a user's erasure (a disconnect that did not
	// finish within its request, or an erasure waiting for a sync or an
	// upload to end).
	OpEraseUser = "erase-user"
	// OpOffboardTenant offboards a tenant: every connection of it erased,
	// then its approval. Operators may send it themselves.
	OpOffboardTenant = "offboard-tenant"
)

// Lifecycle asks for an erasure to be done or continued. It is the body of
// a lifecycle message.
type Lifecycle struct {
	Version  int    `json:"v"`
	Op       string `json:"op"`
	TenantID string `json:"tenantId"`         // Entra tenant id (GUID)
	UserID   string `json:"userId,omitempty"` // the user's Entra object id (erase-user only)
	// Attempt is 0 for a request; for a continuation, the Unix second it
	// is due (so the continuations of two erasures of one user never share
	// a MessageId, while repeats of one share it).
	Attempt int `json:"attempt,omitempty"`
	// Continuation: only go on with an erasure that began, never start
	// one (a user or tenant whose erasure finished may have connected
	// again since). The connector sets it on the messages it schedules;
	// an operator's message starts the erasure.
	Continuation bool `json:"continuation,omitempty"`
}

// EraseUser is the message that goes on with user's erasure.
func EraseUser(tenantID, userID string) Lifecycle {
	return Lifecycle{Version: SchemaVersion, Op: OpEraseUser, TenantID: canonicalID(tenantID), UserID: canonicalID(userID)}
}

// OffboardTenant is the message that offboards tenant.
func OffboardTenant(tenantID string) Lifecycle {
	return Lifecycle{Version: SchemaVersion, Op: OpOffboardTenant, TenantID: canonicalID(tenantID)}
}

// ContinueAt is the message that continues l at at (send it with
// Sender.ScheduleAt at that time).
func (l Lifecycle) ContinueAt(at time.Time) Lifecycle {
	l.Attempt = int(at.Unix())
	l.Continuation = true
	return l
}

// MessageID is "lifecycle:<op>:<tenant>:<user hash>:<attempt>", the user
// hash as in SyncJob.MessageID ("-" for a tenant).
func (l Lifecycle) MessageID() string {
	who := "-"
	if l.UserID != "" {
		sum := sha256.Sum256([]byte(canonicalID(l.TenantID) + "|" + canonicalID(l.UserID)))
		who = hex.EncodeToString(sum[:16])
	}
	return fmt.Sprintf("lifecycle:%s:%s:%s:%d", l.Op, canonicalID(l.TenantID), who, l.Attempt)
}

func (Lifecycle) schema() string { return "lifecycle" }

// Validate checks every field of l.
func (l Lifecycle) Validate() error {
	var p problems
	p.version(l.Version)
	p.guid("tenantId", l.TenantID, "the Entra tenant id")
	switch l.Op {
	case OpEraseUser:
		p.guid("userId", l.UserID, "the user's Entra object id")
	case OpOffboardTenant:
		if l.UserID != "" {
			p.add("userId", "must be absent for offboard-tenant (it erases every user of the tenant)")
		}
	case "":
		p.add("op", "missing; use erase-user or offboard-tenant")
	default:
		p.add("op", fmt.Sprintf("%q is not erase-user or offboard-tenant", l.Op))
	}
	p.attempt(l.Attempt)
	return p.err("lifecycle message")
}

// DecodeLifecycle decodes a lifecycle message body, strictly like DecodeSyncJob.
func DecodeLifecycle(body []byte) (Lifecycle, error) {
	var l Lifecycle
	if err := decodeStrict(body, "lifecycle", &l); err != nil {
		return Lifecycle{}, err
	}
	l.TenantID, l.UserID = canonicalID(l.TenantID), canonicalID(l.UserID) // keys are lower case
	return l, l.Validate()
}

// DecodeSyncJob decodes a sync-jobs message body strictly: the version must
// be SchemaVersion, unknown fields are refused, and every field is
// validated. The error is an apperr Invalid error naming each problem.
func DecodeSyncJob(body []byte) (SyncJob, error) {
	var j SyncJob
	if err := decodeStrict(body, "sync-jobs", &j); err != nil {
		return SyncJob{}, err
	}
	return j, j.Validate()
}

// DecodeUpload decodes an uploads message body, strictly like DecodeSyncJob.
func DecodeUpload(body []byte) (Upload, error) {
	var u Upload
	if err := decodeStrict(body, "uploads", &u); err != nil {
		return Upload{}, err
	}
	return u, u.Validate()
}

// decodeStrict checks the version first, so that a message of a newer
// schema is reported as such rather than as unknown fields.
func decodeStrict(body []byte, schema string, dst any) error {
	const known = "the fields are v, tenantId, userId and the message's own"
	what := schema + " message"
	var probe struct {
		V *json.RawMessage `json:"v"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return apperr.E(apperr.Invalid, "%s is not a JSON object: %s", what, apperr.DescribeJSON(err, known))
	}
	if probe.V == nil {
		return apperr.InvalidProblems(what+" is not valid", []apperr.Problem{{Field: "v", Message: fmt.Sprintf("missing; this handler reads version %d", SchemaVersion)}})
	}
	var v int
	if err := json.Unmarshal(*probe.V, &v); err != nil || v != SchemaVersion {
		return apperr.InvalidProblems(what+" is not valid", []apperr.Problem{{Field: "v", Message: fmt.Sprintf("version %s is not supported; this handler reads version %d (deploy the handler that matches the sender)", string(*probe.V), SchemaVersion)}})
	}
	if p := apperr.DecodeStrict(body, dst, known); p != "" {
		return apperr.E(apperr.Invalid, "%s is not valid: %s", what, p)
	}
	return nil
}

// problems collects validation problems.
type problems struct{ apperr.Problems }

func (p *problems) add(field, msg string) { p.Add(field, "%s", msg) }

func (p *problems) version(v int) {
	if v != SchemaVersion {
		p.add("v", fmt.Sprintf("is %d; this build writes version %d", v, SchemaVersion))
	}
}

func (p *problems) guid(field, v, what string) {
	if v == "" {
		p.add(field, "missing; set "+what)
		return
	}
	if _, err := uuid.Parse(v); err != nil || len(v) != 36 {
		p.add(field, fmt.Sprintf("%q is not a GUID (%s)", v, what))
	}
}

func (p *problems) attempt(n int) {
	if n < 0 {
		p.add("attempt", "must not be negative")
	}
}

func (p problems) err(what string) error {
	return p.Err(what + " is not valid")
}

// canonicalID lowercases a GUID so that the same id always yields the same
// MessageId; anything else is returned unchanged for Validate to report.
func canonicalID(id string) string {
	if u, err := uuid.Parse(id); err == nil && len(id) == 36 {
		return u.String()
	}
	return id
}

// Package uploader moves meeting reports from the Pitcher app into
// Dynamics 365, exactly once: Accept (UploadIntake) validates a report,
// stores it and its documents in Blob Storage, records it in the uploads
// table and queues it; Process (UploadWorker) writes it with one $batch
// change set of upserts under deterministic ids; Status (UploadStatus)
// shows where it is; ResumeParked re-queues what waited for a sign-in.
package uploader

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/internal/uploadconfig"
)

// Rows is the uploads table.
type Rows interface {
	Get(ctx context.Context, tenant, user, id string) (store.Upload, error)
	Insert(ctx context.Context, up store.Upload) (azcore.ETag, error)
	Update(ctx context.Context, up store.Upload) (azcore.ETag, error)
	Delete(ctx context.Context, tenant, user, id string) error
	ListByStatus(ctx context.Context, tenant, user, status string) ([]store.Upload, error)
}

// Blobs keeps reports and documents until they are in Dynamics.
type Blobs interface {
	Put(ctx context.Context, name string, data []byte) error
	// PutFrom stores body (from its start) with its SHA-256, streamed.
	PutFrom(ctx context.Context, name string, body io.ReadSeeker, sha256 string) error
	Get(ctx context.Context, name string) ([]byte, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Delete(ctx context.Context, names ...string) error
}

// Queue sends upload messages.
type Queue interface {
	Send(ctx context.Context, msgs ...queue.Upload) error
	ScheduleAt(ctx context.Context, at time.Time, msgs ...queue.Upload) ([]int64, error)
}

// Connections reads users' connections (their Dynamics environment and status).
type Connections interface {
	Get(ctx context.Context, tenant, user string) (store.Connection, error)
}

var (
	_ Rows        = (*store.Uploads)(nil)
	_ Blobs       = (*documents.Store)(nil)
	_ Queue       = (*queue.Sender[queue.Upload])(nil)
	_ Connections = (*store.Connections)(nil)
)

// Versions finds the version of a row the app's edit was based on (the
// user's mirror and change log), to tell which fields changed in Dynamics
// since: mirror.Store.
type Versions interface {
	Version(ctx context.Context, tenant, user, set, id, etag string) (json.RawMessage, bool, error)
}

// Config are the pipeline's settings.
type Config struct {
	// Allow says which entity sets and fields reports may write.
	Allow uploadconfig.Config
	// MaxBodyBytes bounds a report's JSON; MaxDocuments its documents.
	MaxBodyBytes int64
	MaxDocuments int
	// InlineDocumentBytes: documents travel inside the $batch while their
	// total stays within it; the others use the chunked upload.
	InlineDocumentBytes int64
	// MaxDeliveryCount is the uploads queue's maxDeliveryCount.
	MaxDeliveryCount int
	// Dataverse configures the Dataverse clients; nil means the worker's
	// policy: DefaultRetry, except that only a Retry-After of at most
	// InlineRetryAfter is waited out inside an invocation; a longer one
	// schedules the retry on the queue and completes the message.
	Dataverse *dataverse.Options
}

// Deps are the service's collaborators.
type Deps struct {
	Rows        Rows
	Blobs       Blobs
	Queue       Queue
	Connections Connections
	Tokens      tokens.Issuer
	// Versions may be nil: then no base version is known, and every field
	// of a changed row counts as changed on both sides.
	Versions Versions
	Logger   *slog.Logger
}

// Service runs the pipeline. It is safe for concurrent use.
type Service struct {
	cfg Config
	Deps
	now func() time.Time

	limits *dataverse.SettingsCache
	gate   gate
}

// InlineRetryAfter is the longest Retry-After the worker waits out itself.
// Near the turn of the throttling window Dataverse asks for a second or
// two: waiting then (as Microsoft advises non-interactive clients) costs
// nothing, while a scheduled retry would cost a whole new invocation, and
// many of them at once would meet the limit again together.
const InlineRetryAfter = 5 * time.Second

// Owner is the user an upload belongs to: every read and write of uploads
// is keyed by both ids. OrgURL is their Dynamics environment.
type Owner struct {
	TenantID, UserID, OrgURL string
}

// New returns the service.
func New(cfg Config, d Deps) *Service {
	if cfg.Dataverse == nil {
		retry := dataverse.DefaultRetry
		retry.MaxRetryAfter = InlineRetryAfter
		cfg.Dataverse = &dataverse.Options{Retry: retry}
	}
	s := &Service{cfg: cfg, Deps: d, now: time.Now, gate: gate{until: map[string]time.Time{}}}
	s.limits = dataverse.NewSettingsCache(time.Hour, func() time.Time { return s.now() })
	return s
}

// client returns a Dataverse client for o's environment with o's tokens.
func (s *Service) client(o Owner, opts *dataverse.Options) (*dataverse.Client, error) {
	return dataverse.New(o.OrgURL, tokens.Source{Issuer: s.Tokens, TenantID: o.TenantID, UserID: o.UserID, Resource: o.OrgURL}, opts)
}

// reportBlob and documentBlob name an upload's blobs. The report's name
// holds its content hash and a document's its SHA-256, so two different
// reports sent at once under one id never overwrite each other's blobs.
func reportBlob(tenant, user, id, hash string) string {
	return tenant + "/" + user + "/" + id + "/report-" + hash + ".json"
}

func documentBlob(tenant, user, id, sha string) string {
	return tenant + "/" + user + "/" + id + "/document-" + sha
}

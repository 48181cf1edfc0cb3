package handlers

import (
	"context"
	"io"
	"net/url"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/signin"
	"github.com/pitcher/connector/internal/uploader"
)

// SignIn runs the consent and sign-in flows (internal/signin).
type SignIn interface {
	StartConsent(ctx context.Context, tenant string) (string, error)
	FinishConsent(ctx context.Context, q url.Values) (signin.ConsentResult, error)
	StartLogin(ctx context.Context, r signin.LoginRequest) (string, error)
	FinishLogin(ctx context.Context, q url.Values) (signin.LoginResult, error)
	// BindBrowser and BrowserBound tie a flow's state to the browser that started it.
	BindBrowser(state string) string
	BrowserBound(state, value string) bool
}

// Authenticator checks the Authorization header of API calls (internal/apiauth).
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (apiauth.Caller, error)
}

// Uploads runs the upload pipeline (internal/uploader).
type Uploads interface {
	Accept(ctx context.Context, o uploader.Owner, contentType string, body io.Reader) (uploader.Status, bool, error)
	Status(ctx context.Context, o uploader.Owner, id string) (uploader.Status, error)
	Process(ctx context.Context, m queue.Upload, delivery int) (string, error)
}

var (
	_ SignIn        = (*signin.Service)(nil)
	_ Authenticator = (*apiauth.Authenticator)(nil)
	_ Uploads       = (*uploader.Service)(nil)
)

// Deps are the engines the functions use. A nil member leaves its
// functions answering 501, naming themselves.
type Deps struct {
	SignIn SignIn
	Auth   Authenticator
	// Uploads serves UploadIntake, UploadStatus and UploadWorker.
	Uploads Uploads
	// PublicBaseURL is where browsers reach the app (links on pages).
	PublicBaseURL string
	// Scheduler, SyncWorker and Changes run the downstream sync and serve
	// its change log.
	Scheduler  Scheduling
	SyncWorker SyncRunner
	Changes    ChangeLog
	// Documents serves the files of the notes the sync copied.
	Documents Documents
	// Diagnostics serves GET /api/diagnostics; DiagnosticsKey (may be
	// empty: then only one's own) opens every organisation's.
	Diagnostics    Diagnostics
	DiagnosticsKey string
	// Lifecycle serves Connection, LifecycleWorker and Retention.
	Lifecycle *LifecycleDeps
}

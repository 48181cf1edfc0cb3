// Package signin runs the two browser flows of the connector: an
// administrator's one-time approval of the app for their organisation
// (admin consent), and a user's sign-in, which ends with a stored
// connection to their Dynamics environment and a queued first sync.
// It decides; package handlers turns its results into pages.
package signin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
)

// EntraClient is what the flows need of Entra's endpoints.
type EntraClient interface {
	AuthCodeURL(r entra.AuthRequest) string
	AdminConsentURL(tenant, scope, redirectURI, state string) string
	Exchange(ctx context.Context, tenant, redirectURI, code, verifier string, scopes []string) (entra.Token, error)
	ClientCredentials(ctx context.Context, tenant, scope string) (entra.Token, error)
	TenantID(ctx context.Context, domain string) (string, error)
}

// IDVerifier validates ID tokens.
type IDVerifier interface {
	VerifyIDToken(ctx context.Context, raw, nonce string) (entra.IDClaims, error)
}

// FlowStore keeps pending flows, each usable once.
type FlowStore interface {
	Create(ctx context.Context, state string, f store.AuthFlow) error
	Take(ctx context.Context, state string, now time.Time) (store.AuthFlow, error)
	// Sweep deletes up to max flows that expired before now unused.
	Sweep(ctx context.Context, now time.Time, max int) (int, error)
}

// TenantStore records approvals.
type TenantStore interface {
	Get(ctx context.Context, id string) (store.Tenant, error)
	RecordConsent(ctx context.Context, id, scopes string, at time.Time) error
	RecordConsentedBy(ctx context.Context, id, name, oid string) error
	// RecordRefusal notes a refusal on a tenant's row only if the row
	// exists without an approval, and reports whether it did.
	RecordRefusal(ctx context.Context, id, code, description string, at time.Time) (bool, error)
}

// ConnectionStore stores connections.
type ConnectionStore interface {
	Get(ctx context.Context, tenant, user string) (store.Connection, error)
	Put(ctx context.Context, c store.Connection) (azcore.ETag, error)
	Update(ctx context.Context, c store.Connection) (azcore.ETag, error)
	UpdateRefreshToken(ctx context.Context, tenant, user string, sealed []byte, keyID string, etag azcore.ETag) (azcore.ETag, error)
}

// Vault seals refresh tokens and hands out access tokens.
type Vault interface {
	SealRefreshToken(tenant, user, rt string) ([]byte, string)
	Remember(tenant, user, resource string, t tokens.AccessToken)
	TokenFor(ctx context.Context, tenant, user, resource string) (tokens.AccessToken, error)
}

// FirstSyncQueue queues a user's first sync. The Service Bus issue
// provides the implementation.
type FirstSyncQueue interface {
	EnqueueFirstSync(ctx context.Context, tenantID, userID string, connectedAt time.Time) error
}

var (
	_ EntraClient     = (*entra.Client)(nil)
	_ IDVerifier      = (*entra.Verifier)(nil)
	_ FlowStore       = (*store.AuthFlows)(nil)
	_ TenantStore     = (*store.Tenants)(nil)
	_ ConnectionStore = (*store.Connections)(nil)
	_ Vault           = (*tokens.Vault)(nil)
)

// Config holds the flows' settings.
type Config struct {
	// ConsentRedirectURI and LoginRedirectURI are this app's registered
	// redirect URIs (…/api/consent/callback, …/api/auth/callback).
	ConsentRedirectURI string
	LoginRedirectURI   string
	// DiscoveryURL is the Global Discovery service (https://globaldisco.crm.dynamics.com).
	DiscoveryURL string
	// ReturnTo lists where a sign-in may send the browser afterwards.
	ReturnTo *ReturnToPolicy
}

// flowTTL bounds how long a started flow may take.
const flowTTL = 10 * time.Minute

// sweepBatch is how many expired flows each start deletes at most: more
// than one, so abandoned flows never outnumber the starts that sweep them.
const sweepBatch = 20

// ParkedWork resumes what waited for a user to sign in again: their
// parked uploads.
type ParkedWork interface {
	ResumeParked(ctx context.Context, tenantID, userID string) error
}

// Deps are the service's collaborators. Queue may be nil: the first sync
// then waits for the scheduler, which picks up every connection due.
// Parked may be nil when nothing parks.
type Deps struct {
	Entra    EntraClient
	IDs      IDVerifier
	Flows    FlowStore
	Tenants  TenantStore
	Conns    ConnectionStore
	Vault    Vault
	Keys     *tokens.KeyRing
	Dynamics Dynamics
	Queue    FirstSyncQueue
	Parked   ParkedWork
	Logger   *slog.Logger
}

// Service runs the flows. It is safe for concurrent use.
type Service struct {
	cfg Config
	Deps
	now func() time.Time
}

// New returns the service.
func New(cfg Config, d Deps) *Service {
	return &Service{cfg: cfg, Deps: d, now: time.Now}
}

// ConsentScope is what an administrator approves: everything the app
// registration lists (/.default), named through the Dynamics resource.
func (s *Service) ConsentScope() string { return s.cfg.DiscoveryURL + "/.default" }

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

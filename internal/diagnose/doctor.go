package diagnose

import (
	"context"
	"net/http"
	"time"

	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/tokens"
)

// Entra is what the checks need of the Entra client.
type Entra interface {
	Metadata(ctx context.Context, tenant string) (entra.Metadata, error)
	ClientCredentials(ctx context.Context, tenant, scope string) (entra.Token, error)
}

// Tenants reads approvals.
type Tenants interface {
	Get(ctx context.Context, id string) (store.Tenant, error)
}

// Connections reads connections.
type Connections interface {
	Get(ctx context.Context, tenant, user string) (store.Connection, error)
	// List returns the connections of tenant.
	List(ctx context.Context, tenant string) ([]store.Connection, error)
}

// SyncStates reads a user's sync state.
type SyncStates interface {
	Sets(ctx context.Context, tenant, user string) (map[string]store.SetState, error)
}

// Uploads lists a user's uploads by status.
type Uploads interface {
	ListByStatus(ctx context.Context, tenant, user, status string) ([]store.Upload, error)
}

// Storage probes tables and blob containers without changing them.
type Storage interface {
	// ProbeTable reads at most one row of table (its name without the
	// deployment's prefix).
	ProbeTable(ctx context.Context, table string) error
	// ProbeContainer reads the properties of container.
	ProbeContainer(ctx context.Context, container string) error
	// Where names the storage account, for messages.
	Where() string
}

// Queues probes Service Bus queues without receiving or settling anything.
type Queues interface {
	// Peek peeks at one message of queue (none is fine).
	Peek(ctx context.Context, queue string) error
	// DeadLetters counts the dead-lettered messages of queue, up to max.
	DeadLetters(ctx context.Context, queue string, max int) (int, error)
	// Where names the namespace, for messages.
	Where() string
}

var (
	_ Entra       = (*entra.Client)(nil)
	_ Tenants     = (*store.Tenants)(nil)
	_ Connections = (*store.Connections)(nil)
	_ SyncStates  = (*store.SyncStates)(nil)
	_ Uploads     = (*store.Uploads)(nil)
)

// Queue is one Service Bus queue the app uses.
type Queue struct {
	// Role is the queue's job ("sync" or "uploads"), part of check ids;
	// Name its name, Setting the app setting that names it.
	Role, Name, Setting string
}

// Container is one blob container the app uses.
type Container struct {
	Name string
	// CreatedOnDemand: the app creates it when it first needs it, so its
	// absence is no fault.
	CreatedOnDemand bool
}

// Doctor runs the checks. Every field is required unless said otherwise.
type Doctor struct {
	// ConfigProblems are the problems of the settings (none: they are
	// valid); Settings is how many the app read.
	ConfigProblems []string

	Entra       Entra
	Tenants     Tenants
	Connections Connections
	Tokens      tokens.Issuer
	SyncStates  SyncStates
	Uploads     Uploads
	Storage     Storage
	Queues      Queues

	// ConsentScope is what an administrator approves (the Dynamics
	// resource's /.default); the credential check asks for it.
	ConsentScope string
	// PublicBaseURL is the app's public URL, for the fixes that name a page.
	PublicBaseURL string
	// Sets are the synced entity sets (SYNC_CONFIG).
	Sets []syncconfig.EntitySet
	// RetentionInactive is how long a connection that waits for a sign-in
	// is kept before the retention run erases it (0: not said).
	RetentionInactive time.Duration
	// SyncInterval is how often a user is synced; a set whose last success
	// is older than StaleAfter times it fails the last-sync check.
	SyncInterval time.Duration
	// Tables and Containers are what Storage must hold; QueueList the
	// Service Bus queues.
	Tables     []string
	Containers []Container
	QueueList  []Queue
	// DataverseHTTP sends the Dataverse requests; nil: a default client.
	DataverseHTTP *http.Client
	// Resolve looks a host name up; nil: the system resolver.
	Resolve func(ctx context.Context, host string) ([]string, error)
	// Timeout bounds each check (default 10 s), so a dead link fails fast.
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	// redeems remembers, per user, the diagnostics' last redeem of their
	// refresh token (refresh.go).
	redeems redeemGate
}

// OwnReportTTL is how long GET /api/diagnostics answers a user's own
// report (device token) again instead of running the checks (Shared).
const OwnReportTTL = time.Minute

// OwnRefreshEvery is how often at most the checks of a user's own report
// redeem their refresh token; in between they use the access token the
// vault holds and report the last redeem's result with its age. Per
// Doctor, so per handler instance.
const OwnRefreshEvery = 5 * time.Minute

// StaleAfter is how many sync intervals may pass before a set's last
// successful sync counts as overdue.
const StaleAfter = 3

// maxDeadLetters bounds the dead-lettered messages counted per queue.
const maxDeadLetters = 1000

// Run runs every check for target, in a fixed order: configuration; Entra
// metadata; the app's credential; the tenant's approval; the user's refresh
// token (or, for an organisation, its connections); the Dynamics URL; WhoAmI; read privilege and change tracking per
// synced entity set; Storage; Service Bus; the last sync per set; uploads.
// Checks of a user are skipped when target names none, those of a tenant
// when it names no tenant. The refresh-token check always redeems the
// user's refresh token. This is the full view, for the operator.
func (d *Doctor) Run(ctx context.Context, target Target) Report {
	return d.run(ctx, target, false)
}

// RunOwn runs the checks of a user's own report, for the user themselves
// (target names them): the same checks as Run but the app's credential and
// the dead letters, with the configuration, Entra metadata, Storage and
// Service Bus checks folded into one verdict (IDInfrastructure) that names
// nothing, the approval without who gave it, and every detail cleared of
// the infrastructure's addresses. Their refresh token is redeemed at most
// once per OwnRefreshEvery (by this Doctor).
func (d *Doctor) RunOwn(ctx context.Context, target Target) Report {
	return d.run(ctx, target, true)
}

func (d *Doctor) run(ctx context.Context, target Target, own bool) Report {
	r := &run{ctx: ctx, timeout: d.Timeout, blocked: map[string]string{}, own: own, infra: map[string]bool{}}
	if r.timeout <= 0 {
		r.timeout = 10 * time.Second
	}
	r.report = Report{Target: target, OK: true, At: d.now().UTC()}
	d.configCheck(r)
	u := &userRun{d: d, r: r, target: target}
	d.entraChecks(r, target)
	d.tenantConnections(r, target)
	u.connectionChecks()
	u.dataverseChecks()
	d.storageChecks(r)
	d.queueChecks(r)
	u.syncChecks()
	u.uploadChecks()
	if own {
		return d.ownView(r, u.conn.OrgURL)
	}
	return r.report
}

func (d *Doctor) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// ConfigReport is the report of a deployment whose settings do not load:
// the configuration check fails with every problem, and nothing else can
// run.
func ConfigReport(target Target, problems []string) Report {
	d := &Doctor{ConfigProblems: problems}
	r := &run{ctx: context.Background(), timeout: time.Second, blocked: map[string]string{}, infra: map[string]bool{}}
	r.report = Report{Target: target, OK: true, At: time.Now().UTC()}
	d.configCheck(r)
	r.add(Check{ID: "other", Title: "Everything else", Status: Skip, Detail: "not checked: the configuration did not load"})
	return r.report
}

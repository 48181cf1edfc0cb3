package diagnose

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/tokens"
)

// Hand-written fakes of the links the deployment-level checks use.

type fakeEntra struct{ hang bool }

func (f fakeEntra) Metadata(ctx context.Context, tenant string) (entra.Metadata, error) {
	if f.hang {
		<-ctx.Done()
		return entra.Metadata{}, ctx.Err()
	}
	return entra.Metadata{Issuer: "https://login.example/" + tenant + "/v2.0", Keys: 2}, nil
}

func (fakeEntra) ClientCredentials(context.Context, string, string) (entra.Token, error) {
	return entra.Token{AccessToken: "t"}, nil
}

// fakeStorage fails every probe with err; the container named absent
// does not exist.
type fakeStorage struct {
	err    error
	absent string
}

func (f fakeStorage) ProbeTable(context.Context, string) error { return f.err }
func (f fakeStorage) ProbeContainer(_ context.Context, name string) error {
	if name == f.absent {
		return ErrMissing
	}
	return f.err
}
func (fakeStorage) Where() string { return "fake storage" }

type fakeQueues struct{ dead int }

func (fakeQueues) Peek(context.Context, string) error                      { return nil }
func (f fakeQueues) DeadLetters(context.Context, string, int) (int, error) { return f.dead, nil }
func (fakeQueues) Where() string                                           { return "fake namespace" }

type noConnections struct{}

func (noConnections) Get(context.Context, string, string) (store.Connection, error) {
	return store.Connection{}, store.ErrNotFound
}
func (noConnections) List(context.Context, string) ([]store.Connection, error) { return nil, nil }

type noSyncs struct{}

func (noSyncs) Sets(context.Context, string, string) (map[string]store.SetState, error) {
	return map[string]store.SetState{}, nil
}

type noUploads struct{}

func (noUploads) ListByStatus(context.Context, string, string, string) ([]store.Upload, error) {
	return nil, nil
}

type noTenants struct{}

func (noTenants) Get(context.Context, string) (store.Tenant, error) {
	return store.Tenant{}, store.ErrNotFound
}

func fakeDoctor() *Doctor {
	return &Doctor{Entra: fakeEntra{}, Tenants: noTenants{}, Connections: noConnections{}, SyncStates: noSyncs{}, Uploads: noUploads{}, Storage: fakeStorage{absent: "overflow"}, Queues: fakeQueues{},
		PublicBaseURL: "https://app.example", Tables: []string{"tenants", "connections"},
		Containers: []Container{{Name: "documents"}, {Name: "overflow", CreatedOnDemand: true}},
		QueueList:  []Queue{{Role: "sync", Name: "sync-jobs", Setting: "SYNC_QUEUE"}},
		Sets:       []syncconfig.EntitySet{{Name: "accounts"}}, Timeout: time.Second}
}

// TestRunOrderAndSkips: the checks come in the documented order; without a
// tenant or user the checks that need them are skipped (not failed), and
// a failed check's dependants are skipped naming it.
func TestRunOrderAndSkips(t *testing.T) {
	rep := fakeDoctor().Run(context.Background(), Target{})
	var ids []string
	for _, c := range rep.Checks {
		ids = append(ids, c.ID)
	}
	want := []string{IDConfig, IDMetadata, IDCredential, IDTenant, IDRefresh, IDDNS, IDWhoAmI, IDRead("accounts"), IDChangeTracking("accounts"),
		IDStorageTab, IDStorageBlob, IDQueue("sync"), IDDeadLetters("sync"), IDLastSync("accounts"), IDUploads}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("checks ran as\n  %v\nwant\n  %v", ids, want)
	}
	if !rep.OK || len(rep.Failed()) != 0 {
		t.Errorf("deployment-only run with healthy fakes: ok %v, failed %+v", rep.OK, rep.Failed())
	}
	for _, id := range []string{IDCredential, IDTenant, IDRefresh, IDUploads} {
		if c, _ := rep.Check(id); c.Status != Skip || !strings.Contains(c.Detail, "needs a") {
			t.Errorf("%s without a target = %s %q, want skipped saying what it needs", id, c.Status, c.Detail)
		}
	}
	if c, _ := rep.Check(IDWhoAmI); c.Status != Skip || c.Detail != "needs a tenant and a user" {
		t.Errorf("whoami without a target = %s %q, want skipped for the reason its prerequisite was", c.Status, c.Detail)
	}
	if c, _ := rep.Check(IDStorageBlob); !strings.Contains(c.Detail, "overflow (not created yet") {
		t.Errorf("containers = %q, want the on-demand container reported as not created yet, not as a fault", c.Detail)
	}

	d := fakeDoctor()
	d.Tenants = noTenants{}
	rep = d.Run(context.Background(), Target{TenantID: "6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f"})
	c, _ := rep.Check(IDTenant)
	if c.Status != Fail || !strings.Contains(c.Fix, "https://app.example/api/consent/start?tenant=6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f") {
		t.Errorf("unknown tenant = %s, fix %q; want a failure whose fix is the approval link", c.Status, c.Fix)
	}
}

// TestHungLinkFailsAtTheTimeout: a link that never answers fails its check
// when the per-check timeout ends, saying so, and the run goes on.
func TestHungLinkFailsAtTheTimeout(t *testing.T) {
	d := fakeDoctor()
	d.Entra, d.Timeout = fakeEntra{hang: true}, 200*time.Millisecond
	start := time.Now()
	rep := d.Run(context.Background(), Target{})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the run took %s with one hung link and a 200ms timeout", took)
	}
	c, _ := rep.Check(IDMetadata)
	if c.Status != Fail || !strings.Contains(c.Detail, "no answer within 200ms") {
		t.Errorf("hung metadata = %s %q, want a failure saying it got no answer within 200ms", c.Status, c.Detail)
	}
	if s, _ := rep.Check(IDStorageTab); s.Status != Pass {
		t.Errorf("storage after a hung Entra = %s, want the run to go on", s.Status)
	}
}

// TestInfraFailures: missing tables and dead letters fail with their fixes;
// an unreachable store fails naming it.
func TestInfraFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      func(*Doctor)
		id     string
		detail string
		fix    string
	}{
		{"missing tables", func(d *Doctor) { d.Storage = fakeStorage{err: ErrMissing} }, IDStorageTab, "missing table(s): tenants, connections", "restart the Function App"},
		{"missing container", func(d *Doctor) { d.Storage = fakeStorage{err: ErrMissing} }, IDStorageBlob, "documents does not exist", "DOCUMENTS_CONTAINER"},
		{"unreachable storage", func(d *Doctor) { d.Storage = fakeStorage{err: errors.New("dial tcp: connection refused")} }, IDStorageTab, "fake storage did not answer", "AzureWebJobsStorage"},
		{"dead letters", func(d *Doctor) { d.Queues = fakeQueues{dead: 3} }, IDDeadLetters("sync"), "3 dead-lettered message(s) in sync-jobs", "connectorctl dlq list --queue sync-jobs"},
		{"many dead letters", func(d *Doctor) { d.Queues = fakeQueues{dead: maxDeadLetters} }, IDDeadLetters("sync"), "at least 1000", "resubmit"},
	} {
		d := fakeDoctor()
		tc.d(d)
		rep := d.Run(context.Background(), Target{})
		c, _ := rep.Check(tc.id)
		if c.Status != Fail || !strings.Contains(c.Detail, tc.detail) || !strings.Contains(c.Fix, tc.fix) || rep.OK {
			t.Errorf("%s: %s = %s %q / %q (report ok %v); want a failure mentioning %q, fix %q", tc.name, tc.id, c.Status, c.Detail, c.Fix, rep.OK, tc.detail, tc.fix)
		}
	}
}

// TestLastSync: never synced, failing, overdue and fresh sets.
func TestLastSync(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	u := &userRun{d: &Doctor{SyncInterval: 5 * time.Minute, Now: func() time.Time { return now }}, target: Target{TenantID: "t", UserID: "u"}}
	for _, tc := range []struct {
		name string
		st   store.SetState
		want Status
		says string
	}{
		{"never", store.SetState{}, Fail, "never synced"},
		{"never, failing", store.SetState{LastError: "403 prvReadAccount", LastErrorAt: now.Add(-time.Minute)}, Fail, "403 prvReadAccount"},
		{"failing since", store.SetState{LastSuccess: now.Add(-time.Hour), LastError: "boom", LastErrorAt: now.Add(-time.Minute)}, Fail, "failed: boom (last success 1h0m0s ago)"},
		{"overdue", store.SetState{LastSuccess: now.Add(-16 * time.Minute)}, Fail, "16m0s ago; syncs should run every 5m0s"},
		{"fresh after an old error", store.SetState{LastSuccess: now.Add(-2 * time.Minute), LastError: "old", LastErrorAt: now.Add(-time.Hour), Mode: "changetracking"}, Pass, "synced 2m0s ago (changetracking mode"},
	} {
		r := u.lastSync("accounts", tc.st)
		if r.status != tc.want || !strings.Contains(r.detail, tc.says) || (tc.want == Fail && r.fix == "") {
			t.Errorf("%s: %s %q (fix %q), want %s mentioning %q", tc.name, r.status, r.detail, r.fix, tc.want, tc.says)
		}
	}
}

// oneConnection is a tenant with one active connection.
type oneConnection struct{ noConnections }

func (oneConnection) Get(_ context.Context, tenant, user string) (store.Connection, error) {
	return store.Connection{TenantID: tenant, UserID: user, Status: store.StatusActive, OrgURL: "https://org.crm.example"}, nil
}

// hungTokens never finishes a refresh: like the vault (tokens.Issuer), it
// stops waiting when its caller's time is up.
type hungTokens struct{}

func (hungTokens) Forget(string, string, string) {}
func (hungTokens) TokenFor(ctx context.Context, _, _, _ string) (tokens.AccessToken, error) {
	<-ctx.Done()
	return tokens.AccessToken{}, apperr.Wrap(apperr.Transient, ctx.Err(), "Entra ID did not answer the refresh in time")
}

// TestHungRefreshFailsAtTheTimeout: a refresh Entra never answers fails
// the check at the check's timeout, and the Dynamics checks are skipped.
func TestHungRefreshFailsAtTheTimeout(t *testing.T) {
	d := fakeDoctor()
	d.Connections, d.Tokens, d.Timeout = oneConnection{}, hungTokens{}, 200*time.Millisecond
	start := time.Now()
	rep := d.Run(context.Background(), Target{TenantID: "t", UserID: "u"})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the run took %s with a hung refresh and a 200ms timeout", took)
	}
	c, _ := rep.Check(IDRefresh)
	if c.Status != Fail || !strings.Contains(c.Detail, "did not answer the refresh") {
		t.Errorf("hung refresh = %s %q, want a failure saying Entra did not answer", c.Status, c.Detail)
	}
	if w, _ := rep.Check(IDWhoAmI); w.Status != Skip {
		t.Errorf("whoami after a hung refresh = %s, want skipped", w.Status)
	}
}

// okTokens hands out a token at once.
type okTokens struct{}

func (okTokens) Forget(string, string, string) {}
func (okTokens) TokenFor(context.Context, string, string, string) (tokens.AccessToken, error) {
	return tokens.AccessToken{Token: "t", ExpiresAt: time.Now().Add(time.Hour)}, nil
}

// TestDynamicsURLThatDoesNotResolve: a deleted or renamed environment
// fails the DNS check, naming the host, and Dataverse is not tried.
func TestDynamicsURLThatDoesNotResolve(t *testing.T) {
	d := fakeDoctor()
	d.Connections, d.Tokens = oneConnection{}, okTokens{}
	var asked string
	d.Resolve = func(_ context.Context, host string) ([]string, error) {
		asked = host
		return nil, errors.New("lookup " + host + ": no such host")
	}
	rep := d.Run(context.Background(), Target{TenantID: "t", UserID: "u"})
	if asked != "org.crm.example" {
		t.Errorf("resolved %q, want the connection's host org.crm.example", asked)
	}
	c, _ := rep.Check(IDDNS)
	if c.Status != Fail || !strings.Contains(c.Detail, "no such host") || !strings.Contains(c.Fix, "Power Platform admin center") {
		t.Errorf("dns = %s %q / %q, want a failure naming the lookup and where to check the environment", c.Status, c.Detail, c.Fix)
	}
	if w, _ := rep.Check(IDWhoAmI); w.Status != Skip {
		t.Errorf("whoami after a failed lookup = %s, want skipped", w.Status)
	}
	if r, _ := rep.Check(IDRefresh); r.Status != Pass {
		t.Errorf("refresh = %s %q, want pass", r.Status, r.Detail)
	}
}

package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// The diagnostics' world for these tests: one connected user, an approver
// with a name, infrastructure with names that must not reach the user.
const (
	diagTenant      = "11111111-aaaa-4aaa-8aaa-111111111111"
	diagUser        = "22222222-bbbb-4bbb-8bbb-222222222222"
	diagApprover    = "Erika Approver"
	diagApproverOID = "33333333-cccc-4ccc-8ccc-333333333333"
	diagStorage     = "stsecretinfra.table.core.windows.net"
	diagNamespace   = "sb-secretinfra.servicebus.windows.net"
	diagSyncQueue   = "sync-jobs-secretq"
	diagUploadQueue = "uploads-secretq"
	diagKey         = "diag-key-0123456789abcdef0123456789"
)

// diagAuth accepts "Bearer own" as the world's user.
type diagAuth struct{}

func (diagAuth) Authenticate(_ context.Context, h string) (apiauth.Caller, error) {
	if h == "Bearer own" {
		return apiauth.Caller{TenantID: diagTenant, UserID: diagUser, ConnectionStatus: store.StatusActive}, nil
	}
	return apiauth.Caller{}, &apiauth.Error{Err: apperr.E(apperr.Unauthorized, "bad token"), Challenge: "invalid_token"}
}

type diagClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *diagClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *diagClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// diagConns is the connections table (for the doctor and the vault).
type diagConns struct {
	mu     sync.Mutex
	conn   store.Connection
	getErr error
	etag   int
}

func (c *diagConns) Get(_ context.Context, tenant, user string) (store.Connection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.getErr != nil {
		return store.Connection{}, c.getErr
	}
	if tenant != c.conn.TenantID || user != c.conn.UserID {
		return store.Connection{}, store.ErrNotFound
	}
	return c.conn, nil
}

func (c *diagConns) List(context.Context, string) ([]store.Connection, error) { return nil, nil }

func (c *diagConns) UpdateRefreshToken(_ context.Context, _, _ string, sealed []byte, keyID string, etag azcore.ETag) (azcore.ETag, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if etag != c.conn.ETag {
		return "", store.ErrConflict
	}
	c.etag++
	c.conn.RefreshToken, c.conn.KeyID, c.conn.ETag = sealed, keyID, azcore.ETag(strings.Repeat("e", c.etag))
	return c.conn.ETag, nil
}

func (c *diagConns) MarkReauthRequired(context.Context, string, string, string, time.Time, azcore.ETag) (azcore.ETag, error) {
	return "", errors.New("not in these tests")
}

// diagEntra redeems refresh tokens (counting them) and answers the
// doctor's metadata and credential checks.
type diagEntra struct {
	refreshes atomic.Int32
	delay     time.Duration
}

func (e *diagEntra) Refresh(_ context.Context, _, rt string, _ []string) (entra.Token, error) {
	e.refreshes.Add(1)
	time.Sleep(e.delay)
	return entra.Token{AccessToken: "access-" + rt, RefreshToken: rt, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

func (e *diagEntra) Metadata(context.Context, string) (entra.Metadata, error) {
	return entra.Metadata{Issuer: "https://login.example/" + diagTenant + "/v2.0", Keys: 2}, nil
}

func (e *diagEntra) ClientCredentials(context.Context, string, string) (entra.Token, error) {
	return entra.Token{AccessToken: "app"}, nil
}

type diagTenants struct{}

func (diagTenants) Get(_ context.Context, id string) (store.Tenant, error) {
	if id != diagTenant {
		return store.Tenant{}, store.ErrNotFound
	}
	return store.Tenant{ID: id, ConsentedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), ConsentedByName: diagApprover, ConsentedByOID: diagApproverOID}, nil
}

type diagSyncStates struct{ clock *diagClock }

func (s diagSyncStates) Sets(context.Context, string, string) (map[string]store.SetState, error) {
	return map[string]store.SetState{"accounts": {Mode: "changetracking", LastSuccess: s.clock.now().Add(-time.Minute)}}, nil
}

type diagUploads struct{}

func (diagUploads) ListByStatus(context.Context, string, string, string) ([]store.Upload, error) {
	return nil, nil
}

type diagStorageProbe struct {
	mu  sync.Mutex
	err error
}

func (s *diagStorageProbe) fail(err error) { s.mu.Lock(); defer s.mu.Unlock(); s.err = err }
func (s *diagStorageProbe) ProbeTable(context.Context, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
func (s *diagStorageProbe) ProbeContainer(context.Context, string) error { return nil }
func (s *diagStorageProbe) Where() string {
	return "identity-based (table https://" + diagStorage + ")"
}

// diagQueues counts the dead-letter peeks; each queue has 7 dead letters
// (of other organisations).
type diagQueues struct{ deadLetterPeeks atomic.Int32 }

func (q *diagQueues) Peek(context.Context, string) error { return nil }
func (q *diagQueues) DeadLetters(context.Context, string, int) (int, error) {
	q.deadLetterPeeks.Add(1)
	return 7, nil
}
func (q *diagQueues) Where() string { return "identity-based (" + diagNamespace + ")" }

type diagWorld struct {
	srv     *httptest.Server
	clock   *diagClock
	entra   *diagEntra
	conns   *diagConns
	storage *diagStorageProbe
	queues  *diagQueues
	// dataverse counts the requests to the Dataverse simulator.
	dataverse atomic.Int32
}

// newDiagWorld serves GET /api/diagnostics with a real doctor (no report
// cache in front of it, unlike the app) over a real token vault, fakes of
// the stores and probes, and the Dataverse simulator.
func newDiagWorld(t *testing.T) *diagWorld {
	t.Helper()
	w := &diagWorld{clock: &diagClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}, entra: &diagEntra{}, storage: &diagStorageProbe{}, queues: &diagQueues{}}
	sim := dataversesim.New(dataversesim.Options{Seed: 2, Auth: dataversesim.AuthOptions{InsecureAnyToken: true}})
	dv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.dataverse.Add(1)
		sim.ServeHTTP(rw, r)
	}))
	t.Cleanup(dv.Close)
	keys, err := tokens.NewKeyRing("k1", []tokens.Key{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.conns = &diagConns{conn: store.Connection{TenantID: diagTenant, UserID: diagUser, Status: store.StatusActive, OrgURL: dv.URL,
		ConnectedAt: w.clock.now().Add(-24 * time.Hour), ETag: "e0"}}
	vault := tokens.NewVault(w.conns, w.entra, keys, logger)
	w.conns.conn.RefreshToken, w.conns.conn.KeyID = vault.SealRefreshToken(diagTenant, diagUser, "rt-1")
	d := &diagnose.Doctor{
		Entra: w.entra, Tenants: diagTenants{}, Connections: w.conns, Tokens: vault,
		SyncStates: diagSyncStates{clock: w.clock}, Uploads: diagUploads{}, Storage: w.storage, Queues: w.queues,
		ConsentScope: "https://globaldisco.example/.default", PublicBaseURL: "https://connector.example",
		Sets:         []syncconfig.EntitySet{{Name: "accounts", Select: []string{"accountid", "name"}}},
		SyncInterval: 15 * time.Minute,
		Tables:       []string{"connections", "uploads"},
		Containers:   []diagnose.Container{{Name: "documents"}},
		QueueList: []diagnose.Queue{{Role: "sync", Name: diagSyncQueue, Setting: "SYNC_QUEUE"},
			{Role: "uploads", Name: diagUploadQueue, Setting: "UPLOAD_QUEUE"}},
		Timeout: 5 * time.Second,
		Now:     w.clock.now,
	}
	w.srv = httptest.NewServer(NewServer(logger, Deps{Auth: diagAuth{}, Diagnostics: d, DiagnosticsKey: diagKey}))
	t.Cleanup(w.srv.Close)
	return w
}

// get asks for the diagnostics with a device token ("own") or the key.
func (w *diagWorld) get(t *testing.T, own bool, query string) (diagnose.Report, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+"/api/diagnostics"+query, nil)
	if own {
		req.Header.Set("Authorization", "Bearer own")
	} else {
		req.Header.Set(DiagnosticsKeyHeader, diagKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var rep diagnose.Report
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rep) != nil {
		t.Fatalf("GET /api/diagnostics%s = %d %s", query, resp.StatusCode, body)
	}
	return rep, string(body)
}

func diagCheck(t *testing.T, rep diagnose.Report, id string, status diagnose.Status, words ...string) {
	t.Helper()
	c, ok := rep.Check(id)
	if !ok {
		t.Errorf("the report has no check %s", id)
		return
	}
	if c.Status != status {
		t.Errorf("check %s = %s (%s | %s), want %s", id, c.Status, c.Detail, c.Fix, status)
	}
	for _, w := range words {
		if !strings.Contains(c.Detail+" | "+c.Fix, w) {
			t.Errorf("check %s says %q | %q; want it to mention %q", id, c.Detail, c.Fix, w)
		}
	}
}

// TestOwnDiagnosticsShowOnlyWhatIsTheirs: the device-token report names no
// storage account, namespace, queue or approver and counts no dead letters
// (it does not even peek at them); the infrastructure is one redacted
// verdict. The diagnostics key's report has all of it.
func TestOwnDiagnosticsShowOnlyWhatIsTheirs(t *testing.T) {
	w := newDiagWorld(t)
	secret := []string{diagStorage, "stsecretinfra", diagNamespace, diagSyncQueue, diagUploadQueue, diagApprover, diagApproverOID,
		"servicebus.", "storage.", "dead-lettered message", "SYNC_QUEUE", "UPLOAD_QUEUE"}

	rep, body := w.get(t, true, "")
	for _, s := range secret {
		if strings.Contains(body, s) {
			t.Errorf("the device-token report names %q:\n%s", s, body)
		}
	}
	if n := w.queues.deadLetterPeeks.Load(); n != 0 {
		t.Errorf("a device-token report peeked at the dead letters of %d queue(s), want none", n)
	}
	diagCheck(t, rep, diagnose.IDInfrastructure, diagnose.Pass, "ok")
	diagCheck(t, rep, diagnose.IDTenant, diagnose.Pass, "approved at 2026-03-01")
	diagCheck(t, rep, diagnose.IDRefresh, diagnose.Pass)
	diagCheck(t, rep, diagnose.IDWhoAmI, diagnose.Pass)
	diagCheck(t, rep, diagnose.IDRead("accounts"), diagnose.Pass)
	diagCheck(t, rep, diagnose.IDLastSync("accounts"), diagnose.Pass)
	diagCheck(t, rep, diagnose.IDUploads, diagnose.Pass)
	if !rep.OK || rep.TenantID != diagTenant || rep.UserID != diagUser {
		t.Errorf("own report ok=%v for %s/%s, want ok for the caller", rep.OK, rep.TenantID, rep.UserID)
	}

	full, body := w.get(t, false, "?tenant="+diagTenant+"&user="+diagUser)
	for _, s := range []string{diagStorage, diagSyncQueue, diagUploadQueue, diagApprover, diagApproverOID, "servicebus.", "storage.", "dead-lettered message"} {
		if !strings.Contains(body, s) {
			t.Errorf("the diagnostics key's report does not name %q:\n%s", s, body)
		}
	}
	if n := w.queues.deadLetterPeeks.Load(); n != 2 {
		t.Errorf("the diagnostics key's report peeked at %d dead-letter queue(s), want 2", n)
	}
	diagCheck(t, full, diagnose.IDDeadLetters("uploads"), diagnose.Fail, "7 dead-lettered message(s) in "+diagUploadQueue)
	if _, ok := full.Check(diagnose.IDInfrastructure); ok {
		t.Errorf("the key's report has the redacted %s check", diagnose.IDInfrastructure)
	}

	// Broken infrastructure: the user learns that it is, not where.
	w.storage.fail(errors.New("GET https://" + diagStorage + "/Tables: 503 Service Unavailable"))
	w.clock.add(10 * time.Minute)
	rep, body = w.get(t, true, "")
	for _, s := range secret {
		if strings.Contains(body, s) {
			t.Errorf("with Storage down, the device-token report names %q:\n%s", s, body)
		}
	}
	diagCheck(t, rep, diagnose.IDInfrastructure, diagnose.Fail, "degraded")
	w.storage.fail(nil)

	// So is a Storage failure met while reading the user's own connection.
	w.conns.mu.Lock()
	w.conns.getErr = errors.New("GET https://" + diagStorage + "/connections(PartitionKey='x'): dial tcp: i/o timeout")
	w.conns.mu.Unlock()
	w.clock.add(10 * time.Minute)
	rep, body = w.get(t, true, "")
	for _, s := range secret {
		if strings.Contains(body, s) {
			t.Errorf("with the connection unreadable, the device-token report names %q:\n%s", s, body)
		}
	}
	diagCheck(t, rep, diagnose.IDRefresh, diagnose.Fail)
}

// TestOwnDiagnosticsRedeemAtMostEveryFewMinutes: device-token reports
// redeem the user's refresh token at most once per diagnose.OwnRefreshEvery;
// in between their checks use the vault's cached access token (no call to
// Entra: counted), and Dataverse still answers them. The diagnostics key
// redeems every time, as before, and that counts as the user's last redeem.
func TestOwnDiagnosticsRedeemAtMostEveryFewMinutes(t *testing.T) {
	w := newDiagWorld(t)
	redeemed := func(want int32, when string) {
		t.Helper()
		if n := w.entra.refreshes.Load(); n != want {
			t.Errorf("%s: the refresh token was redeemed %d time(s), want %d", when, n, want)
		}
	}
	rep, _ := w.get(t, true, "")
	redeemed(1, "first report")
	diagCheck(t, rep, diagnose.IDRefresh, diagnose.Pass)

	w.clock.add(2 * time.Minute)
	before := w.dataverse.Load()
	rep, _ = w.get(t, true, "")
	redeemed(1, "2 minutes later")
	diagCheck(t, rep, diagnose.IDRefresh, diagnose.Pass, "2m0s ago")
	diagCheck(t, rep, diagnose.IDWhoAmI, diagnose.Pass)
	if w.dataverse.Load() == before {
		t.Errorf("the report 2 minutes later sent no Dataverse request; the doctor without a report cache should check again")
	}

	w.clock.add(diagnose.OwnRefreshEvery)
	rep, _ = w.get(t, true, "")
	redeemed(2, "after OwnRefreshEvery")
	diagCheck(t, rep, diagnose.IDRefresh, diagnose.Pass)

	w.clock.add(time.Second)
	w.get(t, false, "?tenant="+diagTenant+"&user="+diagUser)
	redeemed(3, "the diagnostics key")
	w.clock.add(time.Minute)
	w.get(t, true, "")
	redeemed(3, "a device-token report a minute after the key's")
}

// TestOwnDiagnosticsConcurrentCallsRedeemOnce: device-token calls that
// overlap (arriving 3 ms apart while a refresh takes 10 ms, so some come
// after the first refresh ended) redeem the refresh token once.
func TestOwnDiagnosticsConcurrentCallsRedeemOnce(t *testing.T) {
	w := newDiagWorld(t)
	w.entra.delay = 10 * time.Millisecond
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 3 * time.Millisecond)
			rep, _ := w.get(t, true, "")
			diagCheck(t, rep, diagnose.IDWhoAmI, diagnose.Pass)
		})
	}
	wg.Wait()
	if n := w.entra.refreshes.Load(); n != 1 {
		t.Errorf("12 overlapping device-token calls redeemed the refresh token %d times, want 1", n)
	}
}

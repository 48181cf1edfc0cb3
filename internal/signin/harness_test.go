package signin

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/store/storetest"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/localworld/entrasim"
	"github.com/pitcher/connector/localworld/testenv"
)

const (
	base      = "http://127.0.0.1:7071"
	contoso   = "11111111-1111-4111-8111-111111111111"
	fabrikam  = "22222222-2222-4222-8222-222222222222"
	aliceOID  = "aaaaaaaa-0000-4000-8000-000000000002"
	clientID  = "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70"
	secret    = "local-entra-sim-secret"
	discovery = "https://globaldisco.crm.dynamics.com"
	orgURL    = "https://contoso.crm.dynamics.com"
)

// memStore holds flows, tenants and connections in memory with the
// tables' rules (single-use flows, ETags).
type memStore struct {
	mu      sync.Mutex
	flows   map[string]store.AuthFlow
	tenants map[string]store.Tenant
	conns   *storetest.Connections
}

func (m *memStore) Create(_ context.Context, state string, f store.AuthFlow) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flows[store.StateKey(state)] = f
	return nil
}

func (m *memStore) Take(_ context.Context, state string, now time.Time) (store.AuthFlow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.flows[store.StateKey(state)]
	if !ok {
		return f, store.ErrNotFound
	}
	delete(m.flows, store.StateKey(state))
	if !now.Before(f.ExpiresAt) {
		return store.AuthFlow{}, store.ErrExpired
	}
	return f, nil
}

func (m *memStore) Sweep(_ context.Context, now time.Time, max int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, f := range m.flows {
		if n < max && f.ExpiresAt.Before(now) {
			delete(m.flows, k)
			n++
		}
	}
	return n, nil
}

func (m *memStore) tenant(id string, f func(*store.Tenant)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tenants[id]
	t.ID = id
	f(&t)
	m.tenants[id] = t
	return nil
}

func (m *memStore) Get(_ context.Context, id string) (store.Tenant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[id]
	if !ok {
		return t, store.ErrNotFound
	}
	return t, nil
}

func (m *memStore) RecordConsent(_ context.Context, id, scopes string, at time.Time) error {
	return m.tenant(id, func(t *store.Tenant) { t.ConsentedAt, t.ConsentScopes = at, scopes })
}

func (m *memStore) RecordConsentedBy(_ context.Context, id, name, oid string) error {
	return m.tenant(id, func(t *store.Tenant) { t.ConsentedByName, t.ConsentedByOID = name, oid })
}

func (m *memStore) RecordRefusal(_ context.Context, id, code, desc string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[id]
	if !ok || !t.ConsentedAt.IsZero() {
		return false, nil
	}
	t.LastRefusalAt, t.LastRefusalError, t.LastRefusalDescription = at, code, desc
	m.tenants[id] = t
	return true, nil
}

// fakeDynamics lists instances and answers WhoAmI, recording the tokens' use.
type fakeDynamics struct {
	mu        sync.Mutex
	instances []Instance
	whoami    int
	// instancesErr and whoamiErr, if set, are the answers instead.
	instancesErr, whoamiErr error
}

func (f *fakeDynamics) Instances(_ context.Context, u, token string) ([]Instance, error) {
	if f.instancesErr != nil {
		return nil, f.instancesErr
	}
	return f.instances, nil
}

func (f *fakeDynamics) WhoAmI(_ context.Context, org, token string) (WhoAmI, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.whoami++
	if f.whoamiErr != nil {
		return WhoAmI{}, f.whoamiErr
	}
	return WhoAmI{UserID: "d96e9f55-f06d-e511-80d0-00155db07cb1"}, nil
}

type recordingQueue struct {
	mu      sync.Mutex
	got     []string
	resumed []string // users whose parked uploads were resumed
}

func (q *recordingQueue) ResumeParked(_ context.Context, t, u string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.resumed = append(q.resumed, t+"/"+u)
	return nil
}

func (q *recordingQueue) EnqueueFirstSync(_ context.Context, t, u string, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.got = append(q.got, t+"/"+u)
	return nil
}

type harness struct {
	svc        *Service
	sim        *entrasim.Sim
	simURL     string
	store      *memStore
	dyn        *fakeDynamics
	queue      *recordingQueue
	logs       *testenv.Buffer
	noRedirect *http.Client
	// exchange, if set, replaces the ID token Entra returns (hostile tests).
	entra *swappingEntra
}

// swappingEntra is the real client, except that a test may replace the ID
// token of an exchange's answer.
type swappingEntra struct {
	*entra.Client
	idToken func() string
}

func (s *swappingEntra) Exchange(ctx context.Context, tenant, redirect, code, verifier string, scopes []string) (entra.Token, error) {
	tok, err := s.Client.Exchange(ctx, tenant, redirect, code, verifier, scopes)
	if err == nil && s.idToken != nil {
		tok.IDToken = s.idToken()
	}
	return tok, err
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, func(*entrasim.Seed) {})
}

// newHarnessWith is newHarness with the simulator's seed changed by edit.
func newHarnessWith(t *testing.T, edit func(*entrasim.Seed)) *harness {
	t.Helper()
	seed := entrasim.DefaultSeed()
	edit(&seed)
	sim, srv := entrasim.Start(t, seed)
	a, _ := entra.NewAuthority(srv.URL)
	client := &swappingEntra{Client: entra.NewClient(a, clientID, secret, srv.Client())}
	verifier := entra.NewVerifier(a, entra.NewKeySet(a.JWKSURL(), srv.Client()), clientID, "")
	ring, _ := tokens.NewKeyRing("k1", []tokens.Key{{ID: "k1", Secret: bytes.Repeat([]byte{3}, 32)}})
	ms := &memStore{flows: map[string]store.AuthFlow{}, tenants: map[string]store.Tenant{}, conns: storetest.NewConnections()}
	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	vault := tokens.NewVault(ms.conns, client, ring, logger)
	policy, _ := NewReturnToPolicy([]string{"https://app.pitcher.com/done", "pitcher://auth"})
	dyn := &fakeDynamics{instances: []Instance{{UniqueName: "contoso", FriendlyName: "Contoso", URL: orgURL, APIURL: orgURL}}}
	q := &recordingQueue{}
	svc := New(Config{ConsentRedirectURI: base + "/api/consent/callback", LoginRedirectURI: base + "/api/auth/callback",
		DiscoveryURL: discovery, ReturnTo: policy},
		Deps{Entra: client, IDs: verifier, Flows: ms, Tenants: ms, Conns: ms.conns, Vault: vault, Keys: ring,
			Dynamics: dyn, Queue: q, Parked: q, Logger: logger})
	return &harness{svc: svc, sim: sim, simURL: srv.URL, store: ms, dyn: dyn, queue: q, logs: logs, entra: client,
		noRedirect: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// visit follows u at the simulator and returns the query of its redirect
// back to the app.
func (h *harness) visit(t *testing.T, u string) url.Values {
	t.Helper()
	resp, err := h.noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, base+"/api/") {
		t.Fatalf("GET %s = %d to %q, want a redirect back to the app", u, resp.StatusCode, loc)
	}
	l, _ := url.Parse(loc)
	return l.Query()
}

func (h *harness) approve(tenant string) {
	_ = h.store.RecordConsent(context.Background(), tenant, discovery+"/.default", time.Now())
}

// noSecretsLogged fails if any of values appears in the log.
func (h *harness) noSecretsLogged(t *testing.T, values ...string) {
	t.Helper()
	for _, v := range append(values, secret, "eyJ") {
		if v != "" && strings.Contains(h.logs.String(), v) {
			t.Errorf("the log contains a secret value %.10q…:\n%s", v, h.logs)
		}
	}
}

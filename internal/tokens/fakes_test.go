package tokens

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/store/storetest"
	"github.com/pitcher/connector/localworld/testenv"
)

// fakeEntra answers refreshes with answer, counting calls.
type fakeEntra struct {
	mu     sync.Mutex
	calls  int
	seen   []string // refresh tokens presented
	scopes [][]string
	answer func(n int, rt string) (entra.Token, error)
}

func (f *fakeEntra) Refresh(_ context.Context, tenant, rt string, scopes []string) (entra.Token, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.seen = append(f.seen, rt)
	f.scopes = append(f.scopes, scopes)
	answer := f.answer
	f.mu.Unlock()
	return answer(n, rt)
}

func (f *fakeEntra) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func rotating(now func() time.Time) func(int, string) (entra.Token, error) {
	return func(n int, _ string) (entra.Token, error) {
		return entra.Token{AccessToken: "at-" + strconv.Itoa(n), RefreshToken: "rt-" + strconv.Itoa(n+1), ExpiresAt: now().Add(time.Hour)}, nil
	}
}

const (
	tenant = "11111111-1111-4111-8111-111111111111"
	user   = "aaaaaaaa-0000-4000-8000-000000000002"
	org    = "https://contoso.crm.dynamics.com"
)

// fixture is a vault over memConns and fakeEntra with one connected user
// whose refresh token is rt-1, and a log that the test can search.
type fixture struct {
	vault *Vault
	conns *storetest.Connections
	entra *fakeEntra
	ring  *KeyRing
	now   time.Time
	logs  *testenv.Buffer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{conns: storetest.NewConnections(), entra: &fakeEntra{}, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), logs: &testenv.Buffer{}}
	f.ring, _ = NewKeyRing("k1", []Key{key("k1", 1)})
	f.vault = NewVault(f.conns, f.entra, f.ring, slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	f.vault.now = func() time.Time { return f.now }
	f.entra.answer = rotating(func() time.Time { return f.now })
	f.connect("rt-1")
	return f
}

func (f *fixture) connect(rt string) {
	sealed, kid := f.vault.SealRefreshToken(tenant, user, rt)
	f.conns.Set(store.Connection{TenantID: tenant, UserID: user, Status: store.StatusActive, RefreshToken: sealed, KeyID: kid})
}

// storedRT opens the refresh token in the table.
func (f *fixture) storedRT(t *testing.T) string {
	t.Helper()
	c, err := f.conns.Get(context.Background(), tenant, user)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.ring.Open(c.KeyID, c.RefreshToken, aad(tenant, user))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

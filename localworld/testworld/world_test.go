package testworld_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestWorldsAreIsolated starts two worlds at once and connects the same
// seeded user in each: each world's tables hold only its own connection,
// under ids of its own.
func TestWorldsAreIsolated(t *testing.T) {
	settings := testworld.Options{Settings: []string{"AzureWebJobs.SyncWorker.Disabled=true", "AzureWebJobs.SyncScheduler.Disabled=true"}}
	a, b := testworld.Start(t, settings), testworld.Start(t, settings)
	ua, ub := a.Connect(t, "alice@contoso.example"), b.Connect(t, "alice@contoso.example")
	if ua.TenantID == ub.TenantID || ua.OID == ub.OID {
		t.Fatalf("both worlds gave alice the ids %s/%s", ua.TenantID, ua.OID)
	}
	for _, w := range []struct {
		w      *testworld.World
		u, not testworld.User
	}{{a, ua, ub}, {b, ub, ua}} {
		conns := store.NewConnections(w.w.DB)
		if c, err := conns.Get(context.Background(), w.u.TenantID, w.u.OID); err != nil || c.Status != store.StatusActive {
			t.Errorf("connection of %s in its world = %+v, %v; want active", w.u.UPN, c, err)
		}
		if _, err := conns.Get(context.Background(), w.not.TenantID, w.not.OID); err == nil {
			t.Errorf("a world's tables hold the other world's connection")
		}
		if status, _, _ := w.w.API(t, http.MethodGet, "/api/changes", w.w.DeviceToken(t, w.u.UPN), nil); status == http.StatusUnauthorized || status == http.StatusForbidden {
			t.Errorf("GET /api/changes with %s's device token = %d, want past authentication", w.u.UPN, status)
		}
		w.w.AssertNoSecrets(t)
	}
}

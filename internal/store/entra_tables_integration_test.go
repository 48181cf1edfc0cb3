package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testenv"
)

func tables(t *testing.T) *store.DB {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(testenv.Storage(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(svc, testenv.TablePrefix(t))
	if err := db.CreateTables(context.Background(), store.TenantsTable, store.ConnectionsTable, store.AuthFlowsTable); err != nil {
		t.Fatal(err)
	}
	return db
}

func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }

// TestAuthFlowIsSingleUse: of many concurrent takes of one state exactly
// one wins; a taken or expired flow is gone.
func TestAuthFlowIsSingleUse(t *testing.T) {
	flows := store.NewAuthFlows(tables(t))
	ctx := context.Background()
	now := time.Now().UTC()
	state := uniq("state")
	if err := flows.Create(ctx, state, store.AuthFlow{Kind: "login", Secret: []byte{1, 2, 3}, KeyID: "k", Tenant: "organizations",
		ReturnTo: "https://app/done", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := flows.Create(ctx, state, store.AuthFlow{Kind: "login", ExpiresAt: now.Add(time.Minute)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("creating a flow with a used state = %v, want ErrConflict", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, losses := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := flows.Take(ctx, state, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && f.Kind == "login" && string(f.Secret) == "\x01\x02\x03" && f.ReturnTo == "https://app/done":
				wins++
			case errors.Is(err, store.ErrNotFound):
				losses++
			default:
				t.Errorf("Take = %+v, %v", f, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || losses != 7 {
		t.Errorf("8 concurrent takes: %d won, %d found nothing; want exactly 1 winner", wins, losses)
	}
	expired := uniq("expired")
	_ = flows.Create(ctx, expired, store.AuthFlow{Kind: "consent", CreatedAt: now, ExpiresAt: now.Add(time.Minute)})
	if _, err := flows.Take(ctx, expired, now.Add(2*time.Minute)); !errors.Is(err, store.ErrExpired) {
		t.Errorf("Take after expiry = %v, want ErrExpired", err)
	}
	if _, err := flows.Take(ctx, expired, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired flow was not deleted: %v", err)
	}
}

// TestTenantRefusalKeepsApproval: a refusal (which anyone can forge) is
// recorded only on a row that exists and holds no approval: an approved row
// is left as it was, and no row is created for an unknown tenant.
func TestTenantRefusalKeepsApproval(t *testing.T) {
	db := tables(t)
	tenants := store.NewTenants(db)
	ctx := context.Background()
	id := uniq("tenant")
	if _, err := tenants.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(unknown) = %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	if ok, err := tenants.RecordRefusal(ctx, id, "access_denied AADSTS90094", "needs an administrator", at); ok || err != nil {
		t.Errorf("RecordRefusal(unknown tenant) = %v, %v; want not recorded", ok, err)
	}
	if _, err := tenants.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refusal created a row for an unknown tenant: %v", err)
	}

	// An operator's row (a Dynamics URL, no approval yet) keeps refusals.
	_ = tenants.SetDynamicsURL(ctx, id, "https://contoso.crm.dynamics.com")
	if ok, err := tenants.RecordRefusal(ctx, id, "access_denied AADSTS90094", "needs an administrator", at); !ok || err != nil {
		t.Fatalf("RecordRefusal(row without approval) = %v, %v; want recorded", ok, err)
	}
	if got, err := tenants.Get(ctx, id); err != nil || got.Consented() || got.LastRefusalError != "access_denied AADSTS90094" ||
		!got.LastRefusalAt.Equal(at) || got.DynamicsURL != "https://contoso.crm.dynamics.com" {
		t.Errorf("tenant = %+v, %v; want the refusal noted and the URL kept", got, err)
	}

	if err := tenants.RecordConsent(ctx, id, "https://globaldisco.crm.dynamics.com/.default", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_ = tenants.RecordConsentedBy(ctx, id, "Admin", "oid-1")
	table := db.Table(store.TenantsTable)
	before, err := table.GetEntity(ctx, id, "tenant", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := tenants.RecordRefusal(ctx, id, "access_denied AADSTS65004", "declined", at.Add(2*time.Hour)); ok || err != nil {
		t.Errorf("RecordRefusal(approved tenant) = %v, %v; want not recorded", ok, err)
	}
	if after, err := table.GetEntity(ctx, id, "tenant", nil); err != nil || after.ETag != before.ETag {
		t.Errorf("a refusal changed the approved row:\nbefore %s\nafter  %s (%v)", before.Value, after.Value, err)
	}
	got, err := tenants.Get(ctx, id)
	if err != nil || !got.Consented() || !got.ConsentedAt.Equal(at.Add(time.Hour)) || got.ConsentedByOID != "oid-1" || got.LastRefusalError != "access_denied AADSTS90094" {
		t.Errorf("tenant = %+v, %v; want approved, the earlier refusal as it was", got, err)
	}
}

// TestConnectionETags: updates from a stale read are refused.
func TestConnectionETags(t *testing.T) {
	conns := store.NewConnections(tables(t))
	ctx := context.Background()
	tid, oid := uniq("t"), "u1"
	etag, err := conns.Put(ctx, store.Connection{TenantID: tid, UserID: oid, Status: store.StatusActive, RefreshToken: []byte("sealed-1"), KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conns.UpdateRefreshToken(ctx, tid, oid, []byte("sealed-2"), "k2", etag); err != nil {
		t.Fatal(err)
	}
	if _, err := conns.UpdateRefreshToken(ctx, tid, oid, []byte("sealed-old"), "k1", etag); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update from a stale read = %v, want ErrConflict", err)
	}
	if _, err := conns.MarkReauthRequired(ctx, tid, oid, "invalid_grant AADSTS50173", time.Now(), etag); !errors.Is(err, store.ErrConflict) {
		t.Errorf("mark from a stale read = %v, want ErrConflict", err)
	}
	c, _ := conns.Get(ctx, tid, oid)
	if string(c.RefreshToken) != "sealed-2" || c.KeyID != "k2" || c.Status != store.StatusActive {
		t.Errorf("connection = %+v, want the newer token, still active", c)
	}
}

// TestSweepDeletesAbandonedFlows: flows nobody came back for are deleted
// by later sweeps, a bounded number at a time; live flows stay usable.
func TestSweepDeletesAbandonedFlows(t *testing.T) {
	flows := store.NewAuthFlows(tables(t))
	ctx := context.Background()
	now := time.Now().UTC()
	for i := 0; i < 25; i++ {
		if err := flows.Create(ctx, uniq(fmt.Sprint("abandoned", i)), store.AuthFlow{Kind: "login", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-50 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	live := uniq("live")
	if err := flows.Create(ctx, live, store.AuthFlow{Kind: "login", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{20, 5, 0} {
		if n, err := flows.Sweep(ctx, now, 20); err != nil || n != want {
			t.Errorf("Sweep = %d, %v; want %d", n, err, want)
		}
	}
	if _, err := flows.Take(ctx, live, now); err != nil {
		t.Errorf("the live flow after the sweeps: %v", err)
	}
}

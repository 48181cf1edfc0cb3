package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testenv"
)

func dueTables(t *testing.T) *store.DB {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(testenv.Storage(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(svc, testenv.TablePrefix(t))
	if err := db.CreateTables(context.Background(), store.ConnectionsTable, store.SyncDueTable); err != nil {
		t.Fatal(err)
	}
	return db
}

func listDue(t *testing.T, x *store.DueIndex, before time.Time) []store.DueEntry {
	t.Helper()
	var out []store.DueEntry
	if err := x.List(context.Background(), before, func(page []store.DueEntry) error {
		out = append(out, page...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDueIndexRange: the index hands out exactly the entries of the
// minutes before the one asked for, oldest first, whatever lies later;
// filing twice keeps one entry, deleting what is gone is no error, and
// keys that are not an entry's come back marked, never as an error.
func TestDueIndexRange(t *testing.T) {
	ctx := context.Background()
	db := dueTables(t)
	x := store.NewDueIndex(db)
	now := time.Date(2026, 11, 28, 14, 7, 30, 0, time.UTC)
	tenant, early, onTime, late := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	entries := []store.DueEntry{
		store.DueEntryOf(tenant, late, now.Add(time.Minute)),
		store.DueEntryOf(tenant, onTime, now.Add(-30*time.Second)),
		store.DueEntryOf(tenant, early, now.Add(-2*time.Hour)),
	}
	for range 2 {
		if err := x.Put(ctx, entries); err != nil {
			t.Fatal(err)
		}
	}
	got := listDue(t, x, now)
	if len(got) != 1 || got[0] != entries[2] || got[0].Bucket != "202611281207" {
		t.Errorf("entries before 14:07 = %+v, want only the one due at 12:07", got)
	}
	got = listDue(t, x, now.Add(time.Minute))
	if len(got) != 2 || got[0].UserID != early || got[1].UserID != onTime || got[1].TenantID != tenant {
		t.Errorf("entries before 14:08 = %+v, want the 12:07 and the 14:07 ones, in that order", got)
	}
	if err := x.Delete(ctx, append(entries, store.DueEntryOf(tenant, uuid.NewString(), now))); err != nil {
		t.Errorf("Delete with an entry that is not there = %v", err)
	}
	if got := listDue(t, x, now.Add(time.Hour)); len(got) != 0 {
		t.Errorf("after Delete: %+v", got)
	}

	// Keys no entry has: a short or non-time bucket, a RowKey without two
	// ids; and right keys without a due time in their minute.
	raw := db.Table(store.SyncDueTable)
	for _, p := range []map[string]any{nil, {"DueAt": aztables.EDMDateTime(now.Add(time.Hour))}, {"DueAt": "soon"}} {
		b, _ := aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: "202611281400", RowKey: tenant + "_" + uuid.NewString()}, Properties: p}.MarshalJSON()
		if _, err := raw.AddEntity(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	got = listDue(t, x, now)
	if len(got) != 3 || slices.ContainsFunc(got, func(e store.DueEntry) bool {
		return !e.HalfWritten || e.Malformed || e.TenantID != tenant || !e.DueAt.IsZero()
	}) {
		t.Errorf("half-written entries read as %+v; want 3, each marked HalfWritten with its ids", got)
	}
	if err := x.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	bad := [][2]string{{"2026", tenant + "_" + early}, {"2026-11-28T14:00", tenant + "_" + early}, {"000000000000", tenant + "_" + early},
		{"202611281400", "no-separator"}, {"202611281400", "_" + early}, {"202611281400", tenant + "_"}}
	for _, k := range bad {
		b, _ := aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: k[0], RowKey: k[1]}}.MarshalJSON()
		if _, err := raw.AddEntity(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	got = listDue(t, x, now)
	if len(got) != len(bad) || slices.ContainsFunc(got, func(e store.DueEntry) bool { return !e.Malformed || e.TenantID != "" }) {
		t.Errorf("malformed entries read as %+v; want %d, each marked Malformed", got, len(bad))
	}
	if err := x.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got := listDue(t, x, now); len(got) != 0 {
		t.Errorf("malformed entries left after Delete: %+v", got)
	}

	// The sweep's record is outside every range of buckets.
	if _, found, err := x.LastSweep(ctx); found || err != nil {
		t.Errorf("LastSweep of a new index = %v, %v; want none", found, err)
	}
	if err := x.RecordSweep(ctx, now); err != nil {
		t.Fatal(err)
	}
	if at, found, err := x.LastSweep(ctx); !found || !at.Equal(now) || err != nil {
		t.Errorf("LastSweep = %s, %v, %v; want %s", at, found, err, now)
	}
	if got := listDue(t, x, now.AddDate(100, 0, 0)); len(got) != 0 {
		t.Errorf("a range of a century reads %+v; the sweep's row must not be in it", got)
	}
}

// TestConnectionsFollowTheDueIndex: a sign-in that makes a connection
// active and due files it in the index; a connection Entra ended
// (reauth_required) leaves it until a sign-in files it again, and an
// erasure takes it out when it begins, so none is left naming the user.
func TestConnectionsFollowTheDueIndex(t *testing.T) {
	ctx := context.Background()
	db := dueTables(t)
	conns, x := store.NewConnections(db), store.NewDueIndex(db)
	now := time.Date(2026, 11, 28, 14, 7, 30, 0, time.UTC)
	tenant, user := uuid.NewString(), uuid.NewString()
	if _, err := conns.Put(ctx, store.Connection{TenantID: tenant, UserID: user, Status: store.StatusPending, ConnectedAt: now}); err != nil {
		t.Fatal(err)
	}
	indexed := func(when string, want ...store.DueEntry) {
		t.Helper()
		if got := listDue(t, x, now.Add(24*time.Hour)); !slices.Equal(got, want) {
			t.Errorf("index %s = %+v, want %+v", when, got, want)
		}
	}
	indexed("of a pending connection")
	signIn := func(at time.Time) {
		t.Helper()
		c, err := conns.Get(ctx, tenant, user)
		if err != nil {
			t.Fatal(err)
		}
		c.Status, c.StatusChangedAt, c.OrgURL, c.NextSyncAt = store.StatusActive, at, "https://contoso.crm.dynamics.com", at
		if _, err := conns.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	signIn(now)
	indexed("after the sign-in", store.DueEntryOf(tenant, user, now))
	c, _ := conns.Get(ctx, tenant, user)
	if _, err := conns.MarkReauthRequired(ctx, tenant, user, "invalid_grant", now, c.ETag); err != nil {
		t.Fatal(err)
	}
	indexed("after Entra ended the grant")
	later := now.Add(time.Hour + 17*time.Second)
	signIn(later)
	indexed("after a new sign-in", store.DueEntryOf(tenant, user, later))
	c, _ = conns.Get(ctx, tenant, user)
	if _, err := conns.MarkErasing(ctx, tenant, user, store.Erasure{Kind: "disconnect", RequestedAt: later}, c.ETag); err != nil {
		t.Fatal(err)
	}
	indexed("once the erasure began")
	if err := conns.Delete(ctx, tenant, user); err != nil {
		t.Fatal(err)
	}
	indexed("after the erasure")
	if _, err := conns.Get(ctx, tenant, user); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("connection after Delete: %v", err)
	}
}

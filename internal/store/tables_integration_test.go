package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/localworld/testenv"
)

// TestAzuriteRoundTrip proves the real SDK reaches the emulator CI starts:
// create a table, upsert, read back with a filter, and see ETag concurrency.
func TestAzuriteRoundTrip(t *testing.T) {
	svc, err := aztables.NewServiceClientFromConnectionString(testenv.Storage(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("roundtrip%d", time.Now().UnixNano())
	if _, err := svc.CreateTable(ctx, name, nil); err != nil {
		t.Fatalf("CreateTable(%s): %v", name, err)
	}
	t.Cleanup(func() { _, _ = svc.DeleteTable(context.Background(), name, nil) })
	table := svc.NewClient(name)

	for _, e := range []aztables.EDMEntity{
		{Entity: aztables.Entity{PartitionKey: "tenant-a", RowKey: "u1"}, Properties: map[string]any{"Status": "active"}},
		{Entity: aztables.Entity{PartitionKey: "tenant-a", RowKey: "u2"}, Properties: map[string]any{"Status": "reauth_required"}},
		{Entity: aztables.Entity{PartitionKey: "tenant-b", RowKey: "u1"}, Properties: map[string]any{"Status": "active"}},
	} {
		b, _ := e.MarshalJSON()
		if _, err := table.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
			t.Fatalf("UpsertEntity(%s/%s): %v", e.PartitionKey, e.RowKey, err)
		}
	}
	filter := "PartitionKey eq 'tenant-a' and Status eq 'active'"
	pager := table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var got []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListEntities(%q): %v", filter, err)
		}
		for _, raw := range page.Entities {
			var e aztables.EDMEntity
			if err := e.UnmarshalJSON(raw); err != nil {
				t.Fatal(err)
			}
			got = append(got, e.PartitionKey+"/"+e.RowKey)
		}
	}
	if strings.Join(got, ",") != "tenant-a/u1" {
		t.Errorf("ListEntities(%q) = %v, want [tenant-a/u1]", filter, got)
	}

	// A write with a stale ETag must be refused: the store relies on it for races.
	cur, err := table.GetEntity(ctx, "tenant-a", "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	upd := []byte(`{"PartitionKey":"tenant-a","RowKey":"u1","Status":"paused"}`)
	if _, err := table.UpdateEntity(ctx, upd, &aztables.UpdateEntityOptions{IfMatch: &cur.ETag, UpdateMode: aztables.UpdateModeReplace}); err != nil {
		t.Fatalf("UpdateEntity with the current ETag: %v", err)
	}
	_, err = table.UpdateEntity(ctx, upd, &aztables.UpdateEntityOptions{IfMatch: &cur.ETag, UpdateMode: aztables.UpdateModeReplace})
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 412 {
		t.Errorf("UpdateEntity with a stale ETag: err = %v, want HTTP 412", err)
	}
}

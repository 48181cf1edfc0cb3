package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testenv"
)

func uploadsTable(t *testing.T) *store.Uploads {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(testenv.Storage(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(svc, testenv.TablePrefix(t))
	if err := db.CreateTables(context.Background(), store.UploadsTable); err != nil {
		t.Fatal(err)
	}
	return store.NewUploads(db)
}

// TestUploadRoundTrip: every field survives a write and a read; a second
// insert of the same id and a stale update are refused.
func TestUploadRoundTrip(t *testing.T) {
	uploads := uploadsTable(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	up := store.Upload{TenantID: "t1", UserID: "u1", UploadID: "r-1", Status: store.UploadRetrying, ContentHash: "abc",
		MessageSent: true, Attempts: 3, RetryAttempt: 2, BatchDone: true, DocumentsDone: []int{0, 2}, Records: `{"meeting":{}}`,
		ErrorCode: "0x80072322", ErrorMessage: "Number of requests exceeded the limit", ErrorItem: "meeting", ErrorStatus: 429,
		CreatedAt: now, UpdatedAt: now.Add(time.Second), CompletedAt: now.Add(2 * time.Second), NextAttemptAt: now.Add(time.Minute)}
	etag, err := uploads.Insert(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	got, err := uploads.Get(ctx, "t1", "u1", "r-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != etag {
		t.Errorf("Get ETag = %q, want the insert's %q", got.ETag, etag)
	}
	got.ETag = ""
	if !reflect.DeepEqual(got, up) {
		t.Errorf("Get = %+v\nwant  %+v", got, up)
	}
	if _, err := uploads.Insert(ctx, up); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second Insert = %v, want ErrConflict", err)
	}
	up.ETag = etag
	up.Status = store.UploadDone
	if _, err := uploads.Update(ctx, up); err != nil {
		t.Fatalf("Update at the current ETag = %v", err)
	}
	up.Status = store.UploadFailed
	if _, err := uploads.Update(ctx, up); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Update at a stale ETag = %v, want ErrConflict", err)
	}
	if got, _ := uploads.Get(ctx, "t1", "u1", "r-1"); got.Status != store.UploadDone {
		t.Errorf("status after a refused stale update = %s, want done", got.Status)
	}
	if _, err := uploads.Get(ctx, "t1", "u2", "r-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get as another user = %v, want ErrNotFound", err)
	}
}

// TestUploadsByStatus lists one user's uploads of one status, never another
// user's or tenant's.
func TestUploadsByStatus(t *testing.T) {
	uploads := uploadsTable(t)
	ctx := context.Background()
	for _, up := range []store.Upload{
		{TenantID: "t1", UserID: "u1", UploadID: "a", Status: store.UploadParked},
		{TenantID: "t1", UserID: "u1", UploadID: "b", Status: store.UploadDone},
		{TenantID: "t1", UserID: "u1", UploadID: "c", Status: store.UploadParked},
		{TenantID: "t1", UserID: "u2", UploadID: "d", Status: store.UploadParked},
		{TenantID: "t2", UserID: "u1", UploadID: "e", Status: store.UploadParked},
	} {
		if _, err := uploads.Insert(ctx, up); err != nil {
			t.Fatal(err)
		}
	}
	got, err := uploads.ListByStatus(ctx, "t1", "u1", store.UploadParked)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, up := range got {
		ids = append(ids, up.UploadID)
		if up.ETag == "" {
			t.Errorf("listed upload %s has no ETag", up.UploadID)
		}
	}
	if !reflect.DeepEqual(ids, []string{"a", "c"}) {
		t.Errorf("parked uploads of t1/u1 = %v, want [a c]", ids)
	}
}

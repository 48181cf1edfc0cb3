package store

import (
	"context"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/localworld/testenv"
)

// TestMissingTableIsNotNotFound: before the tables exist, a read fails as
// an error, never as "no such tenant" (which would deny an approved tenant
// or, worse, look like a fresh start).
func TestMissingTableIsNotNotFound(t *testing.T) {
	svc, err := aztables.NewServiceClientFromConnectionString(testenv.Storage(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	tenants := &Tenants{table: svc.NewClient("nosuchtable")}
	_, err = tenants.Get(context.Background(), "t")
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get from a missing table = %v, want an error that is not ErrNotFound", err)
	}
}

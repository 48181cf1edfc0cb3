package dataverse_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

func TestCreateReportsIDAndRepresentation(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	ctx := context.Background()
	r, err := e.c.Create(ctx, "accounts", map[string]any{"name": "Plain"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == "" || !strings.HasSuffix(r.EntityID, "accounts("+r.ID+")") || r.Record != nil {
		t.Errorf("create = %+v, want an id from OData-EntityId and no body", r)
	}
	id := "5a2b8a1e-0000-4000-8000-000000000001"
	r, err = e.c.Create(ctx, "accounts", map[string]any{"accountid": id, "name": "Chosen"}, &dataverse.WriteOptions{Return: true, Select: []string{"name"}})
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Accountid, Name string
	}
	_ = json.Unmarshal(r.Record, &rec)
	if !r.Created || rec.Accountid != id || rec.Name != "Chosen" || r.ETag == "" || r.EntityID != "" {
		t.Errorf("create with representation = %+v (%+v)", r, rec)
	}
	_, err = e.c.Create(ctx, "accounts", map[string]any{"accountid": id, "name": "Again"}, nil)
	if !dataverse.IsAlreadyExists(err) {
		t.Errorf("create with an existing id: err = %v, want already exists", err)
	}
}

func TestUpsertSemantics(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	ctx := context.Background()
	key := dataverse.ByKey("accounts", "accountnumber", "PIT-'7'")
	r, err := e.c.Upsert(ctx, key, map[string]any{"name": "First"}, &dataverse.UpsertOptions{Return: true})
	if err != nil || !r.Created {
		t.Fatalf("upsert of a new key = %+v, %v; want created", r, err)
	}
	r, err = e.c.Upsert(ctx, key, map[string]any{"name": "Second"}, nil)
	if err != nil || !strings.Contains(r.EntityID, "accountnumber='PIT-''7''") {
		t.Fatalf("upsert of an existing key = %+v, %v; want OData-EntityId naming the key", r, err)
	}
	if n := e.sim.Count("accounts"); n != 1 {
		t.Errorf("accounts = %d after two upserts of one key, want 1", n)
	}
	if _, err := e.c.Upsert(ctx, key, map[string]any{"name": "x"}, &dataverse.UpsertOptions{CreateOnly: true}); !dataverse.IsAlreadyExists(err) || dataverse.IsConcurrencyConflict(err) {
		t.Errorf("create-only upsert of an existing row: err = %v, want already exists", err)
	}
	missing := dataverse.ByID("accounts", "5a2b8a1e-0000-4000-8000-00000000ffff")
	if _, err := e.c.Upsert(ctx, missing, map[string]any{"name": "x"}, &dataverse.UpsertOptions{UpdateOnly: true}); !dataverse.IsNotFound(err) {
		t.Errorf("update-only upsert of a missing row: err = %v, want not found", err)
	}
	if _, err := e.c.Update(ctx, missing, map[string]any{"name": "x"}, nil); !dataverse.IsNotFound(err) {
		t.Errorf("update of a missing row: err = %v, want not found", err)
	}
	// Upsert by a client-chosen id creates exactly that record, and repeats harmlessly.
	for range 2 {
		if _, err := e.c.Upsert(ctx, missing, map[string]any{"name": "Deterministic"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if row, ok := e.sim.GetRow("accounts", "5a2b8a1e-0000-4000-8000-00000000ffff"); !ok || row["name"] != "Deterministic" || e.sim.Count("accounts") != 2 {
		t.Errorf("deterministic upsert: row %v, count %d", row, e.sim.Count("accounts"))
	}
}

func TestStaleETagIs412(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 1})
	ctx := context.Background()
	ref := dataverse.ByID("accounts", dataversesim.SeedID("accounts", 0))
	_, etag, err := e.c.Get(ctx, ref, &dataverse.Query{Select: []string{"name"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.UpdateRow("accounts", dataversesim.SeedID("accounts", 0), map[string]any{"name": "Edited in Dynamics"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Update(ctx, ref, map[string]any{"name": "Mine"}, &dataverse.WriteOptions{IfMatch: etag})
	if !dataverse.IsConcurrencyConflict(err) {
		t.Errorf("update with a stale ETag: err = %v, want a concurrency conflict", err)
	}
	if err := e.c.Delete(ctx, ref, &dataverse.WriteOptions{IfMatch: etag}); !dataverse.IsConcurrencyConflict(err) {
		t.Errorf("delete with a stale ETag: err = %v, want a concurrency conflict", err)
	}
	_, fresh, _ := e.c.Get(ctx, ref, nil)
	if _, err := e.c.Update(ctx, ref, map[string]any{"name": "Mine"}, &dataverse.WriteOptions{IfMatch: fresh}); err != nil {
		t.Errorf("update with the current ETag: %v", err)
	}
	if err := e.c.Delete(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Delete(ctx, ref, nil); !dataverse.IsNotFound(err) {
		t.Errorf("second delete: err = %v, want not found", err)
	}
}

func TestBindAssociatesRecords(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 1})
	ctx := context.Background()
	account := dataverse.ByKey("accounts", "accountnumber", "ACC-000000")
	r, err := e.c.Create(ctx, "appointments", map[string]any{"subject": "Visit", "regardingobjectid_account_appointment@odata.bind": account.Bind()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	row, _ := e.sim.GetRow("appointments", r.ID)
	if row["_regardingobjectid_value"] != dataversesim.SeedID("accounts", 0) {
		t.Errorf("regarding = %v, want account 0", row["_regardingobjectid_value"])
	}
	// The polymorphic lookup needs the per-table navigation property name.
	_, err = e.c.Create(ctx, "appointments", map[string]any{"subject": "x", "regardingobjectid_account@odata.bind": account.Bind()}, nil)
	if de, ok := err.(*dataverse.Error); !ok || de.Code != dataverse.CodePayload {
		t.Errorf("undeclared navigation property: err = %v, want %s", err, dataverse.CodePayload)
	}
	_, err = e.c.Create(ctx, "appointments", map[string]any{"subject": "x", "regardingobjectid_account_appointment@odata.bind": dataverse.ByID("accounts", "5a2b8a1e-0000-4000-8000-0000000000aa").Bind()}, nil)
	if !dataverse.IsNotFound(err) {
		t.Errorf("bind to a missing record: err = %v, want not found", err)
	}
}

func TestValidationErrors(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	ctx := context.Background()
	_, err := e.c.Create(ctx, "accounts", map[string]any{"name": strings.Repeat("x", 161)}, nil)
	if de, ok := err.(*dataverse.Error); !ok || de.StatusCode != 400 || de.Code != dataverse.CodeValidation || de.RequestID == "" {
		t.Errorf("too long: err = %v, want a validation error with a request id", err)
	}
	_, err = e.c.Create(ctx, "accounts", map[string]any{"Name": "x"}, nil)
	if de, ok := err.(*dataverse.Error); !ok || !strings.Contains(de.Message, "Invalid property 'Name'") {
		t.Errorf("unknown property: err = %v", err)
	}
	if e.sim.Count("accounts") != 0 {
		t.Errorf("failed creates left %d rows", e.sim.Count("accounts"))
	}
}

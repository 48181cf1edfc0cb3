package store

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// TenantsTable holds one row per customer tenant (docs/architecture.md,
// "State"): PartitionKey = tenant id, RowKey = "tenant".
const TenantsTable = "tenants"

const tenantRow = "tenant"

// Tenant is what the connector knows about a customer's Entra tenant.
type Tenant struct {
	ID string
	// ConsentedAt is when an administrator approved the app for the tenant
	// (zero: never); ConsentScopes is what Entra reported as approved.
	ConsentedAt   time.Time
	ConsentScopes string
	// ConsentedByName and ConsentedByOID identify the administrator, once
	// known (Entra's consent redirect does not say; a sign-in does).
	ConsentedByName string
	ConsentedByOID  string
	// LastRefusal* record the latest refused or failed approval of a
	// tenant whose row holds no approval (RecordRefusal): Entra's code with
	// its AADSTS number, and fixed wording of what it means (never Entra's
	// description, which anyone can forge in a redirect).
	LastRefusalAt          time.Time
	LastRefusalError       string
	LastRefusalDescription string
	// DynamicsURL, if set, is the tenant's Dynamics environment, used
	// instead of Global Discovery.
	DynamicsURL string
	// OffboardingAt is when the tenant's offboarding began (zero: none):
	// its approval no longer counts, and the row goes when every
	// connection of the tenant is erased. OffboardingBy is who asked
	// (pseudonymous); OffboardCounts the JSON counts erased so far.
	OffboardingAt  time.Time
	OffboardingBy  string
	OffboardCounts string
}

// Consented reports whether an administrator approved the app and the
// tenant is not being offboarded.
func (t Tenant) Consented() bool { return !t.ConsentedAt.IsZero() && t.OffboardingAt.IsZero() }

// Tenants is the tenants table.
type Tenants struct{ table *aztables.Client }

// NewTenants returns the tenants table of svc.
func NewTenants(db *DB) *Tenants {
	return &Tenants{table: db.Table(TenantsTable)}
}

// Get returns tenant id, or an error wrapping ErrNotFound.
func (t *Tenants) Get(ctx context.Context, id string) (Tenant, error) {
	resp, err := t.table.GetEntity(ctx, id, tenantRow, nil)
	if err != nil {
		return Tenant{}, mapErr(err, "get tenant "+id)
	}
	e, err := decode(resp.Value)
	if err != nil {
		return Tenant{}, mapErr(err, "decode tenant "+id)
	}
	return tenantOf(id, props(e.Properties)), nil
}

func tenantOf(id string, p props) Tenant {
	return Tenant{ID: id, ConsentedAt: p.time("ConsentedAt"), ConsentScopes: p.str("ConsentScopes"),
		ConsentedByName: p.str("ConsentedByName"), ConsentedByOID: p.str("ConsentedByOID"),
		LastRefusalAt: p.time("LastRefusalAt"), LastRefusalError: p.str("LastRefusalError"),
		LastRefusalDescription: p.str("LastRefusalDescription"), DynamicsURL: p.str("DynamicsURL"),
		OffboardingAt: p.time("OffboardingAt"), OffboardingBy: p.str("OffboardingBy"), OffboardCounts: p.str("OffboardCounts")}
}

// MarkOffboarding records that the tenant's offboarding began (if it had
// not already) and the counts erased so far.
func (t *Tenants) MarkOffboarding(ctx context.Context, id, by string, at time.Time, counts string) error {
	p := map[string]any{"OffboardingBy": by, "OffboardCounts": counts}
	edmTime(p, "OffboardingAt", at)
	return t.merge(ctx, id, p, "mark tenant "+id+" offboarding")
}

// Delete removes the tenant's row: its approval, approver and refusals.
// A row that is not there is not an error.
func (t *Tenants) Delete(ctx context.Context, id string) error {
	_, err := t.table.DeleteEntity(ctx, id, tenantRow, nil)
	if err = mapErr(err, "delete tenant "+id); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// RecordConsent records an approval. It merges into the row, so fields it
// does not set (the Dynamics URL) are kept, and concurrent approvals of one
// tenant cannot conflict.
func (t *Tenants) RecordConsent(ctx context.Context, id, scopes string, at time.Time) error {
	p := map[string]any{"ConsentScopes": scopes}
	edmTime(p, "ConsentedAt", at)
	return t.merge(ctx, id, p, "record consent of tenant "+id)
}

// RecordConsentedBy records which administrator approved the tenant.
func (t *Tenants) RecordConsentedBy(ctx context.Context, id, name, oid string) error {
	return t.merge(ctx, id, map[string]any{"ConsentedByName": name, "ConsentedByOID": oid}, "record who approved tenant "+id)
}

// RecordRefusal records a refused or failed approval on the row of tenant
// id, and reports whether it did. A refusal comes from a redirect anyone can
// forge, so it is recorded only on a row that exists and holds no approval
// (one an operator prepared, with a Dynamics URL): it never creates a row
// and never changes an approved one. The write is conditional on the row
// read, so an approval recorded meanwhile is not touched either.
func (t *Tenants) RecordRefusal(ctx context.Context, id, code, description string, at time.Time) (bool, error) {
	resp, err := t.table.GetEntity(ctx, id, tenantRow, nil)
	switch err = mapErr(err, "get tenant "+id); {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	e, err := decode(resp.Value)
	if err != nil {
		return false, mapErr(err, "decode tenant "+id)
	}
	if !props(e.Properties).time("ConsentedAt").IsZero() {
		return false, nil
	}
	p := map[string]any{"LastRefusalError": code, "LastRefusalDescription": description}
	edmTime(p, "LastRefusalAt", at)
	_, err = t.table.UpdateEntity(ctx, encode(id, tenantRow, p), &aztables.UpdateEntityOptions{IfMatch: &resp.ETag, UpdateMode: aztables.UpdateModeMerge})
	if err = mapErr(err, "record refusal of tenant "+id); errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		return false, nil // approved or deleted since it was read
	}
	return err == nil, err
}

// SetDynamicsURL sets (or, with "", clears) the tenant's Dynamics URL.
func (t *Tenants) SetDynamicsURL(ctx context.Context, id, url string) error {
	return t.merge(ctx, id, map[string]any{"DynamicsURL": url}, "set the Dynamics URL of tenant "+id)
}

func (t *Tenants) merge(ctx context.Context, id string, p map[string]any, what string) error {
	_, err := t.table.UpsertEntity(ctx, encode(id, tenantRow, p), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeMerge})
	return mapErr(err, what)
}

package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// AuthFlowsTable holds the state of sign-in and consent flows in progress
// (docs/architecture.md, "State"): PartitionKey = sha256(state), RowKey =
// "flow". The state itself is never stored, so a leaked table cannot be
// replayed.
const AuthFlowsTable = "authflows"

const flowRow = "flow"

// AuthFlow is one pending redirect to Entra.
type AuthFlow struct {
	Kind string // "login" or "consent"
	// Secret is the flow's sealed secrets (PKCE verifier, nonce), sealed by
	// the caller under KeyID; opaque here.
	Secret []byte
	KeyID  string
	// Tenant is the tenant the flow was started for ("organizations" if unknown).
	Tenant    string
	ReturnTo  string
	Org       string // the Dynamics environment asked for, if any
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ErrExpired: the flow existed but is past its expiry; it has been deleted.
var ErrExpired = errors.New("store: flow expired")

// StateKey is the partition key of a flow's state: hex sha256.
func StateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// AuthFlows is the authflows table.
type AuthFlows struct{ table *aztables.Client }

// NewAuthFlows returns the authflows table of svc.
func NewAuthFlows(db *DB) *AuthFlows {
	return &AuthFlows{table: db.Table(AuthFlowsTable)}
}

// Create stores f under state's hash; a flow with the same state is ErrConflict.
func (a *AuthFlows) Create(ctx context.Context, state string, f AuthFlow) error {
	p := map[string]any{"Kind": f.Kind, "Secret": aztables.EDMBinary(f.Secret), "KeyID": f.KeyID, "Tenant": f.Tenant,
		"ReturnTo": f.ReturnTo, "Org": f.Org}
	edmTime(p, "CreatedAt", f.CreatedAt)
	edmTime(p, "ExpiresAt", f.ExpiresAt)
	_, err := a.table.AddEntity(ctx, encode(StateKey(state), flowRow, p), nil)
	return mapErr(err, "create auth flow")
}

// Take returns the flow of state and deletes it, so a state works once.
// Of two concurrent takes only one succeeds (ETag on delete); the other,
// and any later one, gets ErrNotFound. A flow past its expiry at now is
// deleted and reported as ErrExpired.
func (a *AuthFlows) Take(ctx context.Context, state string, now time.Time) (AuthFlow, error) {
	key := StateKey(state)
	resp, err := a.table.GetEntity(ctx, key, flowRow, nil)
	if err != nil {
		return AuthFlow{}, mapErr(err, "get auth flow")
	}
	if _, err := a.table.DeleteEntity(ctx, key, flowRow, &aztables.DeleteEntityOptions{IfMatch: &resp.ETag}); err != nil {
		err = mapErr(err, "take auth flow")
		if errors.Is(err, ErrConflict) { // another request took it first
			return AuthFlow{}, fmt.Errorf("take auth flow: %w", ErrNotFound)
		}
		return AuthFlow{}, err
	}
	e, err := decode(resp.Value)
	if err != nil {
		return AuthFlow{}, mapErr(err, "decode auth flow")
	}
	p := props(e.Properties)
	f := AuthFlow{Kind: p.str("Kind"), Secret: p.bytes("Secret"), KeyID: p.str("KeyID"), Tenant: p.str("Tenant"),
		ReturnTo: p.str("ReturnTo"), Org: p.str("Org"), CreatedAt: p.time("CreatedAt"), ExpiresAt: p.time("ExpiresAt")}
	if !now.Before(f.ExpiresAt) {
		return AuthFlow{}, ErrExpired
	}
	return f, nil
}

// Sweep deletes up to max flows that expired before now and were never
// used (Take deletes the others), and returns how many it deleted. It
// makes one query and at most max deletions, so it can run on every start
// of a flow: abandoned sign-ins then never pile up, whatever the traffic.
func (a *AuthFlows) Sweep(ctx context.Context, now time.Time, max int) (int, error) {
	filter := fmt.Sprintf("ExpiresAt lt datetime'%s'", now.UTC().Format("2006-01-02T15:04:05.0000000Z"))
	sel, top := "PartitionKey,RowKey", int32(max)
	pager := a.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel, Top: &top})
	page, err := pager.NextPage(ctx)
	if err != nil {
		return 0, mapErr(err, "list expired auth flows")
	}
	deleted, anyVersion := 0, azcore.ETagAny
	for _, raw := range page.Entities {
		var e aztables.Entity
		if err := json.Unmarshal(raw, &e); err != nil {
			return deleted, fmt.Errorf("store: decode an expired auth flow's key: %w", err)
		}
		_, err := a.table.DeleteEntity(ctx, e.PartitionKey, e.RowKey, &aztables.DeleteEntityOptions{IfMatch: &anyVersion})
		switch err = mapErr(err, "delete expired auth flow"); {
		case err == nil:
			deleted++
		case !errors.Is(err, ErrNotFound): // taken meanwhile: fine
			return deleted, err
		}
	}
	return deleted, nil
}

package store

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// ConnectionsTable holds one row per connected user (docs/architecture.md,
// "State"): PartitionKey = tenant id, RowKey = user object id.
const ConnectionsTable = "connections"

// Connection statuses.
const (
	// StatusActive: the user's tokens work; syncs and uploads run.
	StatusActive = "active"
	// StatusPending: signed in, but the Dynamics environment is not
	// confirmed yet (the sign-in has not finished).
	StatusPending = "pending"
	// StatusReauthRequired: Entra said the grant is gone; nothing runs for
	// the user until they sign in again. StatusReason says why.
	StatusReauthRequired = "reauth_required"
)

// Connection is one user's link to their Dynamics environment.
type Connection struct {
	TenantID string
	UserID   string // Entra object id (oid)
	Status   string
	// StatusReason is Entra's error for reauth_required ("invalid_grant AADSTS700082").
	StatusReason    string
	StatusChangedAt time.Time
	// RefreshToken is the refresh token sealed by the token vault under
	// KeyID; it is never stored in clear.
	RefreshToken []byte
	KeyID        string
	// OrgURL is the Dynamics environment; DataverseUserID the user's
	// systemuserid there (WhoAmI).
	OrgURL          string
	DataverseUserID string
	// UserName is for people reading diagnostics; never used for identity.
	UserName    string
	ConnectedAt time.Time
	NextSyncAt  time.Time
	// ETag is the version read; updates that race are refused with ErrConflict.
	ETag azcore.ETag
}

// Connections is the connections table.
type Connections struct{ table *aztables.Client }

// NewConnections returns the connections table of svc.
func NewConnections(db *DB) *Connections {
	return &Connections{table: db.Table(ConnectionsTable)}
}

// Get returns the connection of user in tenant, or an error wrapping ErrNotFound.
func (c *Connections) Get(ctx context.Context, tenant, user string) (Connection, error) {
	resp, err := c.table.GetEntity(ctx, tenant, user, nil)
	if err != nil {
		return Connection{}, mapErr(err, "get connection "+tenant+"/"+user)
	}
	e, err := decode(resp.Value)
	if err != nil {
		return Connection{}, mapErr(err, "decode connection "+tenant+"/"+user)
	}
	conn := connectionOf(tenant, user, props(e.Properties))
	conn.ETag = resp.ETag
	return conn, nil
}

func connectionOf(tenant, user string, p props) Connection {
	return Connection{TenantID: tenant, UserID: user, Status: p.str("Status"), StatusReason: p.str("StatusReason"),
		StatusChangedAt: p.time("StatusChangedAt"), RefreshToken: p.bytes("RefreshToken"), KeyID: p.str("KeyID"),
		OrgURL: p.str("OrgURL"), DataverseUserID: p.str("DataverseUserID"), UserName: p.str("UserName"),
		ConnectedAt: p.time("ConnectedAt"), NextSyncAt: p.time("NextSyncAt")}
}

// Put writes the whole connection, whatever was there: a fresh sign-in
// replaces every earlier state. It returns the new ETag.
func (c *Connections) Put(ctx context.Context, conn Connection) (azcore.ETag, error) {
	p := map[string]any{"Status": conn.Status, "StatusReason": conn.StatusReason, "RefreshToken": aztables.EDMBinary(conn.RefreshToken),
		"KeyID": conn.KeyID, "OrgURL": conn.OrgURL, "DataverseUserID": conn.DataverseUserID, "UserName": conn.UserName}
	edmTime(p, "StatusChangedAt", conn.StatusChangedAt)
	edmTime(p, "ConnectedAt", conn.ConnectedAt)
	edmTime(p, "NextSyncAt", conn.NextSyncAt)
	resp, err := c.table.UpsertEntity(ctx, encode(conn.TenantID, conn.UserID, p), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		return "", mapErr(err, "put connection "+conn.TenantID+"/"+conn.UserID)
	}
	return resp.ETag, nil
}

// UpdateRefreshToken stores a rotated refresh token if the row is still at
// etag; otherwise it fails with ErrConflict and changes nothing, so a newer
// token written by another worker is never overwritten by an older one.
func (c *Connections) UpdateRefreshToken(ctx context.Context, tenant, user string, sealed []byte, keyID string, etag azcore.ETag) (azcore.ETag, error) {
	return c.update(ctx, tenant, user, map[string]any{"RefreshToken": aztables.EDMBinary(sealed), "KeyID": keyID}, etag, "update refresh token")
}

// MarkReauthRequired sets the connection to reauth_required with reason,
// if the row is still at etag (ErrConflict otherwise: someone signed in or
// refreshed meanwhile, and that newer state wins).
func (c *Connections) MarkReauthRequired(ctx context.Context, tenant, user, reason string, at time.Time, etag azcore.ETag) (azcore.ETag, error) {
	p := map[string]any{"Status": StatusReauthRequired, "StatusReason": reason}
	edmTime(p, "StatusChangedAt", at)
	return c.update(ctx, tenant, user, p, etag, "mark reauthorization required")
}

// Update merges the fields of conn set by the sign-in (status, org URL,
// Dataverse user, next sync) if the row is still at conn.ETag.
func (c *Connections) Update(ctx context.Context, conn Connection) (azcore.ETag, error) {
	p := map[string]any{"Status": conn.Status, "StatusReason": conn.StatusReason, "OrgURL": conn.OrgURL, "DataverseUserID": conn.DataverseUserID}
	edmTime(p, "StatusChangedAt", conn.StatusChangedAt)
	edmTime(p, "NextSyncAt", conn.NextSyncAt)
	return c.update(ctx, conn.TenantID, conn.UserID, p, conn.ETag, "update connection")
}

func (c *Connections) update(ctx context.Context, tenant, user string, p map[string]any, etag azcore.ETag, what string) (azcore.ETag, error) {
	resp, err := c.table.UpdateEntity(ctx, encode(tenant, user, p), &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeMerge})
	if err != nil {
		return "", mapErr(err, what+" "+tenant+"/"+user)
	}
	return resp.ETag, nil
}

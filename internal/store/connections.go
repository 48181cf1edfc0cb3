package store

import (
	"context"
	"errors"
	"fmt"
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
	// StatusErasing: the user disconnected (or retention or an offboarding
	// erases them); nothing runs for the user, their data is being deleted,
	// and the row goes when the erasure is complete (internal/lifecycle).
	StatusErasing = "erasing"
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
	// Erasure is the erasure in progress (Status erasing).
	Erasure Erasure
	// ETag is the version read; updates that race are refused with ErrConflict.
	ETag azcore.ETag
}

// Erasure is an erasure in progress, kept on the row it erases so that it
// resumes after a crash and the row keeps fencing the user until the end.
type Erasure struct {
	// Kind is why: "disconnect", "offboard" or "retention".
	Kind string
	// By is who asked, pseudonymously ("user:u-…", "operator", "retention").
	By          string
	RequestedAt time.Time
	// VerifyAfter: a sync held the user's lease when the erasure took it;
	// the erasure looks again after this time (the lease's end plus one
	// lease duration) before it may finish.
	VerifyAfter time.Time
	// Counts is JSON: what the erasure deleted so far, per table and container.
	Counts string
}

// Connections is the connections table, and the due index that follows
// its active rows' NextSyncAt (SyncDueTable).
type Connections struct {
	table *aztables.Client
	due   *DueIndex
}

// NewConnections returns the connections table of db.
func NewConnections(db *DB) *Connections {
	return &Connections{table: db.Table(ConnectionsTable), due: NewDueIndex(db)}
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
		ConnectedAt: p.time("ConnectedAt"), NextSyncAt: p.time("NextSyncAt"),
		Erasure: Erasure{Kind: p.str("ErasureKind"), By: p.str("ErasureBy"), RequestedAt: p.time("ErasureRequestedAt"),
			VerifyAfter: p.time("ErasureVerifyAfter"), Counts: p.str("ErasureCounts")}}
}

// Put writes the whole connection: a fresh sign-in replaces every earlier
// state. With conn.ETag empty it creates the row and fails with
// ErrConflict if one exists; otherwise it replaces the row if it is still
// at conn.ETag (ErrConflict if not), so a sign-in never overwrites an
// erasure that began after it read the row. It returns the new ETag.
func (c *Connections) Put(ctx context.Context, conn Connection) (azcore.ETag, error) {
	p := map[string]any{"Status": conn.Status, "StatusReason": conn.StatusReason, "RefreshToken": aztables.EDMBinary(conn.RefreshToken),
		"KeyID": conn.KeyID, "OrgURL": conn.OrgURL, "DataverseUserID": conn.DataverseUserID, "UserName": conn.UserName}
	edmTime(p, "StatusChangedAt", conn.StatusChangedAt)
	edmTime(p, "ConnectedAt", conn.ConnectedAt)
	edmTime(p, "NextSyncAt", conn.NextSyncAt)
	entity := encode(conn.TenantID, conn.UserID, p)
	if conn.ETag == "" {
		resp, err := c.table.AddEntity(ctx, entity, nil)
		if err != nil {
			return "", mapErr(err, "put connection "+conn.TenantID+"/"+conn.UserID)
		}
		return resp.ETag, nil
	}
	etag := conn.ETag
	resp, err := c.table.UpdateEntity(ctx, entity, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		return "", mapErr(err, "put connection "+conn.TenantID+"/"+conn.UserID)
	}
	return resp.ETag, nil
}

// MarkErasing starts an erasure of the connection if the row is still at
// etag (ErrConflict otherwise): the status becomes erasing, which stops
// its syncs, uploads and API access at once, and its due index entry goes.
func (c *Connections) MarkErasing(ctx context.Context, tenant, user string, e Erasure, etag azcore.ETag) (azcore.ETag, error) {
	p := map[string]any{"Status": StatusErasing, "StatusReason": e.Kind, "ErasureKind": e.Kind, "ErasureBy": e.By, "ErasureCounts": e.Counts}
	edmTime(p, "StatusChangedAt", e.RequestedAt)
	edmTime(p, "ErasureRequestedAt", e.RequestedAt)
	etag, err := c.update(ctx, tenant, user, p, etag, "mark the connection erasing")
	if err == nil {
		c.unfile(ctx, tenant, user)
	}
	return etag, err
}

// unfile takes the connection out of the due index, at the minute of its
// NextSyncAt, now that it is no longer active. It is best effort: an
// entry left only queues a job its worker completes without work, until
// the scheduler's reconciliation deletes it.
func (c *Connections) unfile(ctx context.Context, tenant, user string) {
	if conn, err := c.Get(ctx, tenant, user); err == nil && !conn.NextSyncAt.IsZero() {
		_ = c.due.Delete(ctx, []DueEntry{DueEntryOf(tenant, user, conn.NextSyncAt)})
	}
}

// RecordErasure stores the progress of the erasure (verification time and
// counts) on the row, whatever its version: only the erasure writes an
// erasing row.
func (c *Connections) RecordErasure(ctx context.Context, tenant, user string, e Erasure) error {
	p := map[string]any{"ErasureCounts": e.Counts}
	edmTime(p, "ErasureVerifyAfter", e.VerifyAfter)
	_, err := c.update(ctx, tenant, user, p, azcore.ETagAny, "record the erasure's progress")
	return err
}

// Delete removes the connection, sealed refresh token included, and its
// due index entry. A row that is not there is not an error. The scheduler
// moves an entry without reading the connection (a run files the next
// entry, then moves the row's NextSyncAt), so the entry is found from the
// row: the one at its NextSyncAt is deleted first, then the row, only if
// it is still at the version read; a run that moved it meanwhile makes
// Delete read it again. A run that files an entry after the row is gone
// finds it gone when it moves NextSyncAt, and deletes that entry itself.
func (c *Connections) Delete(ctx context.Context, tenant, user string) error {
	for try := 1; ; try++ {
		conn, err := c.Get(ctx, tenant, user)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !conn.NextSyncAt.IsZero() {
			if err := c.due.Delete(ctx, []DueEntry{DueEntryOf(tenant, user, conn.NextSyncAt)}); err != nil {
				return err
			}
		}
		etag := conn.ETag
		_, err = c.table.DeleteEntity(ctx, tenant, user, &aztables.DeleteEntityOptions{IfMatch: &etag})
		switch err = mapErr(err, "delete connection "+tenant+"/"+user); {
		case errors.Is(err, ErrConflict) && try < 5: // moved meanwhile: read it again
		case errors.Is(err, ErrNotFound):
			return nil
		default:
			return err
		}
	}
}

// UpdateRefreshToken stores a rotated refresh token if the row is still at
// etag; otherwise it fails with ErrConflict and changes nothing, so a newer
// token written by another worker is never overwritten by an older one.
func (c *Connections) UpdateRefreshToken(ctx context.Context, tenant, user string, sealed []byte, keyID string, etag azcore.ETag) (azcore.ETag, error) {
	return c.update(ctx, tenant, user, map[string]any{"RefreshToken": aztables.EDMBinary(sealed), "KeyID": keyID}, etag, "update refresh token")
}

// MarkReauthRequired sets the connection to reauth_required with reason,
// if the row is still at etag (ErrConflict otherwise: someone signed in or
// refreshed meanwhile, and that newer state wins), and takes it out of the
// due index: nothing is synced until a sign-in files it again.
func (c *Connections) MarkReauthRequired(ctx context.Context, tenant, user, reason string, at time.Time, etag azcore.ETag) (azcore.ETag, error) {
	p := map[string]any{"Status": StatusReauthRequired, "StatusReason": reason}
	edmTime(p, "StatusChangedAt", at)
	etag, err := c.update(ctx, tenant, user, p, etag, "mark reauthorization required")
	if err == nil {
		c.unfile(ctx, tenant, user)
	}
	return etag, err
}

// Update merges the fields of conn set by the sign-in (status, org URL,
// Dataverse user, next sync) if the row is still at conn.ETag. An active
// connection with a next sync is then filed in the due index, after the
// row is written: a scheduler run in between finds the row active and
// due, never an entry whose row says otherwise. When the filing fails the
// row is written all the same and the error says so; the scheduler's
// hourly reconciliation files the connection (or the next sign-in does).
func (c *Connections) Update(ctx context.Context, conn Connection) (azcore.ETag, error) {
	p := map[string]any{"Status": conn.Status, "StatusReason": conn.StatusReason, "OrgURL": conn.OrgURL, "DataverseUserID": conn.DataverseUserID}
	edmTime(p, "StatusChangedAt", conn.StatusChangedAt)
	edmTime(p, "NextSyncAt", conn.NextSyncAt)
	etag, err := c.update(ctx, conn.TenantID, conn.UserID, p, conn.ETag, "update connection")
	if err != nil || conn.Status != StatusActive || conn.NextSyncAt.IsZero() {
		return etag, err
	}
	if err := c.due.Put(ctx, []DueEntry{DueEntryOf(conn.TenantID, conn.UserID, conn.NextSyncAt)}); err != nil {
		return etag, fmt.Errorf("the connection is stored but not yet scheduled: %w", err)
	}
	return etag, nil
}

func (c *Connections) update(ctx context.Context, tenant, user string, p map[string]any, etag azcore.ETag, what string) (azcore.ETag, error) {
	resp, err := c.table.UpdateEntity(ctx, encode(tenant, user, p), &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeMerge})
	if err != nil {
		return "", mapErr(err, what+" "+tenant+"/"+user)
	}
	return resp.ETag, nil
}

// Package storetest holds in-memory stand-ins of the store's tables for
// unit tests, with Table Storage's rules: every write gives the row a new
// ETag, and a write carrying a stale one fails with store.ErrConflict.
package storetest

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/pitcher/connector/internal/store"
)

// Connections is the connections table in memory (the methods of
// store.Connections that the engines use). It is safe for concurrent use.
type Connections struct {
	mu      sync.Mutex
	rows    map[string]store.Connection
	version int
}

// NewConnections returns an empty table.
func NewConnections() *Connections { return &Connections{rows: map[string]store.Connection{}} }

// Len is the number of rows.
func (m *Connections) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

// Get returns the row of user in tenant, or store.ErrNotFound.
func (m *Connections) Get(_ context.Context, tenant, user string) (store.Connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.rows[tenant+"/"+user]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

// Set writes c whatever is there (test set-up).
func (m *Connections) Set(c store.Connection) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version++
	c.ETag = azcore.ETag(strconv.Itoa(m.version))
	m.rows[c.TenantID+"/"+c.UserID] = c
}

// Put creates c (c.ETag empty) or replaces it if c.ETag is current.
func (m *Connections) Put(_ context.Context, c store.Connection) (azcore.ETag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.rows[c.TenantID+"/"+c.UserID]
	if ok != (c.ETag != "") || ok && cur.ETag != c.ETag {
		return "", store.ErrConflict
	}
	m.version++
	c.ETag = azcore.ETag(strconv.Itoa(m.version))
	m.rows[c.TenantID+"/"+c.UserID] = c
	return c.ETag, nil
}

// Update writes c's status, environment and next sync if its ETag is current.
func (m *Connections) Update(_ context.Context, c store.Connection) (azcore.ETag, error) {
	return m.change(c.TenantID, c.UserID, c.ETag, func(d *store.Connection) {
		d.Status, d.StatusReason, d.StatusChangedAt = c.Status, c.StatusReason, c.StatusChangedAt
		d.OrgURL, d.DataverseUserID, d.NextSyncAt = c.OrgURL, c.DataverseUserID, c.NextSyncAt
	})
}

// UpdateRefreshToken stores a rotated refresh token if etag is current.
func (m *Connections) UpdateRefreshToken(_ context.Context, tenant, user string, sealed []byte, keyID string, etag azcore.ETag) (azcore.ETag, error) {
	return m.change(tenant, user, etag, func(d *store.Connection) { d.RefreshToken, d.KeyID = sealed, keyID })
}

// MarkReauthRequired marks the row reauth_required if etag is current.
func (m *Connections) MarkReauthRequired(_ context.Context, tenant, user, reason string, at time.Time, etag azcore.ETag) (azcore.ETag, error) {
	return m.change(tenant, user, etag, func(d *store.Connection) {
		d.Status, d.StatusReason, d.StatusChangedAt = store.StatusReauthRequired, reason, at
	})
}

func (m *Connections) change(tenant, user string, etag azcore.ETag, f func(*store.Connection)) (azcore.ETag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.rows[tenant+"/"+user]
	if !ok {
		return "", store.ErrNotFound
	}
	if c.ETag != etag {
		return "", store.ErrConflict
	}
	f(&c)
	m.version++
	c.ETag = azcore.ETag(strconv.Itoa(m.version))
	m.rows[tenant+"/"+user] = c
	return c.ETag, nil
}

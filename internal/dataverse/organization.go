package dataverse

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// OrganizationSettings are the organization columns that limit the connector.
type OrganizationSettings struct {
	OrganizationID string `json:"organizationid"`
	// MaxUploadFileSize is the largest Base64 documentbody, in bytes.
	MaxUploadFileSize int64 `json:"maxuploadfilesize"`
	// ExpireChangeTrackingInDays is how long a delta token stays usable.
	ExpireChangeTrackingInDays int `json:"expirechangetrackingindays"`
}

// OrganizationSettings reads the organization row's limits.
func (c *Client) OrganizationSettings(ctx context.Context) (*OrganizationSettings, error) {
	var out struct {
		Value []OrganizationSettings `json:"value"`
	}
	if err := c.getJSON(ctx, "organizations?$select=maxuploadfilesize,expirechangetrackingindays", &out); err != nil {
		return nil, err
	}
	if len(out.Value) != 1 {
		return nil, fmt.Errorf("dataverse: organizations answered %d rows, want 1", len(out.Value))
	}
	return &out.Value[0], nil
}

// SettingsCache keeps each environment's OrganizationSettings for TTL:
// they change rarely, and reading them for every report or download would
// cost a Dataverse request each. Concurrent readers of one environment
// share one read. The zero value is not usable; use NewSettingsCache.
type SettingsCache struct {
	ttl     time.Duration
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]cachedSettings // by environment URL
	sf      singleflight.Group
}

type cachedSettings struct {
	s      OrganizationSettings
	readAt time.Time
}

// NewSettingsCache returns a cache keeping settings for ttl, on clock now
// (nil: time.Now).
func NewSettingsCache(ttl time.Duration, now func() time.Time) *SettingsCache {
	if now == nil {
		now = time.Now
	}
	return &SettingsCache{ttl: ttl, now: now, entries: map[string]cachedSettings{}}
}

// Get returns the settings of client's environment, read with client when
// the cached ones are older than the TTL. The read outlives a caller that
// gives up (the others may still wait for it) but not timeout.
func (c *SettingsCache) Get(ctx context.Context, client *Client, timeout time.Duration) (OrganizationSettings, error) {
	env := client.EnvironmentURL()
	c.mu.Lock()
	e, ok := c.entries[env]
	c.mu.Unlock()
	if ok && c.now().Sub(e.readAt) < c.ttl {
		return e.s, nil
	}
	v, err, _ := c.sf.Do(env, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		s, err := client.OrganizationSettings(ctx)
		if err != nil {
			return OrganizationSettings{}, err
		}
		c.mu.Lock()
		c.entries[env] = cachedSettings{s: *s, readAt: c.now()}
		c.mu.Unlock()
		return *s, nil
	})
	return v.(OrganizationSettings), err
}

package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"golang.org/x/sync/singleflight"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
)

// ConnectionStore is what the vault needs of the connections table.
type ConnectionStore interface {
	Get(ctx context.Context, tenant, user string) (store.Connection, error)
	UpdateRefreshToken(ctx context.Context, tenant, user string, sealed []byte, keyID string, etag azcore.ETag) (azcore.ETag, error)
	MarkReauthRequired(ctx context.Context, tenant, user, reason string, at time.Time, etag azcore.ETag) (azcore.ETag, error)
}

// Refresher redeems a refresh token for an access token to scopes.
type Refresher interface {
	Refresh(ctx context.Context, tenant, refreshToken string, scopes []string) (entra.Token, error)
}

var (
	_ ConnectionStore = (*store.Connections)(nil)
	_ Refresher       = (*entra.Client)(nil)
)

// earlyExpiry is how long before its expiry an access token is replaced,
// so a sync or upload never starts with a token about to lapse.
const earlyExpiry = 5 * time.Minute

// AccessToken is a bearer token for one resource.
type AccessToken struct {
	Token     string
	ExpiresAt time.Time
}

// ReauthRequiredError: Entra said the user's grant is gone
// (docs/reference/entra-multitenant-oauth.md §2.6); the connection is marked
// reauth_required with Reason and nothing will work for the user until they
// sign in again.
type ReauthRequiredError struct {
	TenantID, UserID string
	Reason           string // e.g. "invalid_grant AADSTS700082"
}

// Class is apperr.Reauth: only the user's signing in again helps.
func (e *ReauthRequiredError) Class() apperr.Class { return apperr.Class{Kind: apperr.Reauth} }

func (e *ReauthRequiredError) Error() string {
	return fmt.Sprintf("user %s of tenant %s must sign in again (%s)", e.UserID, e.TenantID, e.Reason)
}

// Vault hands out access tokens for connected users. Access tokens are
// kept in memory until 5 minutes before they expire; concurrent callers for
// one user and resource share one refresh; a rotated refresh token is
// written only if the stored one is still the one that was used (ETag), so
// of two workers refreshing at once neither loses a newer token. It is safe
// for concurrent use.
type Vault struct {
	conns  ConnectionStore
	entra  Refresher
	keys   *KeyRing
	logger *slog.Logger
	now    func() time.Time

	sf    singleflight.Group
	mu    sync.Mutex
	cache map[string]AccessToken
}

// NewVault returns a vault over conns that refreshes through r and seals
// with keys.
func NewVault(conns ConnectionStore, r Refresher, keys *KeyRing, logger *slog.Logger) *Vault {
	return &Vault{conns: conns, entra: r, keys: keys, logger: logger, now: time.Now, cache: map[string]AccessToken{}}
}

// aad binds a sealed refresh token to its row, so a token copied to
// another user's row does not open.
func aad(tenant, user string) []byte {
	return []byte("pitcher-connector/refresh-token/v1|" + tenant + "|" + user)
}

// SealRefreshToken seals rt for the connection of user in tenant.
func (v *Vault) SealRefreshToken(tenant, user, rt string) (sealed []byte, keyID string) {
	return v.keys.Seal([]byte(rt), aad(tenant, user))
}

// Remember caches an access token just obtained (at sign-in).
func (v *Vault) Remember(tenant, user, resource string, t AccessToken) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cache[cacheKey(tenant, user, resource)] = t
}

// Forget drops a cached access token, e.g. after the resource answered 401
// to it, so the next TokenFor refreshes.
func (v *Vault) Forget(tenant, user, resource string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.cache, cacheKey(tenant, user, resource))
}

// ForgetUser drops every cached access token of user (their erasure).
func (v *Vault) ForgetUser(tenant, user string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	prefix := cacheKey(tenant, user, "")
	for k := range v.cache {
		if strings.HasPrefix(k, prefix) {
			delete(v.cache, k)
		}
	}
}

func cacheKey(tenant, user, resource string) string { return tenant + "|" + user + "|" + resource }

// Scopes are the scopes asked for on refresh for resource (e.g.
// https://org.crm.dynamics.com): its delegated permission and offline_access.
func Scopes(resource string) []string {
	return []string{strings.TrimRight(resource, "/") + "/user_impersonation", "offline_access"}
}

// TokenFor returns an access token to resource for user of tenant. Errors:
// *ReauthRequiredError (the connection is marked), an apperr NotFound when
// the user never connected, an *UnknownKeyError or ErrTampered when the
// stored token cannot be opened (nothing is changed then), an apperr
// Throttled error (with Entra's Retry-After, if any) when Entra throttles,
// or a transient error from Entra or the store, or when ctx ends before the
// refresh answers (the refresh goes on, and its result is kept).
func (v *Vault) TokenFor(ctx context.Context, tenant, user, resource string) (AccessToken, error) {
	key := cacheKey(tenant, user, resource)
	if t, ok := v.cached(key); ok {
		return t, nil
	}
	// The refresh outlives a caller that gives up, so the others sharing it
	// still get its result and a rotated refresh token is stored; the
	// caller itself waits no longer than its ctx.
	ch := v.sf.DoChan(key, func() (any, error) {
		if t, ok := v.cached(key); ok {
			return t, nil
		}
		shared, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return v.refresh(shared, tenant, user, resource)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return AccessToken{}, res.Err
		}
		return res.Val.(AccessToken), nil
	case <-ctx.Done():
		return AccessToken{}, apperr.Wrap(apperr.Transient, ctx.Err(), "Entra ID did not answer the refresh in time")
	}
}

func (v *Vault) cached(key string) (AccessToken, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.cache[key]
	if ok && v.now().Before(t.ExpiresAt.Add(-earlyExpiry)) {
		return t, true
	}
	return AccessToken{}, false
}

// refresh redeems the stored refresh token. When the row changes under it
// (another worker rotated the token, or the user signed in again), it reads
// the newer row and tries once more.
func (v *Vault) refresh(ctx context.Context, tenant, user, resource string) (AccessToken, error) {
	log := v.logger.With("tenant", tenant, "user", user, "resource", resource)
	for attempt := 0; attempt < 3; attempt++ {
		conn, err := v.conns.Get(ctx, tenant, user)
		if errors.Is(err, store.ErrNotFound) {
			return AccessToken{}, apperr.E(apperr.NotFound, "user %s of tenant %s has not connected Dynamics; they must sign in", user, tenant)
		}
		if err != nil {
			return AccessToken{}, apperr.Wrap(apperr.Transient, err, "could not read the connection")
		}
		if conn.Status == store.StatusReauthRequired {
			return AccessToken{}, &ReauthRequiredError{TenantID: tenant, UserID: user, Reason: conn.StatusReason}
		}
		rt, err := v.keys.Open(conn.KeyID, conn.RefreshToken, aad(tenant, user))
		if err != nil {
			log.Error("stored refresh token does not open", "keyId", conn.KeyID, "error", err.Error())
			return AccessToken{}, fmt.Errorf("connection %s/%s: %w", tenant, user, err)
		}
		tok, err := v.entra.Refresh(ctx, tenant, string(rt), Scopes(resource))
		if err != nil {
			switch entra.Classify(err) {
			case entra.ReauthRequired, entra.ConsentRequired, entra.Blocked:
				reason := err.Error()
				var ee *entra.Error
				if errors.As(err, &ee) {
					reason = ee.Reason()
				}
				if conn.Status == store.StatusErasing {
					// An upload finishing during the user's erasure: the
					// erasure goes on; its status must stay.
					return AccessToken{}, &ReauthRequiredError{TenantID: tenant, UserID: user, Reason: reason}
				}
				_, merr := v.conns.MarkReauthRequired(ctx, tenant, user, reason, v.now(), conn.ETag)
				if errors.Is(merr, store.ErrConflict) {
					log.Info("connection changed while its refresh failed; retrying with the newer state", "reason", reason)
					continue
				}
				if merr != nil {
					return AccessToken{}, apperr.Wrap(apperr.Transient, merr, "could not mark the connection reauth_required")
				}
				log.WarnContext(ctx, "reauthorization required", "reason", reason)
				obs.Count(ctx, log, obs.MetricReauthorizations, 1, slog.String("reason", reason))
				return AccessToken{}, &ReauthRequiredError{TenantID: tenant, UserID: user, Reason: reason}
			case entra.ClientMisconfigured:
				return AccessToken{}, apperr.Wrap(apperr.Permanent, err, "Entra refused the app's own credentials; check ENTRA_CLIENT_ID and ENTRA_CLIENT_SECRET")
			case entra.Transient:
				return AccessToken{}, apperr.Wrap(apperr.Transient, err, "Entra is unavailable; try again later")
			case entra.Throttled:
				e := apperr.Wrap(apperr.Throttled, err, "Entra is throttling token requests; try again later")
				var ee *entra.Error
				if errors.As(err, &ee) {
					e.RetryAfter = ee.RetryAfter
				}
				return AccessToken{}, e
			}
			var ee *entra.Error
			if errors.As(err, &ee) {
				return AccessToken{}, apperr.Wrap(apperr.Permanent, err, "Entra refused the refresh")
			}
			return AccessToken{}, apperr.Wrap(apperr.Transient, err, "could not reach Entra")
		}
		if tok.RefreshToken != "" && tok.RefreshToken != string(rt) {
			sealed, kid := v.SealRefreshToken(tenant, user, tok.RefreshToken)
			_, err := v.conns.UpdateRefreshToken(ctx, tenant, user, sealed, kid, conn.ETag)
			switch {
			case errors.Is(err, store.ErrConflict):
				// Another worker stored its rotated token first. Entra keeps
				// old refresh tokens valid, so both work; keep theirs.
				log.Debug("rotated refresh token not stored: a newer one is already there")
			case err != nil:
				log.Warn("could not store the rotated refresh token; the previous one stays in use", "error", err.Error())
			}
		}
		at := AccessToken{Token: tok.AccessToken, ExpiresAt: tok.ExpiresAt}
		v.Remember(tenant, user, resource, at)
		log.DebugContext(ctx, "access token refreshed", "expiresAt", at.ExpiresAt)
		obs.Count(ctx, log, obs.MetricTokenRefreshes, 1)
		return at, nil
	}
	return AccessToken{}, apperr.E(apperr.Transient, "the connection of user %s kept changing during the refresh; try again", user)
}

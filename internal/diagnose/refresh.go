package diagnose

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
)

// redeemGate remembers the diagnostics' last redeem of each user's refresh
// token, so that a user's own reports redeem it at most once per
// OwnRefreshEvery, and runs one redeem per user at a time. It lives in the
// Doctor, so it holds per handler instance (a scaled-out app's instances
// each redeem at most that often). The zero value is ready.
type redeemGate struct {
	sf   singleflight.Group
	mu   sync.Mutex
	last map[string]redeemed
}

// redeemed is one redeem by the diagnostics: when, for which sign-in of
// the user, and its error (nil: Entra issued a token).
type redeemed struct {
	at          time.Time
	connectedAt time.Time
	err         error
}

type redeemFlight struct {
	redeemed
	fresh bool
}

// redeem redeems the user's refresh token through the vault (Forget, then
// TokenFor: a refresh now, not a cached token) and remembers the result.
// Unless always, a redeem of the same sign-in (the connection's
// ConnectedAt) younger than OwnRefreshEvery is answered instead, with
// fresh false. Concurrent callers for one user share one redeem; an always
// caller that met only a remembered result redeems anew. The redeem
// outlives a caller that gives up (as the vault's refresh does).
func (d *Doctor) redeem(ctx context.Context, src tokens.Source, c store.Connection, always bool) (redeemed, bool) {
	key := c.TenantID + "|" + c.UserID
	g := &d.redeems
	if !always {
		if m, ok := g.recent(key, c, d.now()); ok {
			return m, false
		}
	}
	var f redeemFlight
	for range 3 { // an always caller may join a flight that only looked up
		v, _, _ := g.sf.Do(key, func() (any, error) {
			if !always {
				if m, ok := g.recent(key, c, d.now()); ok {
					return redeemFlight{redeemed: m}, nil
				}
			}
			_, err := src.Token(ctx, true)
			m := redeemed{at: d.now(), connectedAt: c.ConnectedAt, err: err}
			g.remember(key, m)
			return redeemFlight{redeemed: m, fresh: true}, nil
		})
		if f = v.(redeemFlight); f.fresh || !always {
			break
		}
	}
	return f.redeemed, f.fresh
}

// recent returns the last redeem of key's current sign-in if it is younger
// than OwnRefreshEvery.
func (g *redeemGate) recent(key string, c store.Connection, now time.Time) (redeemed, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.last[key]
	if !ok || !m.connectedAt.Equal(c.ConnectedAt) || now.Sub(m.at) >= OwnRefreshEvery || now.Before(m.at) {
		return redeemed{}, false
	}
	return m, true
}

func (g *redeemGate) remember(key string, m redeemed) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil {
		g.last = map[string]redeemed{}
	}
	for k, old := range g.last { // keep the map small: drop what no longer counts
		if m.at.Sub(old.at) >= OwnRefreshEvery {
			delete(g.last, k)
		}
	}
	g.last[key] = m
}

// ownIssuer is the vault as a user's own report uses it: a token Dataverse
// refuses stays (Forget does nothing), so the Dataverse client's retry
// with a "fresh" token does not redeem the refresh token; the refusal is
// reported as it is.
type ownIssuer struct{ tokens.Issuer }

func (ownIssuer) Forget(string, string, string) {}

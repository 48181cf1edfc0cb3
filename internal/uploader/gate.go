package uploader

import (
	"sync"
	"time"
)

// gate remembers, per user and environment, until when Dataverse has asked
// this process to hold off (the Retry-After of a 429 too long to wait out).
// Uploads of that user met meanwhile are rescheduled for that time without
// a request Dataverse would refuse anyway. Dataverse's limits are per user,
// so one user's throttling never delays another's uploads.
type gate struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func gateKey(o Owner) string { return o.OrgURL + "|" + o.TenantID + "|" + o.UserID }

// closedUntil returns when o may send again, if that is after now.
func (g *gate) closedUntil(o Owner, now time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.until[gateKey(o)]
	if !ok || !t.After(now) {
		delete(g.until, gateKey(o))
		return time.Time{}, false
	}
	return t, true
}

// close holds o off until t.
func (g *gate) close(o Owner, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.until[gateKey(o)]) {
		g.until[gateKey(o)] = t
	}
}

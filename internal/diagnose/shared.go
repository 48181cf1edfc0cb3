package diagnose

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Runner runs the checks for a target.
type Runner interface {
	Run(ctx context.Context, target Target) Report
}

var _ Runner = (*Doctor)(nil)

// Shared puts a Runner behind the HTTP function: concurrent requests for
// one target share one run, and a report younger than TTL is answered
// again, so an app retrying its "connection problems?" screen, or many
// users at once, cannot turn the diagnostics into a flood of token
// refreshes and Dataverse requests. It is safe for concurrent use.
type Shared struct {
	Runner Runner
	// TTL is how long a report is reused (0: never).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	sf      singleflight.Group
	mu      sync.Mutex
	reports map[Target]Report
}

// Run returns a report for target no older than TTL.
func (s *Shared) Run(ctx context.Context, target Target) Report {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.mu.Lock()
	if r, ok := s.reports[target]; ok && now().Sub(r.At) < s.TTL {
		s.mu.Unlock()
		return r
	}
	s.mu.Unlock()
	v, _, _ := s.sf.Do(target.TenantID+"|"+target.UserID, func() (any, error) {
		// The run outlives one caller that gives up; the others still get it.
		r := s.Runner.Run(context.WithoutCancel(ctx), target)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.reports == nil {
			s.reports = map[Target]Report{}
		}
		for t, old := range s.reports { // keep the map small: drop what expired
			if now().Sub(old.At) >= s.TTL {
				delete(s.reports, t)
			}
		}
		s.reports[target] = r
		return r, nil
	})
	return v.(Report)
}

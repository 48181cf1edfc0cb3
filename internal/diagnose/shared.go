package diagnose

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Runner runs the checks for a target: the full report (Run) or the
// target user's own (RunOwn).
type Runner interface {
	Run(ctx context.Context, target Target) Report
	RunOwn(ctx context.Context, target Target) Report
}

var _ Runner = (*Doctor)(nil)

// Shared puts a Runner behind the HTTP function: concurrent requests for
// one target and view share one run, and a report younger than its view's
// TTL is answered again, so an app retrying its "connection problems?"
// screen, or many users at once, cannot turn the diagnostics into a flood
// of token refreshes and Dataverse requests. The two views never answer
// from each other's reports. Reports are kept in memory, so per handler
// instance. It is safe for concurrent use.
type Shared struct {
	Runner Runner
	// TTL is how long a full report (the diagnostics key) is reused;
	// OwnTTL how long a user's own (their device token). 0: never.
	TTL, OwnTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	sf      singleflight.Group
	mu      sync.Mutex
	reports map[sharedKey]sharedReport
}

type sharedKey struct {
	own bool
	Target
}

type sharedReport struct {
	Report
	until time.Time
}

// Run returns a full report for target no older than TTL.
func (s *Shared) Run(ctx context.Context, target Target) Report {
	return s.run(ctx, sharedKey{Target: target}, s.TTL, s.Runner.Run)
}

// RunOwn returns the target user's own report no older than OwnTTL.
func (s *Shared) RunOwn(ctx context.Context, target Target) Report {
	return s.run(ctx, sharedKey{own: true, Target: target}, s.OwnTTL, s.Runner.RunOwn)
}

func (s *Shared) run(ctx context.Context, key sharedKey, ttl time.Duration, runner func(context.Context, Target) Report) Report {
	if r, ok := s.cached(key); ok {
		return r
	}
	flight := "full|"
	if key.own {
		flight = "own|"
	}
	v, _, _ := s.sf.Do(flight+key.TenantID+"|"+key.UserID, func() (any, error) {
		// A run that ended between this caller's look and its flight has
		// left its report: answer it rather than run again.
		if r, ok := s.cached(key); ok {
			return r, nil
		}
		// The run outlives one caller that gives up; the others still get it.
		r := runner(context.WithoutCancel(ctx), key.Target)
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		if s.reports == nil {
			s.reports = map[sharedKey]sharedReport{}
		}
		for k, old := range s.reports { // keep the map small: drop what expired
			if !now.Before(old.until) {
				delete(s.reports, k)
			}
		}
		if ttl > 0 {
			s.reports[key] = sharedReport{Report: r, until: now.Add(ttl)}
		}
		return r, nil
	})
	return v.(Report)
}

func (s *Shared) cached(key sharedKey) (Report, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reports[key]
	if !ok || !s.now().Before(r.until) {
		return Report{}, false
	}
	return r.Report, true
}

func (s *Shared) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

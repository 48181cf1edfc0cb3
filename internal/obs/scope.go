package obs

import (
	"context"
	"sync"
)

// Scope is what the connector knows about the invocation (or HTTP
// request) it is serving: set by the handlers' edge when it starts, and
// completed by whoever learns the user and the outcome. The log handler
// adds it to every line logged with the invocation's context. Its methods
// are safe for concurrent use and do nothing on a nil Scope.
type Scope struct {
	Function     string
	InvocationID string

	mu           sync.Mutex
	tenant, user string
	outcome      string
}

type scopeKey struct{}

// WithScope returns ctx carrying s.
func WithScope(ctx context.Context, s *Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

// ScopeFrom returns the scope ctx carries, or nil.
func ScopeFrom(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// SetUser records whose invocation it is: the user's object id in tenant
// (logged as a pseudonym, never as it is).
func (s *Scope) SetUser(tenant, user string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant, s.user = tenant, user
}

// User returns the tenant and user recorded by SetUser.
func (s *Scope) User() (tenant, user string) {
	if s == nil {
		return "", ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenant, s.user
}

// SetOutcome records what the invocation came to, in one word
// ("synced", "parked", ...).
func (s *Scope) SetOutcome(outcome string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcome = outcome
}

// Outcome returns what SetOutcome recorded.
func (s *Scope) Outcome() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outcome
}

// SetUser records the user of ctx's invocation, if it has a scope.
func SetUser(ctx context.Context, tenant, user string) { ScopeFrom(ctx).SetUser(tenant, user) }

// SetOutcome records the outcome of ctx's invocation, if it has a scope.
func SetOutcome(ctx context.Context, outcome string) { ScopeFrom(ctx).SetOutcome(outcome) }

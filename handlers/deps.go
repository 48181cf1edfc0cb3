package handlers

import (
	"context"
	"net/url"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/signin"
)

// SignIn runs the consent and sign-in flows (internal/signin).
type SignIn interface {
	StartConsent(ctx context.Context, tenant string) (string, error)
	FinishConsent(ctx context.Context, q url.Values) (signin.ConsentResult, error)
	StartLogin(ctx context.Context, r signin.LoginRequest) (string, error)
	FinishLogin(ctx context.Context, q url.Values) (signin.LoginResult, error)
}

// Authenticator checks the Authorization header of API calls (internal/apiauth).
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (apiauth.Caller, error)
}

var (
	_ SignIn        = (*signin.Service)(nil)
	_ Authenticator = (*apiauth.Authenticator)(nil)
)

// Deps are the engines the functions use. A nil member leaves its
// functions answering 501, naming themselves.
type Deps struct {
	SignIn SignIn
	Auth   Authenticator
	// PublicBaseURL is where browsers reach the app (links on pages).
	PublicBaseURL string
	// Scheduler, SyncWorker and Changes run the downstream sync and serve
	// its change log.
	Scheduler  Scheduling
	SyncWorker SyncRunner
	Changes    ChangeLog
}

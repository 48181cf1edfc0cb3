package dataverse

import "context"

// TokenSource supplies the bearer tokens for one Dataverse environment and
// one caller (an application, or a user through a token vault).
//
// Token returns a valid access token for the environment's resource. The
// client calls it before every request, so it must be cheap when it has a
// cached token (golang.org/x/oauth2's ReuseTokenSource is the model). When
// forceRefresh is true, Dataverse has just rejected the token it returned
// (401): the source must not return the same token again but obtain a new
// one. The client does this once per request, then gives up with the 401.
// Token must be safe for concurrent use; many requests may force a refresh
// at once, so a source should collapse them (x/sync/singleflight).
//
// An error from Token fails the request with that error, wrapped with the
// request's method and path but never turned into an *Error: whether the
// user must sign in again or Entra is unavailable is the source's to say,
// and errors.As and apperr.KindOf see its own error.
//
// A per-user vault adapts in a few lines:
//
//	dataverse.TokenFunc(func(ctx context.Context, force bool) (string, error) {
//		if force {
//			vault.Invalidate(tenant, user, resource)
//		}
//		return vault.TokenFor(ctx, tenant, user, resource)
//	})
type TokenSource interface {
	Token(ctx context.Context, forceRefresh bool) (string, error)
}

// TokenFunc adapts a function to TokenSource.
type TokenFunc func(ctx context.Context, forceRefresh bool) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context, forceRefresh bool) (string, error) {
	return f(ctx, forceRefresh)
}

// StaticToken is a TokenSource that always returns the same token, for
// tools and tests; it cannot refresh.
type StaticToken string

// Token returns the token.
func (s StaticToken) Token(context.Context, bool) (string, error) { return string(s), nil }

var (
	_ TokenSource = TokenFunc(nil)
	_ TokenSource = StaticToken("")
)

// Package apiauth authenticates the Pitcher app's calls to the connector's
// API: an Entra access token for this app (audience its client id or App ID
// URI, a v2 issuer of the token's own tenant, the API scope) that Entra
// issued to one of the Pitcher apps, from a tenant that approved the app,
// for a user who connected Dynamics.
package apiauth

import (
	"context"
	"errors"
	"strings"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
)

// Caller is the authenticated user of an API request. Every lookup of user
// data must use both ids (tid is part of the key:
// docs/reference/entra-multitenant-oauth.md §3.1).
type Caller struct {
	TenantID string
	UserID   string // Entra object id (oid)
	// ConnectionStatus is the user's connection status: active, or
	// reauth_required (their data can still be read; uploads park).
	ConnectionStatus string
	// OrgURL is the user's Dynamics environment.
	OrgURL string
}

// AccessVerifier validates access tokens for this app's API.
type AccessVerifier interface {
	VerifyAccessToken(ctx context.Context, raw, scope string, clients []string) (entra.AccessClaims, error)
}

// TenantReader reads approvals.
type TenantReader interface {
	Get(ctx context.Context, id string) (store.Tenant, error)
}

// ConnectionReader reads connections.
type ConnectionReader interface {
	Get(ctx context.Context, tenant, user string) (store.Connection, error)
}

var (
	_ AccessVerifier   = (*entra.Verifier)(nil)
	_ TenantReader     = (*store.Tenants)(nil)
	_ ConnectionReader = (*store.Connections)(nil)
)

// Error is a refusal, with what the WWW-Authenticate header says (RFC 6750 §3).
type Error struct {
	Err *apperr.Error
	// Challenge is the error attribute: "" (no credentials sent),
	// "invalid_request", "invalid_token" or "insufficient_scope".
	Challenge string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Authenticator checks bearer tokens. It is safe for concurrent use.
type Authenticator struct {
	Verifier    AccessVerifier
	Tenants     TenantReader
	Connections ConnectionReader
	// Scope is the delegated scope every token must carry.
	Scope string
	// Clients are the applications (client ids) whose tokens are
	// accepted: a token Entra issued to any other app a user consented to
	// is refused like a token for another API. None accepts no token.
	Clients []string
}

// Authenticate checks the Authorization header value. A refusal is an
// *Error (Unauthorized: no or bad token; Forbidden: tenant not approved or
// user not connected); a failure to check is a Transient apperr.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (Caller, error) {
	claims, err := a.verify(ctx, authorization)
	if err != nil {
		return Caller{}, err
	}
	t, err := a.Tenants.Get(ctx, claims.TenantID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Caller{}, apperr.Wrap(apperr.Transient, err, "could not read the organisation's approval; try again")
	}
	if !t.Consented() {
		return Caller{}, refuse(apperr.Forbidden, "insufficient_scope", "your organisation ("+claims.TenantID+") has not approved the Pitcher connector; an administrator must approve it first")
	}
	c, err := a.Connections.Get(ctx, claims.TenantID, claims.ObjectID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Caller{}, refuse(apperr.Forbidden, "insufficient_scope", "you have not connected Dynamics yet; sign in to the connector first")
	case err != nil:
		return Caller{}, apperr.Wrap(apperr.Transient, err, "could not read your connection; try again")
	case c.Status == store.StatusErasing:
		return Caller{}, refuse(apperr.Forbidden, "insufficient_scope", "you disconnected Dynamics 365 and your data is being erased; sign in again to connect anew")
	case c.Status == store.StatusPending && c.OrgURL == "",
		c.Status != store.StatusActive && c.Status != store.StatusReauthRequired && c.Status != store.StatusPending:
		// A pending connection with an environment is one that worked
		// before and whose user is signing in again: served as before.
		return Caller{}, refuse(apperr.Forbidden, "insufficient_scope", "your sign-in to the connector did not finish; sign in again")
	}
	return Caller{TenantID: claims.TenantID, UserID: claims.ObjectID, ConnectionStatus: c.Status, OrgURL: c.OrgURL}, nil
}

// Identify checks only the access token and names its user, whatever
// their organisation's approval or connection: for the calls about the
// connection itself (GET and DELETE /api/connection), which a user must be
// able to make when there is nothing left to connect to.
func (a *Authenticator) Identify(ctx context.Context, authorization string) (Caller, error) {
	claims, err := a.verify(ctx, authorization)
	if err != nil {
		return Caller{}, err
	}
	return Caller{TenantID: claims.TenantID, UserID: claims.ObjectID}, nil
}

// verify checks the Authorization header's bearer token.
func (a *Authenticator) verify(ctx context.Context, authorization string) (entra.AccessClaims, error) {
	scheme, raw, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	switch {
	case authorization == "":
		return entra.AccessClaims{}, refuse(apperr.Unauthorized, "", "this API needs an Entra access token for the Pitcher connector: send Authorization: Bearer <token>")
	case !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "":
		return entra.AccessClaims{}, refuse(apperr.Unauthorized, "invalid_request", "the Authorization header must be Bearer <token>")
	}
	claims, err := a.Verifier.VerifyAccessToken(ctx, strings.TrimSpace(raw), a.Scope, a.Clients)
	if err != nil {
		var it *entra.InvalidTokenError
		if errors.As(err, &it) {
			return entra.AccessClaims{}, refuse(apperr.Unauthorized, "invalid_token", "the access token is not valid: "+it.Reason)
		}
		return entra.AccessClaims{}, apperr.Wrap(apperr.Transient, err, "the access token cannot be checked right now; try again")
	}
	return claims, nil
}

func refuse(kind apperr.Kind, challenge, msg string) *Error {
	return &Error{Err: apperr.E(kind, "%s", msg), Challenge: challenge}
}

package tokens

import "context"

// Issuer hands out users' access tokens: the Vault, or a test's stand-in.
type Issuer interface {
	// TokenFor returns an access token to resource for user of tenant.
	TokenFor(ctx context.Context, tenant, user, resource string) (AccessToken, error)
	// Forget drops the cached token, so that the next TokenFor refreshes.
	Forget(tenant, user, resource string)
}

var _ Issuer = (*Vault)(nil)

// Source is one user's access tokens for one resource (their Dynamics
// environment), in the shape the Dataverse client asks for
// (dataverse.TokenSource). The sync, the uploads and the diagnostics all
// reach Dataverse through it.
type Source struct {
	Issuer                     Issuer
	TenantID, UserID, Resource string
}

// Token returns the user's access token. When force is set, Dataverse has
// just refused the token (401), so the cached one is dropped first and a
// fresh one obtained. Errors are TokenFor's.
func (s Source) Token(ctx context.Context, force bool) (string, error) {
	if force {
		s.Issuer.Forget(s.TenantID, s.UserID, s.Resource)
	}
	t, err := s.Issuer.TokenFor(ctx, s.TenantID, s.UserID, s.Resource)
	return t.Token, err
}

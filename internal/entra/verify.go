package entra

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// InvalidTokenError says why a token was rejected, in words safe to log
// and to show the caller; it never contains the token.
type InvalidTokenError struct {
	Reason string
}

func (e *InvalidTokenError) Error() string { return "invalid token: " + e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidTokenError{Reason: fmt.Sprintf(format, args...)}
}

// Verifier checks tokens issued by Entra to this app, as
// docs/reference/entra-multitenant-oauth.md §3 prescribes for a multi-tenant
// app: an RS256 signature by a key published in the JWKS; the key's issuer; a
// tid that is a GUID; iss equal to the authority's issuer for that tid; the
// audience; exp and nbf with a small clock skew. It is safe for concurrent
// use.
type Verifier struct {
	authority Authority
	keys      *KeySet
	clientID  string
	appIDURI  string
	now       func() time.Time
	// Skew is the clock difference tolerated on exp and nbf.
	Skew time.Duration
}

// NewVerifier returns a verifier for tokens whose audience is clientID (ID
// tokens, and v2 access tokens for this app's API) or appIDURI (may be "").
func NewVerifier(a Authority, keys *KeySet, clientID, appIDURI string) *Verifier {
	return &Verifier{authority: a, keys: keys, clientID: clientID, appIDURI: appIDURI, now: time.Now, Skew: 2 * time.Minute}
}

// IDClaims are the claims of a validated ID token that the app relies on.
// Users are identified by TenantID + ObjectID, never by name or email.
type IDClaims struct {
	TenantID          string
	ObjectID          string
	Name              string
	PreferredUsername string
	// DirectoryRoles are the template ids of the user's directory roles
	// (the wids claim), present only when the app registration asks for
	// them (groupMembershipClaims DirectoryRole or All). See
	// CanApproveForOrganisation.
	DirectoryRoles []string
}

type entraClaims struct {
	jwt.RegisteredClaims
	TenantID          string   `json:"tid"`
	ObjectID          string   `json:"oid"`
	Nonce             string   `json:"nonce"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Scope             string   `json:"scp"`
	Roles             []string `json:"roles"`
	DirectoryRoles    []string `json:"wids"`
	AuthorizedParty   string   `json:"azp"`
	AppID             string   `json:"appid"`
	Version           string   `json:"ver"`
}

// client is the application the token was issued to: azp in a v2 access
// token, appid in a v1 one.
func (c *entraClaims) client() string {
	if c.AuthorizedParty != "" {
		return c.AuthorizedParty
	}
	return c.AppID
}

// VerifyIDToken validates raw as an ID token for this app carrying nonce
// (compared in constant time; go-oidc leaves this to the caller). The error
// is an *InvalidTokenError, or a JWKS fetch error.
func (v *Verifier) VerifyIDToken(ctx context.Context, raw, nonce string) (IDClaims, error) {
	c, err := v.verify(ctx, raw, []string{v.clientID})
	if err != nil {
		return IDClaims{}, err
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return IDClaims{}, invalid("the nonce does not match the one sent with the sign-in request")
	}
	if !isGUID(c.ObjectID) {
		return IDClaims{}, invalid("oid is not a GUID; request the profile scope")
	}
	return IDClaims{TenantID: c.TenantID, ObjectID: c.ObjectID, Name: c.Name, PreferredUsername: c.PreferredUsername,
		DirectoryRoles: c.DirectoryRoles}, nil
}

// AccessClaims are the claims of a validated access token for this app's API.
type AccessClaims struct {
	TenantID string
	ObjectID string
	Scopes   []string
	AppID    string // azp: the client application that asked for the token, one of the allowed
}

// VerifyAccessToken validates raw as a delegated v2 access token for this
// app's API (audience the client id or the App ID URI), issued to one of
// the applications clients (azp; appid in a v1 token, which is refused
// anyway) and carrying scope in scp. App-only tokens (no scp) are refused.
func (v *Verifier) VerifyAccessToken(ctx context.Context, raw, scope string, clients []string) (AccessClaims, error) {
	auds := []string{v.clientID}
	if v.appIDURI != "" {
		auds = append(auds, v.appIDURI)
	}
	c, err := v.verify(ctx, raw, auds)
	if err != nil {
		return AccessClaims{}, err
	}
	// Before the version: whatever else is wrong with it, a token of
	// another application is refused as such, and its log names the app.
	switch app := c.client(); {
	case app == "":
		return AccessClaims{}, invalid("the token names no application (azp); only the Pitcher apps may call this API")
	case !slices.Contains(clients, strings.ToLower(app)):
		return AccessClaims{}, invalid("the token was issued to the application %s, which may not call this API; only the Pitcher apps may (API_ALLOWED_CLIENT_IDS)", clean(app, 40))
	}
	if c.Version != "2.0" {
		return AccessClaims{}, invalid("ver is %q, want 2.0; set accessTokenAcceptedVersion to 2 in the API's app manifest", clean(c.Version, 8))
	}
	if !isGUID(c.ObjectID) {
		return AccessClaims{}, invalid("oid is not a GUID")
	}
	scopes := strings.Fields(c.Scope)
	if len(scopes) == 0 {
		return AccessClaims{}, invalid("the token has no delegated scope (scp); app-only tokens are not accepted")
	}
	found := false
	for _, s := range scopes {
		found = found || s == scope
	}
	if !found {
		return AccessClaims{}, invalid("the token lacks the scope %q", scope)
	}
	return AccessClaims{TenantID: c.TenantID, ObjectID: c.ObjectID, Scopes: scopes, AppID: strings.ToLower(c.client())}, nil
}

func (v *Verifier) verify(ctx context.Context, raw string, audiences []string) (*entraClaims, error) {
	if raw == "" || len(raw) > 16<<10 {
		return nil, invalid("the token is empty or too long")
	}
	var key signingKey
	claims := &entraClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, invalid("the token header has no kid")
		}
		k, err := v.keys.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		key = k
		return k.key, nil
	})
	if err != nil {
		var it *InvalidTokenError
		var fetchErr *KeyFetchError
		switch {
		case errors.As(err, &fetchErr):
			return nil, fetchErr
		case errors.As(err, &it):
			return nil, it
		case errors.Is(err, errUnknownKey):
			return nil, invalid("%v", errUnknownKey)
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return nil, invalid("the signature does not verify")
		}
		return nil, invalid("the token is malformed or not signed with RS256")
	}
	if !isGUID(claims.TenantID) {
		return nil, invalid("tid is not a GUID")
	}
	iss := v.authority.Issuer(claims.TenantID)
	if claims.Issuer != iss {
		return nil, invalid("iss %q is not %q, the issuer of tenant %s", clean(claims.Issuer, 200), iss, claims.TenantID)
	}
	if key.issuer != "" && key.issuer != iss && strings.ReplaceAll(key.issuer, "{tenantid}", claims.TenantID) != iss {
		return nil, invalid("the signing key may not sign for issuer %q", iss)
	}
	audOK := false
	for _, a := range claims.Audience {
		for _, want := range audiences {
			audOK = audOK || a == want
		}
	}
	if !audOK {
		return nil, invalid("aud %q is not this app (%s)", clean(strings.Join(claims.Audience, ","), 200), strings.Join(audiences, " or "))
	}
	now := v.now()
	if claims.ExpiresAt == nil {
		return nil, invalid("the token has no exp")
	}
	if now.After(claims.ExpiresAt.Add(v.Skew)) {
		return nil, invalid("the token expired at %s", claims.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if claims.NotBefore != nil && now.Before(claims.NotBefore.Add(-v.Skew)) {
		return nil, invalid("the token is not valid before %s", claims.NotBefore.UTC().Format(time.RFC3339))
	}
	return claims, nil
}

// isGUID reports whether s is a GUID in its canonical 36-character form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// IsGUID reports whether s is a GUID in its canonical 36-character form,
// the form Entra uses for tenant and object ids.
func IsGUID(s string) bool { return isGUID(s) }

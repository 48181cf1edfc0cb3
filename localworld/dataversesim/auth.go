package dataversesim

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// AuthOptions say how the simulator checks bearer tokens.
type AuthOptions struct {
	// InsecureAnyToken accepts any bearer token, for trying things by hand.
	// The caller is the token's oid/tid claims when it is a JWT (unverified),
	// else a user derived from the token text.
	InsecureAnyToken bool
	// JWKSURL is where the RSA keys that sign access tokens are published
	// (Entra's, or the Entra simulator's). Tokens must be RS256, unexpired,
	// carry GUID tid and oid claims, and have aud equal to Audience.
	JWKSURL string
	// Audience is the required aud claim; empty means the simulator's own
	// base URL as the client reached it (e.g. http://127.0.0.1:7073), with
	// or without a trailing slash, as Dataverse requires its org URL.
	Audience string
	// Authority goes into the WWW-Authenticate challenge of a 401;
	// empty means https://login.microsoftonline.com.
	Authority string
	// HTTPClient fetches the JWKS; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
}

// user is the caller: the token's tenant and object id.
type user struct {
	tenant string
	oid    string
}

func (u user) key() string { return u.tenant + "/" + u.oid }

// authenticator checks the Authorization header of every API request.
type authenticator struct {
	opts AuthOptions
	now  func() time.Time

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time
}

func newAuthenticator(o AuthOptions, now func() time.Time) *authenticator {
	if o.Authority == "" {
		o.Authority = "https://login.microsoftonline.com"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &authenticator{opts: o, now: now, keys: map[string]*rsa.PublicKey{}}
}

// authenticate returns the caller of r, or the 401 to answer with.
func (a *authenticator) authenticate(r *http.Request) (user, *apiError) {
	resource := baseURL(r)
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		return user{}, a.challenge(resource, "common", codeNone, "Bearer token is missing from the Authorization header.")
	}
	if a.opts.InsecureAnyToken {
		return insecureUser(raw), nil
	}
	if a.opts.JWKSURL == "" {
		return user{}, a.challenge(resource, "common", codeNone, "The simulator has no JWKS URL to verify tokens with.")
	}
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(a.now))
	_, err := parser.ParseWithClaims(raw, claims, a.keyFor(r.Context()))
	tid, _ := claims["tid"].(string)
	if tid == "" {
		tid = "common"
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return user{}, a.challenge(resource, tid, codeAccessTokenExpiry, "The requested resource requires authentication.")
	case err != nil:
		return user{}, a.challenge(resource, tid, codeNone, "The access token is invalid: "+err.Error())
	}
	want := a.opts.Audience
	if want == "" {
		want = resource
	}
	if !audienceMatches(claims, want) {
		return user{}, a.challenge(resource, tid, codeNone, fmt.Sprintf("The access token's audience is not %s.", want))
	}
	oid, _ := claims["oid"].(string)
	if _, ok := canonicalID(tid); !ok {
		return user{}, a.challenge(resource, "common", codeNone, "The access token has no tenant (tid) GUID.")
	}
	if _, ok := canonicalID(oid); !ok {
		return user{}, a.challenge(resource, tid, codeNone, "The access token has no object id (oid) GUID.")
	}
	return user{tenant: strings.ToLower(tid), oid: strings.ToLower(oid)}, nil
}

func audienceMatches(claims jwt.MapClaims, want string) bool {
	auds, err := claims.GetAudience()
	if err != nil {
		return false
	}
	want = strings.TrimSuffix(want, "/")
	for _, aud := range auds {
		if strings.TrimSuffix(aud, "/") == want {
			return true
		}
	}
	return false
}

// challenge is a 401 with the bearer challenge Dataverse sends.
func (a *authenticator) challenge(resource, tenant, code, message string) *apiError {
	e := errf(http.StatusUnauthorized, code, "%s", message)
	e.header = http.Header{}
	e.header.Set("WWW-Authenticate", fmt.Sprintf("Bearer authorization_uri=%s/%s/oauth2/authorize, resource_id=%s/", strings.TrimSuffix(a.opts.Authority, "/"), tenant, resource))
	return e
}

// insecureUser names the caller of an unverified token.
func insecureUser(raw string) user {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err == nil {
		tid, _ := claims["tid"].(string)
		oid, _ := claims["oid"].(string)
		t, ok1 := canonicalID(tid)
		o, ok2 := canonicalID(oid)
		if ok1 && ok2 {
			return user{tenant: t, oid: o}
		}
	}
	sum := sha256.Sum256([]byte(raw))
	return user{tenant: uuid.Nil.String(), oid: uuid.NewSHA1(uuid.Nil, sum[:]).String()}
}

// keyFor finds the token's signing key by kid, fetching the JWKS when the
// kid is unknown (at most every 10 s, so garbage tokens cannot hammer it).
func (a *authenticator) keyFor(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		a.mu.Lock()
		defer a.mu.Unlock()
		if k, ok := a.keys[kid]; ok {
			return k, nil
		}
		if time.Since(a.fetched) < 10*time.Second && !a.fetched.IsZero() {
			return nil, fmt.Errorf("unknown signing key %q", kid)
		}
		keys, err := fetchJWKS(ctx, a.opts.HTTPClient, a.opts.JWKSURL)
		a.fetched = time.Now()
		if err != nil {
			return nil, err
		}
		a.keys = keys
		if k, ok := a.keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("unknown signing key %q", kid)
	}
}

// jwk is one key of a JWKS document; only RSA signing keys are used.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func fetchJWKS(ctx context.Context, c *http.Client, u string) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks url: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) > 4 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys, nil
}

// Package entrasim is a local stand-in for Microsoft Entra ID, faithful to
// docs/reference/entra-multitenant-oauth.md where a client could notice:
// per-tenant issuers and OpenID metadata, one JWKS with an issuer template
// and key rotation, /authorize with PKCE and nonce, the v2 admin-consent
// endpoint, a token endpoint that redeems codes, rotates refresh tokens
// (the old one stays valid, as in Entra), issues client-credentials tokens,
// and answers errors with Entra's body (error_codes, trace_id, ...). An admin
// API under /_sim/ lets tests revoke grants, expire refresh tokens, demand
// MFA, revoke consent, rotate keys and mint API tokens.
//
// It is a test and development tool: it has no passwords and trusts
// login_hint. Never expose it beyond loopback.
package entrasim

import (
	"crypto/rsa"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sim is the simulator's state. It is safe for concurrent use.
type Sim struct {
	mu      sync.Mutex
	base    string
	now     func() time.Time
	clients map[string]*Client
	tenants map[string]*Tenant // by id
	domains map[string]string  // domain -> tenant id
	users   map[string]*User   // by lower-case UPN
	keys    []signingKey       // the last is the active one
	codes   map[string]*authCode
	rts     map[string]*refreshGrant
	stats   Stats

	// AccessTokenLifetime is the lifetime of issued access tokens (Entra:
	// 60-90 minutes); tests shorten it.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime is the inactivity lifetime of refresh tokens (90 days).
	RefreshTokenLifetime time.Duration
}

// Client is an app registration.
type Client struct {
	ClientID     string   `json:"clientId"`
	Secret       string   `json:"secret,omitempty"` // "" for a public client
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirectUris"`
	// AppIDURI, if set, names this app's API (api://...); its scopes are
	// APIScopes, e.g. access_as_user.
	AppIDURI  string   `json:"appIdUri,omitempty"`
	APIScopes []string `json:"apiScopes,omitempty"`
	// GroupMembershipClaims is the manifest setting of that name: with
	// "DirectoryRole" or "All", ID tokens carry the user's directory roles
	// in wids, as Entra's do.
	GroupMembershipClaims string `json:"groupMembershipClaims,omitempty"`
}

// Tenant is a directory with its users and the apps its administrators
// approved for everyone (admin consent).
type Tenant struct {
	ID     string `json:"id"`
	Domain string `json:"domain"`
	Name   string `json:"name"`
	// AdminConsent lists the client ids approved tenant-wide.
	AdminConsent []string `json:"adminConsent"`
	Users        []*User  `json:"users"`

	consented map[string]bool
	// provisioned holds the client ids with a service principal in the
	// tenant: created by an admin consent or by any user's sign-in to the
	// app, and what client credentials need (AADSTS700016 otherwise).
	provisioned map[string]bool
}

// User is a work account in one tenant.
type User struct {
	ObjectID string `json:"oid"`
	UPN      string `json:"upn"`
	Name     string `json:"name"`
	Admin    bool   `json:"admin"` // may grant tenant-wide consent

	tenant        *Tenant
	userConsent   map[string]bool // client ids the user approved for themselves
	revokedBefore time.Time       // refresh tokens issued before are revoked
	mfaRequired   bool
}

// Stats counts what the simulator did, for tests.
type Stats struct {
	CodesRedeemed     int            `json:"codesRedeemed"`
	Refreshes         map[string]int `json:"refreshes"` // by UPN
	ClientCredentials int            `json:"clientCredentials"`
	AdminConsents     int            `json:"adminConsents"`
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

type authCode struct {
	client, redirectURI, tenantPath string
	user                            *User
	scopes                          []string
	challenge, method, nonce        string
	expires                         time.Time
	used                            bool
}

type refreshGrant struct {
	client   string
	user     *User
	resource string
	issued   time.Time
	expires  time.Time
}

// New returns a simulator holding seed. Call SetBaseURL before serving.
func New(seed Seed) (*Sim, error) {
	s := &Sim{now: time.Now, clients: map[string]*Client{}, tenants: map[string]*Tenant{}, domains: map[string]string{},
		users: map[string]*User{}, codes: map[string]*authCode{}, rts: map[string]*refreshGrant{},
		stats:               Stats{Refreshes: map[string]int{}},
		AccessTokenLifetime: 3599 * time.Second, RefreshTokenLifetime: 90 * 24 * time.Hour}
	if err := s.load(seed); err != nil {
		return nil, err
	}
	if err := s.rotateKeys(false); err != nil {
		return nil, err
	}
	return s, nil
}

// SetBaseURL sets the URL the simulator is reached at (scheme://host:port);
// issuers and endpoints in metadata are built from it.
func (s *Sim) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = strings.TrimRight(u, "/")
}

// SetClock replaces the simulator's clock (tests).
func (s *Sim) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Handler serves the simulator's endpoints.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.metadata)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.jwks)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("GET /{tenant}/v2.0/adminconsent", s.adminConsent)
	mux.HandleFunc("GET /{tenant}/adminconsent", s.adminConsent)
	s.addAdminRoutes(mux)
	return mux
}

// issuer is the v2 issuer of tenant tid.
func (s *Sim) issuer(tid string) string { return s.base + "/" + tid + "/v2.0" }

// resolveTenant maps a tenant path segment to a tenant; ok is false for an
// unknown tenant. organizations and common resolve to nil (any tenant).
func (s *Sim) resolveTenant(seg string) (t *Tenant, ok bool) {
	switch strings.ToLower(seg) {
	case "organizations", "common":
		return nil, true
	}
	if t := s.tenants[strings.ToLower(seg)]; t != nil {
		return t, true
	}
	if id, found := s.domains[strings.ToLower(seg)]; found {
		return s.tenants[id], true
	}
	return nil, false
}

// consented reports whether user may use client: tenant-wide or own consent.
func (u *User) consented(client string) bool {
	return u.tenant.consented[client] || u.userConsent[client]
}

// Directory role template ids the simulator puts in wids: an administrator
// is a Global Administrator; every member has the default user role.
const (
	roleGlobalAdministrator = "62e90394-69f5-4237-9190-012177145e10"
	roleUser                = "b79fbf4d-3ef9-4689-8143-76b194e85509"
)

// directoryRoles is the wids claim of u.
func (u *User) directoryRoles() []string {
	if u.Admin {
		return []string{roleGlobalAdministrator, roleUser}
	}
	return []string{roleUser}
}

// emitsDirectoryRoles reports whether c's tokens carry wids.
func (c *Client) emitsDirectoryRoles() bool {
	return c.GroupMembershipClaims == "DirectoryRole" || c.GroupMembershipClaims == "All"
}

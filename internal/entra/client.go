package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Client is this app's confidential client at Entra: it builds authorize
// and admin-consent URLs and talks to the token endpoint. It is safe for
// concurrent use.
type Client struct {
	authority    Authority
	clientID     string
	clientSecret string
	http         *http.Client
	// authorizeURL and tokenURL map a tenant to its endpoints; they are
	// fields so the generic OAuth parts can be tested against another server.
	authorizeURL func(tenant string) string
	tokenURL     func(tenant string) string
}

// NewClient returns the client clientID (authenticating with secret) at
// authority a, making requests with hc.
func NewClient(a Authority, clientID, secret string, hc *http.Client) *Client {
	return &Client{authority: a, clientID: clientID, clientSecret: secret, http: hc,
		authorizeURL: a.AuthorizeURL, tokenURL: a.TokenURL}
}

// ClientID is the app's client id.
func (c *Client) ClientID() string { return c.clientID }

// Authority is the client's authority.
func (c *Client) Authority() Authority { return c.authority }

// AuthRequest is one authorization-code request
// (docs/reference/entra-multitenant-oauth.md §2.2).
type AuthRequest struct {
	Tenant      string   // "organizations", or a tenant id
	RedirectURI string   // must be registered exactly
	Scopes      []string // e.g. openid profile offline_access https://org.crm.dynamics.com/user_impersonation
	State       string   // single-use, random
	Nonce       string   // random; echoed in the ID token
	Verifier    string   // PKCE verifier; only its S256 challenge is sent
	LoginHint   string   // optional
	DomainHint  string   // optional
	Prompt      string   // optional: login, consent, select_account, none
}

// AuthCodeURL returns the URL that starts r at Entra.
func (c *Client) AuthCodeURL(r AuthRequest) string {
	opts := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(r.Verifier),
		oauth2.SetAuthURLParam("nonce", r.Nonce),
		oauth2.SetAuthURLParam("response_mode", "query"),
	}
	for k, v := range map[string]string{"login_hint": r.LoginHint, "domain_hint": r.DomainHint, "prompt": r.Prompt} {
		if v != "" {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	return c.config(r.Tenant, r.RedirectURI, r.Scopes).AuthCodeURL(r.State, opts...)
}

// AdminConsentURL returns the v2 admin-consent URL
// (docs/reference/entra-multitenant-oauth.md §1.1) for tenant, asking for
// scope (e.g. https://org.crm.dynamics.com/.default).
func (c *Client) AdminConsentURL(tenant, scope, redirectURI, state string) string {
	q := url.Values{"client_id": {c.clientID}, "scope": {scope}, "redirect_uri": {redirectURI}, "state": {state}}
	return c.authority.AdminConsentURL(tenant) + "?" + q.Encode()
}

func (c *Client) config(tenant, redirectURI string, scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.clientID,
		ClientSecret: c.clientSecret,
		RedirectURL:  redirectURI,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{AuthURL: c.authorizeURL(tenant), TokenURL: c.tokenURL(tenant),
			AuthStyle: oauth2.AuthStyleInParams},
	}
}

// Token is a token-endpoint answer.
type Token struct {
	AccessToken  string
	RefreshToken string // "" when none was issued
	IDToken      string // "" when openid was not requested
	ExpiresAt    time.Time
	Scope        string
}

// Exchange redeems code at tenant's token endpoint (the authority the code
// was issued by) with the PKCE verifier. Entra errors are *Error.
func (c *Client) Exchange(ctx context.Context, tenant, redirectURI, code, verifier string, scopes []string) (Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	t, err := c.config(tenant, redirectURI, scopes).Exchange(ctx, code,
		oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("scope", strings.Join(scopes, " ")))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			return Token{}, parseTokenError(re.Response.StatusCode, re.Response.Header, re.Body)
		}
		return Token{}, fmt.Errorf("redeem the authorization code: %w", err)
	}
	idt, _ := t.Extra("id_token").(string)
	scope, _ := t.Extra("scope").(string)
	return Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, IDToken: idt, ExpiresAt: t.Expiry, Scope: scope}, nil
}

// Refresh redeems refreshToken at tenant's token endpoint for scopes. Unlike
// x/oauth2's refresher it sends scope, which selects the resource of the
// access token (docs/reference/entra-multitenant-oauth.md §5.4). The answer
// may carry a new refresh token that replaces the old one; Entra errors are
// *Error.
func (c *Client) Refresh(ctx context.Context, tenant, refreshToken string, scopes []string) (Token, error) {
	return c.post(ctx, tenant, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"scope": {strings.Join(scopes, " ")}})
}

// ClientCredentials asks for an app-only token for scope (resource/.default)
// in tenant. It succeeds only where the app is provisioned, which is how an
// admin consent is confirmed (docs/reference/entra-multitenant-oauth.md
// §1.4 step 3).
func (c *Client) ClientCredentials(ctx context.Context, tenant, scope string) (Token, error) {
	return c.post(ctx, tenant, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
}

// tokenBody is the token endpoint's success answer
// (docs/reference/entra-multitenant-oauth.md §2.4).
type tokenBody struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	RefreshToken string          `json:"refresh_token"`
	IDToken      string          `json:"id_token"`
	Scope        string          `json:"scope"`
}

func (c *Client) post(ctx context.Context, tenant string, form url.Values) (Token, error) {
	form.Set("client_id", c.clientID)
	if c.clientSecret != "" {
		form.Set("client_secret", c.clientSecret)
	}
	grant := form.Get("grant_type")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL(tenant), strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("%s request: %w", grant, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	sent := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("%s request to %s: %w", grant, c.tokenURL(tenant), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Token{}, fmt.Errorf("%s answer from %s: %w", grant, c.tokenURL(tenant), err)
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, parseTokenError(resp.StatusCode, resp.Header, body)
	}
	var b tokenBody
	if err := json.Unmarshal(body, &b); err != nil || b.AccessToken == "" {
		return Token{}, parseTokenError(resp.StatusCode, resp.Header, body)
	}
	secs, err := strconv.Atoi(strings.Trim(string(b.ExpiresIn), `"`))
	if err != nil || secs <= 0 {
		return Token{}, &Error{Status: resp.StatusCode, Code: codeInvalidResponse, Description: "the token answer has no valid expires_in"}
	}
	return Token{AccessToken: b.AccessToken, RefreshToken: b.RefreshToken, IDToken: b.IDToken,
		ExpiresAt: sent.Add(time.Duration(secs) * time.Second), Scope: b.Scope}, nil
}

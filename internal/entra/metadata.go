package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Metadata is what a tenant's OpenID configuration says, and how many
// signing keys its JWKS publishes.
type Metadata struct {
	Issuer        string `json:"issuer"`
	TokenEndpoint string `json:"token_endpoint"`
	JWKSURI       string `json:"jwks_uri"`
	// Keys is the number of keys at JWKSURI.
	Keys int `json:"-"`
}

// MetadataURL is the OpenID configuration of tenant (an id, a domain, or
// "organizations").
func (a Authority) MetadataURL(tenant string) string {
	return a.host + "/" + url.PathEscape(tenant) + "/v2.0/.well-known/openid-configuration"
}

// Metadata reads tenant's OpenID configuration and the JWKS it names: the
// two documents every sign-in and token check needs. An error answer from
// Entra is an *Error (AADSTS90002: no such tenant); anything else names
// the URL that failed.
func (c *Client) Metadata(ctx context.Context, tenant string) (Metadata, error) {
	var m Metadata
	u := c.authority.MetadataURL(tenant)
	if err := c.getJSON(ctx, u, &m); err != nil {
		return Metadata{}, err
	}
	if m.Issuer == "" || m.JWKSURI == "" || m.TokenEndpoint == "" {
		return Metadata{}, fmt.Errorf("%s has no issuer, token_endpoint or jwks_uri", u)
	}
	var jwks struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := c.getJSON(ctx, m.JWKSURI, &jwks); err != nil {
		return Metadata{}, err
	}
	if m.Keys = len(jwks.Keys); m.Keys == 0 {
		return Metadata{}, fmt.Errorf("%s publishes no signing keys", m.JWKSURI)
	}
	return m, nil
}

func (c *Client) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return parseTokenError(resp.StatusCode, resp.Header, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: the answer is not JSON: %w", u, err)
	}
	return nil
}

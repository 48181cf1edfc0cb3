package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// TenantID resolves a verified domain of a tenant (contoso.com) to the
// tenant's id, from the issuer in the domain's OpenID metadata
// ({authority}/{domain}/v2.0/.well-known/openid-configuration). A domain
// no tenant has is an *Error (AADSTS90002); other failures are transport
// errors.
func (c *Client) TenantID(ctx context.Context, domain string) (string, error) {
	u := c.authority.host + "/" + strings.ToLower(domain) + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("tenant of %s: %w", domain, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("tenant of %s: %w", domain, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("tenant of %s: %w", domain, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", parseTokenError(resp.StatusCode, resp.Header, body)
	}
	var m struct {
		Issuer string `json:"issuer"`
	}
	_ = json.Unmarshal(body, &m)
	tid := strings.TrimSuffix(strings.TrimPrefix(m.Issuer, c.authority.host+"/"), "/v2.0")
	if !isGUID(tid) || c.authority.Issuer(tid) != m.Issuer {
		return "", fmt.Errorf("tenant of %s: the OpenID metadata's issuer %q names no tenant of %s", domain, clean(m.Issuer, 200), c.authority.host)
	}
	return strings.ToLower(tid), nil
}

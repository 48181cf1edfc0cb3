// Package entra speaks to Microsoft Entra ID for a multi-tenant web app:
// admin-consent and authorize URLs, code redemption with PKCE, refresh with
// an explicit scope, ID-token and access-token validation, and Entra's error
// bodies as typed errors. It knows nothing of storage or HTTP handlers.
package entra

import (
	"fmt"
	"net/url"
	"strings"
)

// Authority is an Entra cloud's login host: the public cloud
// (https://login.microsoftonline.com), a sovereign cloud, or a local
// simulator. All endpoint URLs are derived from it the way Entra lays them
// out, so one value switches clouds.
type Authority struct {
	host string // scheme://host[:port], no trailing slash
}

// publicCloud is Entra's global authority host (ENTRA_AUTHORITY_HOST's
// default and the others are config's).
const publicCloud = "https://login.microsoftonline.com"

// NewAuthority validates host: an https URL with no path, query or
// fragment; plain http only on a loopback address (the simulator).
func NewAuthority(host string) (Authority, error) {
	u, err := url.Parse(strings.TrimRight(host, "/"))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return Authority{}, fmt.Errorf("%q is not an authority host like %s", host, publicCloud)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return Authority{}, fmt.Errorf("%q uses http; only a loopback simulator (127.0.0.1, localhost) may, use https", host)
		}
	default:
		return Authority{}, fmt.Errorf("%q is not an https URL", host)
	}
	return Authority{host: u.Scheme + "://" + u.Host}, nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// Host returns the authority's scheme and host.
func (a Authority) Host() string { return a.host }

// AuthorizeURL is the v2 authorize endpoint of tenant (a GUID, a domain,
// "organizations" or "common").
func (a Authority) AuthorizeURL(tenant string) string {
	return a.host + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/authorize"
}

// TokenURL is the v2 token endpoint of tenant. Codes must be redeemed at the
// authority they were issued for (AADSTS700005).
func (a Authority) TokenURL(tenant string) string {
	return a.host + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

// AdminConsentURL is the v2 admin-consent endpoint of tenant.
func (a Authority) AdminConsentURL(tenant string) string {
	return a.host + "/" + url.PathEscape(tenant) + "/v2.0/adminconsent"
}

// Issuer is the exact issuer of v2 tokens from tenant id tid.
func (a Authority) Issuer(tid string) string { return a.host + "/" + tid + "/v2.0" }

// IssuerTemplate is the issuer that /organizations metadata and multi-tenant
// signing keys carry, with {tenantid} to be replaced by the token's tid.
func (a Authority) IssuerTemplate() string { return a.host + "/{tenantid}/v2.0" }

// JWKSURL is where the signing keys of every tenant are published.
func (a Authority) JWKSURL() string { return a.host + "/common/discovery/v2.0/keys" }

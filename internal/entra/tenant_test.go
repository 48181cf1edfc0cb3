package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestTenantIDOfADomain: a verified domain resolves to its tenant id from
// the issuer of its OpenID metadata; an unknown domain is Entra's error,
// and metadata naming another authority is refused.
func TestTenantIDOfADomain(t *testing.T) {
	c, _, _, _ := newClient(t)
	ctx := context.Background()
	if tid, err := c.TenantID(ctx, "Contoso.Example"); err != nil || tid != contoso {
		t.Errorf("TenantID(Contoso.Example) = %q, %v; want %s", tid, err, contoso)
	}
	var e *Error
	if _, err := c.TenantID(ctx, "nobody.example"); !errors.As(err, &e) || !e.Has(90002) {
		t.Errorf("TenantID(nobody.example) = %v, want AADSTS90002", err)
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"https://evil.example/` + contoso + `/v2.0"}`))
	}))
	defer other.Close()
	a, _ := NewAuthority(other.URL)
	if tid, err := NewClient(a, clientID, "", other.Client()).TenantID(ctx, "contoso.example"); err == nil {
		t.Errorf("TenantID with a foreign issuer = %q, want an error", tid)
	}
}

func TestCanApproveForOrganisation(t *testing.T) {
	for _, tc := range []struct {
		roles []string
		want  bool
	}{
		{nil, false},
		{[]string{"b79fbf4d-3ef9-4689-8143-76b194e85509"}, false},
		{[]string{"b79fbf4d-3ef9-4689-8143-76b194e85509", RoleGlobalAdministrator}, true},
		{[]string{"9B895D92-2CD3-44C7-9D02-A6AC2D5EA5C3"}, true},
		{[]string{RoleCloudApplicationAdministrator}, true},
		{[]string{RolePrivilegedRoleAdministrator}, true},
	} {
		if got := (IDClaims{DirectoryRoles: tc.roles}).CanApproveForOrganisation(); got != tc.want {
			t.Errorf("CanApproveForOrganisation(%v) = %v, want %v", tc.roles, got, tc.want)
		}
	}
}

func TestMetadata(t *testing.T) {
	jwks := `{"keys":[{"kty":"RSA","kid":"k1","n":"xx","e":"AQAB"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/organizations/v2.0/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":"http://%s/{tenantid}/v2.0","token_endpoint":"http://%s/organizations/oauth2/v2.0/token","jwks_uri":"http://%s/common/discovery/v2.0/keys"}`, r.Host, r.Host, r.Host)
		case "/common/discovery/v2.0/keys":
			fmt.Fprint(w, jwks)
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant 'x' not found.","error_codes":[90002]}`)
		}
	}))
	defer srv.Close()
	a, _ := NewAuthority(srv.URL)
	c := NewClient(a, "id", "secret", srv.Client())
	m, err := c.Metadata(context.Background(), "organizations")
	if err != nil || m.Keys != 1 || m.JWKSURI != srv.URL+"/common/discovery/v2.0/keys" {
		t.Errorf("Metadata(organizations) = %+v, %v; want one key at the JWKS", m, err)
	}
	_, err = c.Metadata(context.Background(), "nobody.example")
	var e *Error
	if !errors.As(err, &e) || !e.Has(90002) {
		t.Errorf("Metadata of an unknown tenant = %v, want an *Error with AADSTS90002", err)
	}
}

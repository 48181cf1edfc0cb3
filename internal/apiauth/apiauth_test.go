package apiauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/entrasim"
)

type fakeVerifier map[string]entra.AccessClaims // token -> claims

func (f fakeVerifier) VerifyAccessToken(_ context.Context, raw, scope string, clients []string) (entra.AccessClaims, error) {
	if raw == "jwks-down" {
		return entra.AccessClaims{}, &entra.KeyFetchError{URL: "x", Err: errors.New("down")}
	}
	c, ok := f[raw]
	if !ok {
		return c, &entra.InvalidTokenError{Reason: "the signature does not verify"}
	}
	return c, nil
}

type fakeTenants map[string]store.Tenant

func (f fakeTenants) Get(_ context.Context, id string) (store.Tenant, error) {
	t, ok := f[id]
	if !ok {
		return t, store.ErrNotFound
	}
	return t, nil
}

type fakeConns map[string]store.Connection

func (f fakeConns) Get(_ context.Context, tenant, user string) (store.Connection, error) {
	c, ok := f[tenant+"/"+user]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

func TestAuthenticate(t *testing.T) {
	const tA, tB, u1, u2, u3, u4 = "t-approved", "t-unapproved", "u-active", "u-reauth", "u-pending", "u-signing-in-again"
	a := &Authenticator{Scope: "access_as_user",
		Verifier: fakeVerifier{"good": {TenantID: tA, ObjectID: u1}, "reauth": {TenantID: tA, ObjectID: u2}, "pending": {TenantID: tA, ObjectID: u3}, "again": {TenantID: tA, ObjectID: u4},
			"stranger": {TenantID: tA, ObjectID: "u-none"}, "other-tenant": {TenantID: tB, ObjectID: u1}},
		Tenants: fakeTenants{tA: {ID: tA, ConsentedAt: time.Now()}},
		Connections: fakeConns{tA + "/" + u1: {Status: store.StatusActive}, tA + "/" + u2: {Status: store.StatusReauthRequired},
			tA + "/" + u3: {Status: store.StatusPending}, tA + "/" + u4: {Status: store.StatusPending, OrgURL: "https://contoso.crm.dynamics.com"}},
	}
	for _, tc := range []struct {
		header    string
		kind      apperr.Kind
		challenge string
		want      string
	}{
		{"Bearer good", "", "", u1},
		{"bearer  good ", "", "", u1},
		{"Bearer reauth", "", "", u2},
		{"Bearer again", "", "", u4}, // pending, with the environment it had: a sign-in after reauth_required
		{"", apperr.Unauthorized, "", ""},
		{"Basic dXNlcjpwdw==", apperr.Unauthorized, "invalid_request", ""},
		{"Bearer", apperr.Unauthorized, "invalid_request", ""},
		{"Bearer forged", apperr.Unauthorized, "invalid_token", ""},
		{"Bearer other-tenant", apperr.Forbidden, "insufficient_scope", ""},
		{"Bearer stranger", apperr.Forbidden, "insufficient_scope", ""},
		{"Bearer pending", apperr.Forbidden, "insufficient_scope", ""},
		{"Bearer jwks-down", apperr.Transient, "", ""},
	} {
		c, err := a.Authenticate(context.Background(), tc.header)
		if tc.kind == "" {
			if err != nil || c.UserID != tc.want || c.TenantID != tA {
				t.Errorf("Authenticate(%q) = %+v, %v; want user %s", tc.header, c, err, tc.want)
			}
			continue
		}
		var ae *Error
		if apperr.KindOf(err) != tc.kind || (tc.kind != apperr.Transient && (!errors.As(err, &ae) || ae.Challenge != tc.challenge)) {
			t.Errorf("Authenticate(%q) = %v (%s), want %s with challenge %q", tc.header, err, apperr.KindOf(err), tc.kind, tc.challenge)
		}
		if strings.Contains(err.Error(), "forged") {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
}

// TestDisconnectedAndOffboarded: a user whose data is being erased, and
// every user of a tenant being offboarded, are refused with a message that
// says so; Identify still names a user with a valid token (to disconnect
// or ask how the disconnection goes) and refuses a bad one.
func TestDisconnectedAndOffboarded(t *testing.T) {
	const tA, tOff, u1 = "t-approved", "t-offboarding", "u-erasing"
	a := &Authenticator{Scope: "access_as_user",
		Verifier: fakeVerifier{"erasing": {TenantID: tA, ObjectID: u1}, "offboarded": {TenantID: tOff, ObjectID: u1}},
		Tenants:  fakeTenants{tA: {ID: tA, ConsentedAt: time.Now()}, tOff: {ID: tOff, ConsentedAt: time.Now(), OffboardingAt: time.Now()}},
		Connections: fakeConns{tA + "/" + u1: {Status: store.StatusErasing, OrgURL: "https://contoso.crm.dynamics.com"},
			tOff + "/" + u1: {Status: store.StatusActive}},
	}
	for token, want := range map[string]string{"erasing": "being erased", "offboarded": "has not approved"} {
		_, err := a.Authenticate(context.Background(), "Bearer "+token)
		if apperr.KindOf(err) != apperr.Forbidden || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Authenticate = %v, want Forbidden saying %q", token, err, want)
		}
		c, err := a.Identify(context.Background(), "Bearer "+token)
		if err != nil || c.UserID != u1 {
			t.Errorf("%s: Identify = %+v, %v; want the user", token, c, err)
		}
	}
	if _, err := a.Identify(context.Background(), "Bearer forged"); apperr.KindOf(err) != apperr.Unauthorized {
		t.Errorf("Identify(forged) = %v, want Unauthorized", err)
	}
}

// countingTenants counts the lookups of approvals.
type countingTenants struct {
	fakeTenants
	n *int
}

func (c countingTenants) Get(ctx context.Context, id string) (store.Tenant, error) {
	*c.n++
	return c.fakeTenants.Get(ctx, id)
}

// TestOnlyAllowedAppsAreAuthenticated: a token that Entra issued for the
// connector's API to an application not in Clients (one a user consented
// to, not Pitcher's) is refused as a token for another API would be, 401
// invalid_token naming the application and not quoting the token, before
// anything is read; the same user's token from an allowed application
// passes.
func TestOnlyAllowedAppsAreAuthenticated(t *testing.T) {
	const connector, pitcherApp, otherApp = "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70", "0d9e8f7a-6b5c-4d3e-8f21-a0b1c2d3e4f5", "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
	const contoso, alice = "11111111-1111-4111-8111-111111111111", "aaaaaaaa-0000-4000-8000-000000000002"
	_, srv := entrasim.Start(t, entrasim.DefaultSeed())
	authority, err := entra.NewAuthority(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(app string) string {
		body, _ := json.Marshal(map[string]string{"upn": "alice@contoso.example", "clientId": app, "scope": "api://" + connector + "/access_as_user"})
		resp, err := http.Post(srv.URL+"/_sim/tokens", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
			t.Fatalf("mint a token of %s: %d %v", app, resp.StatusCode, err)
		}
		return out.AccessToken
	}
	lookups := 0
	a := &Authenticator{Scope: "access_as_user", Clients: []string{pitcherApp},
		Verifier:    entra.NewVerifier(authority, entra.NewKeySet(authority.JWKSURL(), srv.Client()), connector, ""),
		Tenants:     countingTenants{fakeTenants{contoso: {ID: contoso, ConsentedAt: time.Now()}}, &lookups},
		Connections: fakeConns{contoso + "/" + alice: {Status: store.StatusActive}},
	}
	other := mint(otherApp)
	for name, check := range map[string]func(context.Context, string) (Caller, error){"Authenticate": a.Authenticate, "Identify": a.Identify} {
		_, err := check(context.Background(), "Bearer "+other)
		var ae *Error
		if !errors.As(err, &ae) || apperr.KindOf(err) != apperr.Unauthorized || ae.Challenge != "invalid_token" || !strings.Contains(err.Error(), otherApp) {
			t.Errorf("%s(another app's token) = %v, want Unauthorized invalid_token naming %s", name, err, otherApp)
		}
		if err != nil && strings.Contains(err.Error(), other) {
			t.Errorf("%s: the refusal quotes the token: %v", name, err)
		}
	}
	if lookups != 0 {
		t.Errorf("the refused tokens led to %d lookups of the organisation, want none", lookups)
	}
	if c, err := a.Authenticate(context.Background(), "Bearer "+mint(pitcherApp)); err != nil || c.UserID != alice {
		t.Errorf("Authenticate(the Pitcher app's token) = %+v, %v; want alice", c, err)
	}
}

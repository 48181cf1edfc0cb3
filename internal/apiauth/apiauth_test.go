package apiauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
)

type fakeVerifier map[string]entra.AccessClaims // token -> claims

func (f fakeVerifier) VerifyAccessToken(_ context.Context, raw, scope string) (entra.AccessClaims, error) {
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

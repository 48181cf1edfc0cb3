package signin

import (
	"bytes"
	"context"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
)

// TestUnfinishedSecondSignInKeepsTheWorkingConnection: a connected user
// who signs in again and does not finish must keep syncing with the
// connection they had; the new refresh token is kept, the status and the
// environment change only when a sign-in finishes.
func TestUnfinishedSecondSignInKeepsTheWorkingConnection(t *testing.T) {
	tests := []struct {
		name    string
		org     string // chosen environment of the second sign-in
		prepare func(h *harness)
		want    Outcome
		kind    apperr.Kind
	}{
		{"several environments to choose from", "", func(h *harness) {
			h.dyn.instances = append(h.dyn.instances, Instance{UniqueName: "contoso-test", URL: "https://contoso-test.crm.dynamics.com"})
		}, ChooseEnvironment, ""},
		{"no environment any more", "", func(h *harness) { h.dyn.instances = nil }, NoEnvironment, ""},
		{"Global Discovery throttled", "", func(h *harness) {
			h.dyn.instancesErr = apperr.E(apperr.Throttled, "throttled")
		}, 0, apperr.Throttled},
		{"WhoAmI fails in another environment", "https://contoso-test.crm.dynamics.com", func(h *harness) {
			h.dyn.whoamiErr = apperr.E(apperr.Forbidden, "not a user there")
		}, 0, apperr.Forbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, first := connectedAlice(t)
			ctx := context.Background()
			tc.prepare(h)
			res, err := h.svc.FinishLogin(ctx, h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example", Org: tc.org})))
			if res.Outcome != tc.want || apperr.KindOf(err) != tc.kind {
				t.Fatalf("second sign-in = %+v, %v; want outcome %d, error kind %q", res, err, tc.want, tc.kind)
			}
			c, _ := h.store.conns.Get(ctx, contoso, aliceOID)
			if c.Status != store.StatusActive || c.OrgURL != orgURL || c.DataverseUserID != first.DataverseUserID {
				t.Errorf("after an unfinished second sign-in the connection is %q at %q (user %q); want it still active at %s", c.Status, c.OrgURL, c.DataverseUserID, orgURL)
			}
			if bytes.Equal(c.RefreshToken, first.RefreshToken) {
				t.Error("the second sign-in's refresh token was not kept")
			}
		})
	}
}

// TestSignInAfterReauthRequiredReplacesTheConnection: a connection Entra
// ended is replaced by the new sign-in's, and is active once it finishes.
func TestSignInAfterReauthRequiredReplacesTheConnection(t *testing.T) {
	h, c := connectedAlice(t)
	ctx := context.Background()
	if _, err := h.store.conns.MarkReauthRequired(ctx, contoso, aliceOID, "invalid_grant AADSTS50173", h.svc.now(), c.ETag); err != nil {
		t.Fatal(err)
	}
	h.svc.Vault.(*tokens.Vault).Forget(contoso, aliceOID, orgURL)
	res, err := h.svc.FinishLogin(ctx, h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example"})))
	if err != nil || res.Outcome != Connected {
		t.Fatalf("sign-in after reauth_required = %+v, %v", res, err)
	}
	if c, _ := h.store.conns.Get(ctx, contoso, aliceOID); c.Status != store.StatusActive || c.StatusReason != "" {
		t.Errorf("connection after signing in again = %q (%q), want active", c.Status, c.StatusReason)
	}
}

// TestUnfinishedSignInAfterReauthRequiredKeepsTheEnvironment: a user whose
// connection Entra ended signs in again, and the sign-in does not finish
// (WhoAmI fails): the row keeps the environment it had, so the API goes on
// accepting the user's uploads and changes as it did while the connection
// was reauth_required, and the new refresh token is kept.
func TestUnfinishedSignInAfterReauthRequiredKeepsTheEnvironment(t *testing.T) {
	h, first := connectedAlice(t)
	ctx := context.Background()
	if _, err := h.store.conns.MarkReauthRequired(ctx, contoso, aliceOID, "invalid_grant AADSTS50173", h.svc.now(), first.ETag); err != nil {
		t.Fatal(err)
	}
	h.svc.Vault.(*tokens.Vault).Forget(contoso, aliceOID, orgURL)
	h.dyn.whoamiErr = apperr.E(apperr.Transient, "Dynamics is unavailable")
	if _, err := h.svc.FinishLogin(ctx, h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example"}))); apperr.KindOf(err) != apperr.Transient {
		t.Fatalf("sign-in with WhoAmI failing = %v, want a transient error", err)
	}
	c, _ := h.store.conns.Get(ctx, contoso, aliceOID)
	if c.Status != store.StatusPending || c.OrgURL != orgURL || c.DataverseUserID != first.DataverseUserID {
		t.Errorf("after an unfinished sign-in the connection is %q at %q (user %q); want pending at %s with its Dataverse user", c.Status, c.OrgURL, c.DataverseUserID, orgURL)
	}
	if bytes.Equal(c.RefreshToken, first.RefreshToken) {
		t.Error("the new sign-in's refresh token was not kept")
	}
}

// connectedAlice returns a harness in which Alice of Contoso has signed in
// and is connected, and her connection.
func connectedAlice(t *testing.T) (*harness, store.Connection) {
	t.Helper()
	h := newHarness(t)
	h.approve(contoso)
	ctx := context.Background()
	if res, err := h.svc.FinishLogin(ctx, h.visit(t, startLogin(t, h, LoginRequest{LoginHint: "alice@contoso.example"}))); err != nil || res.Outcome != Connected {
		t.Fatalf("first sign-in = %+v, %v", res, err)
	}
	c, _ := h.store.conns.Get(ctx, contoso, aliceOID)
	return h, c
}

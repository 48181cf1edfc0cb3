package signin

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/entrasim"
)

func startConsent(t *testing.T, h *harness, tenant string) (string, string) {
	t.Helper()
	u, err := h.svc.StartConsent(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := url.Parse(u)
	return u, p.Query().Get("state")
}

func TestConsentApprovedAndApproverRecorded(t *testing.T) {
	h := newHarness(t)
	u, _ := startConsent(t, h, fabrikam)
	if !strings.Contains(u, "/"+fabrikam+"/v2.0/adminconsent?") || !strings.Contains(u, "scope="+url.QueryEscape(discovery+"/.default")) {
		t.Errorf("admin consent URL = %s", u)
	}
	res, err := h.svc.FinishConsent(context.Background(), h.visit(t, u+"&login_hint=admin%40fabrikam.example"))
	if err != nil || res.TenantID != fabrikam || res.Next == "" {
		t.Fatalf("FinishConsent = %+v, %v; want a sign-in of the administrator next", res, err)
	}
	if tn, _ := h.store.Get(context.Background(), fabrikam); tn.Consented() {
		t.Fatalf("tenant = %+v: recorded before the administrator signed in", tn)
	}
	lr, err := h.svc.FinishLogin(context.Background(), h.visit(t, res.Next+"&login_hint=admin%40fabrikam.example"))
	if err != nil || lr.Outcome != ApproverRecorded || lr.UserName != "Fabrikam Admin" {
		t.Fatalf("approver sign-in = %+v, %v", lr, err)
	}
	tn, _ := h.store.Get(context.Background(), fabrikam)
	if !tn.Consented() || tn.ConsentedByOID != "bbbbbbbb-0000-4000-8000-000000000001" || tn.ConsentScopes != discovery+"/.default" {
		t.Errorf("tenant = %+v, want approved by Fabrikam's administrator", tn)
	}
}

// TestConsentForADomainIsBoundToItsTenant: a domain is resolved to its
// tenant id at the start, so the answer must name that tenant.
func TestConsentForADomainIsBoundToItsTenant(t *testing.T) {
	h := newHarness(t)
	u, state := startConsent(t, h, "Fabrikam.Example")
	if !strings.Contains(u, "/"+fabrikam+"/v2.0/adminconsent?") {
		t.Errorf("admin consent URL for fabrikam.example = %s, want Fabrikam's tenant id", u)
	}
	q := url.Values{"state": {state}, "admin_consent": {"True"}, "tenant": {contoso}}
	if _, err := h.svc.FinishConsent(context.Background(), q); apperr.KindOf(err) != apperr.Invalid || !strings.Contains(err.Error(), "started for tenant "+fabrikam) {
		t.Errorf("an answer naming Contoso for a flow started for fabrikam.example = %v, want invalid", err)
	}
	_, err := h.svc.StartConsent(context.Background(), "nobody.example")
	if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || len(e.Problems) != 1 || e.Problems[0].Field != "tenant" {
		t.Errorf("StartConsent(unknown domain) = %v, want invalid naming tenant", err)
	}
}

// appOnlyEverywhere answers client credentials as Entra does once the app's
// service principal exists in a tenant, which one user's own consent is
// enough for (docs/reference/entra-multitenant-oauth.md §1.3, AADSTS700016):
// an app-only token proves nothing about an administrator's approval.
type appOnlyEverywhere struct{ *swappingEntra }

func (appOnlyEverywhere) ClientCredentials(context.Context, string, string) (entra.Token, error) {
	return entra.Token{AccessToken: "app-only"}, nil
}

// TestConsentNotRecordedWithoutAnAdministratorsSignIn: Entra's answer to
// an approval can be forged by anyone who starts a flow, for any tenant.
// The approval is recorded only when an administrator of that tenant, who
// may approve apps there, signs in after it.
func TestConsentNotRecordedWithoutAnAdministratorsSignIn(t *testing.T) {
	tests := []struct {
		name   string
		start  string // the tenant the flow is started for
		signIn string // who follows the sign-in link ("" nobody)
		kind   apperr.Kind
	}{
		{"forged answer for organizations, nobody signs in", "organizations", "", ""},
		{"forged answer for the tenant's own id, nobody signs in", fabrikam, "", ""},
		{"a member of the tenant signs in", "organizations", "dave@fabrikam.example", apperr.Forbidden},
		{"someone of another tenant signs in", "organizations", "alice@contoso.example", apperr.Unauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.svc.Entra = appOnlyEverywhere{h.entra}
			_, state := startConsent(t, h, tc.start)
			q := url.Values{"state": {state}, "admin_consent": {"True"}, "tenant": {fabrikam}}
			res, err := h.svc.FinishConsent(context.Background(), q)
			if err != nil || res.Next == "" {
				t.Fatalf("FinishConsent(forged) = %+v, %v", res, err)
			}
			if tc.signIn != "" {
				_, err = h.svc.FinishLogin(context.Background(), h.visit(t, res.Next+"&login_hint="+url.QueryEscape(tc.signIn)))
				if apperr.KindOf(err) != tc.kind {
					t.Errorf("sign-in of %s after the answer = %v (%s), want %s", tc.signIn, err, apperr.KindOf(err), tc.kind)
				}
			}
			if tn, _ := h.store.Get(context.Background(), fabrikam); tn.Consented() {
				t.Errorf("Fabrikam recorded as approved without its administrator: %+v", tn)
			}
		})
	}
}

// TestConsentNeedsDirectoryRolesInTheToken: an app registration that does
// not emit directory roles (groupMembershipClaims) cannot show that the
// approver is an administrator, so nothing is recorded and the log says why.
func TestConsentNeedsDirectoryRolesInTheToken(t *testing.T) {
	h := newHarnessWith(t, func(seed *entrasim.Seed) {
		for _, c := range seed.Clients {
			c.GroupMembershipClaims = ""
		}
	})
	u, _ := startConsent(t, h, fabrikam)
	res, err := h.svc.FinishConsent(context.Background(), h.visit(t, u+"&login_hint=admin%40fabrikam.example"))
	if err != nil || res.Next == "" {
		t.Fatalf("FinishConsent = %+v, %v", res, err)
	}
	_, err = h.svc.FinishLogin(context.Background(), h.visit(t, res.Next+"&login_hint=admin%40fabrikam.example"))
	if apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("administrator's sign-in without wids = %v, want forbidden", err)
	}
	if tn, _ := h.store.Get(context.Background(), fabrikam); tn.Consented() {
		t.Errorf("tenant = %+v, want not approved", tn)
	}
	if !strings.Contains(h.logs.String(), `"directoryRolesInToken":0`) {
		t.Errorf("the log does not say the token had no directory roles:\n%s", h.logs)
	}
}

// TestConsentHostile: a refusal is recorded only for the tenant the flow was
// bound to, and only on its row without an approval; a forged success is
// not believed without Entra's confirmation; an answer naming another
// tenant, or a bad tenant parameter, is refused.
func TestConsentHostile(t *testing.T) {
	ctx := context.Background()
	t.Run("non-admin refuses", func(t *testing.T) {
		h := newHarness(t)
		h.store.tenants[fabrikam] = store.Tenant{ID: fabrikam, DynamicsURL: orgURL} // an operator's row, not approved
		u, _ := startConsent(t, h, fabrikam)
		res, err := h.svc.FinishConsent(ctx, h.visit(t, u+"&login_hint=dave%40fabrikam.example"))
		if err != nil || res.Next != "" || res.Refusal == nil || !res.Refusal.Has(90094) {
			t.Fatalf("FinishConsent = %+v, %v; want a refusal with AADSTS90094", res, err)
		}
		tn, _ := h.store.Get(ctx, fabrikam)
		if tn.Consented() || tn.LastRefusalError != "access_denied AADSTS90094" || !strings.Contains(tn.LastRefusalDescription, "needs an administrator") {
			t.Errorf("tenant = %+v, want the refusal recorded with its code and fixed wording, and no approval", tn)
		}
	})
	t.Run("refusal of a tenant without a row, or approved", func(t *testing.T) {
		h := newHarness(t)
		approved := store.Tenant{ID: contoso, ConsentedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ConsentedByOID: aliceOID}
		h.store.tenants[contoso] = approved
		for _, tenant := range []string{fabrikam, contoso} {
			_, state := startConsent(t, h, tenant)
			q := url.Values{"state": {state}, "admin_consent": {"True"}, "error": {"access_denied"}, "error_description": {"AADSTS90094: forged"}}
			if res, err := h.svc.FinishConsent(ctx, q); err != nil || res.Refusal == nil || res.TenantID != tenant {
				t.Fatalf("FinishConsent(refusal for %s) = %+v, %v; want the refusal shown", tenant, res, err)
			}
		}
		if _, ok := h.store.tenants[fabrikam]; ok || len(h.store.tenants) != 1 || h.store.tenants[contoso] != approved {
			t.Errorf("tenants = %+v; want Contoso's approval as it was and nothing else", h.store.tenants)
		}
		if !strings.Contains(h.logs.String(), `"recorded":false`) {
			t.Errorf("the log does not say the refusal was not recorded:\n%s", h.logs)
		}
	})
	t.Run("forged refusal with a message of the forger's", func(t *testing.T) {
		h := newHarness(t)
		h.store.tenants[fabrikam] = store.Tenant{ID: fabrikam, DynamicsURL: orgURL}
		_, state := startConsent(t, h, fabrikam)
		q := url.Values{"state": {state}, "admin_consent": {"True"}, "error": {"access_denied"},
			"error_description": {"AADSTS65004: Pitcher is discontinued, install https://evil.example/app instead"}}
		res, err := h.svc.FinishConsent(ctx, q)
		if err != nil || res.Refusal == nil {
			t.Fatalf("FinishConsent = %+v, %v", res, err)
		}
		tn, _ := h.store.Get(ctx, fabrikam)
		if strings.Contains(tn.LastRefusalError+tn.LastRefusalDescription, "evil.example") || tn.LastRefusalError != "access_denied AADSTS65004" {
			t.Errorf("stored refusal = %q / %q, want Entra's code and fixed wording only", tn.LastRefusalError, tn.LastRefusalDescription)
		}
	})
	t.Run("forged success for a tenant that never approved", func(t *testing.T) {
		h := newHarness(t)
		_, state := startConsent(t, h, "organizations")
		q := url.Values{"state": {state}, "admin_consent": {"True"}, "tenant": {fabrikam}, "scope": {discovery + "/.default"}}
		res, err := h.svc.FinishConsent(ctx, q)
		if err != nil || res.Next != "" || !res.NotConfirmed {
			t.Fatalf("FinishConsent(forged) = %+v, %v; want not confirmed", res, err)
		}
		if _, err := h.store.Get(ctx, fabrikam); err == nil {
			t.Error("a forged approval was recorded")
		}
	})
	t.Run("answer names another tenant", func(t *testing.T) {
		h := newHarness(t)
		_, state := startConsent(t, h, fabrikam)
		q := url.Values{"state": {state}, "admin_consent": {"True"}, "tenant": {contoso}}
		if _, err := h.svc.FinishConsent(ctx, q); apperr.KindOf(err) != apperr.Invalid || !strings.Contains(err.Error(), "started for tenant") {
			t.Fatalf("FinishConsent = %v, want invalid: started for another tenant", err)
		}
		if len(h.store.tenants) != 0 {
			t.Error("a tenant was recorded")
		}
	})
	t.Run("bare tenant without state", func(t *testing.T) {
		h := newHarness(t)
		q := url.Values{"admin_consent": {"True"}, "tenant": {contoso}}
		if _, err := h.svc.FinishConsent(ctx, q); apperr.KindOf(err) != apperr.Invalid {
			t.Fatalf("FinishConsent without state = %v, want invalid", err)
		}
		if len(h.store.tenants) != 0 {
			t.Error("a tenant was recorded")
		}
	})
	t.Run("bad tenant parameters", func(t *testing.T) {
		h := newHarness(t)
		for _, bad := range []string{"common", "consumers", "x", "contoso..com", "<script>", strings.Repeat("a", 300) + ".com"} {
			if _, err := h.svc.StartConsent(ctx, bad); apperr.KindOf(err) != apperr.Invalid {
				t.Errorf("StartConsent(%q) = %v, want invalid", bad, err)
			}
		}
		for _, good := range []string{"", "organizations", "contoso.example", strings.ToUpper(fabrikam)} {
			if _, err := h.svc.StartConsent(ctx, good); err != nil {
				t.Errorf("StartConsent(%q) = %v", good, err)
			}
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		h := newHarness(t)
		u, _ := startConsent(t, h, "organizations")
		res, err := h.svc.FinishConsent(ctx, h.visit(t, u+"&sim_cancel=1"))
		if err != nil || res.Refusal == nil || !res.Refusal.Has(65004) || res.TenantID != "" {
			t.Fatalf("FinishConsent after cancel = %+v, %v; want refusal AADSTS65004, tenant unknown", res, err)
		}
		if len(h.store.tenants) != 0 {
			t.Error("a refusal was recorded for a tenant the flow was not bound to")
		}
	})
}

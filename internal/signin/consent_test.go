package signin

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
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
	if err != nil || !res.Approved || res.TenantID != fabrikam || res.Next == "" {
		t.Fatalf("FinishConsent = %+v, %v; want approved with a sign-in to name the approver", res, err)
	}
	if tn, _ := h.store.Get(context.Background(), fabrikam); !tn.Consented() {
		t.Fatalf("tenant = %+v, want consented", tn)
	}
	lr, err := h.svc.FinishLogin(context.Background(), h.visit(t, res.Next+"&login_hint=admin%40fabrikam.example"))
	if err != nil || lr.Outcome != ApproverRecorded || lr.UserName != "Fabrikam Admin" {
		t.Fatalf("approver sign-in = %+v, %v", lr, err)
	}
	if tn, _ := h.store.Get(context.Background(), fabrikam); tn.ConsentedByOID != "bbbbbbbb-0000-4000-8000-000000000001" {
		t.Errorf("approver = %q, want Fabrikam's administrator", tn.ConsentedByOID)
	}
}

// TestConsentHostile: a refusal is recorded only for the tenant the flow was
// bound to; a forged success is not believed without Entra's confirmation;
// an answer naming another tenant, or a bad tenant parameter, is refused.
func TestConsentHostile(t *testing.T) {
	ctx := context.Background()
	t.Run("non-admin refuses", func(t *testing.T) {
		h := newHarness(t)
		u, _ := startConsent(t, h, fabrikam)
		res, err := h.svc.FinishConsent(ctx, h.visit(t, u+"&login_hint=dave%40fabrikam.example"))
		if err != nil || res.Approved || res.Refusal == nil || !res.Refusal.Has(90094) {
			t.Fatalf("FinishConsent = %+v, %v; want a refusal with AADSTS90094", res, err)
		}
		tn, _ := h.store.Get(ctx, fabrikam)
		if tn.Consented() || tn.LastRefusalError != "access_denied" {
			t.Errorf("tenant = %+v, want the refusal recorded and no approval", tn)
		}
	})
	t.Run("forged success for a tenant that never approved", func(t *testing.T) {
		h := newHarness(t)
		_, state := startConsent(t, h, "organizations")
		q := url.Values{"state": {state}, "admin_consent": {"True"}, "tenant": {fabrikam}, "scope": {discovery + "/.default"}}
		res, err := h.svc.FinishConsent(ctx, q)
		if err != nil || res.Approved || !res.NotConfirmed {
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

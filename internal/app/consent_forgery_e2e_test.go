package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestForgedApprovalIsNotRecorded: the app is in Fabrikam's directory
// (its administrator signed in for themselves once, so Entra hands out
// app-only tokens there), but nobody approved it for the organisation.
// Dave, a member, starts an approval himself and calls the callback with a
// made-up success for Fabrikam, never visiting Entra's approval page. The
// connector sends him to sign in, sees he is no administrator, and records
// nothing: Fabrikam's users are still refused.
func TestForgedApprovalIsNotRecorded(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Settings: []string{"AzureWebJobs.SyncWorker.Disabled=true", "AzureWebJobs.UploadWorker.Disabled=true"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fabrikam := w.User(t, "dave@fabrikam.example").TenantID

	admin := testworld.NewBrowser()
	if status, page := admin.Get(t, w.URL+"/api/login?login_hint=admin@fabrikam.example"); status != http.StatusForbidden {
		t.Fatalf("the administrator's own sign-in = %d\n%s\nwant 403: Fabrikam has not approved here", status, page)
	}
	dave := testworld.NewBrowser()
	if status, _ := dave.Get(t, w.URL+"/api/login?login_hint=dave@fabrikam.example"); status != http.StatusForbidden {
		t.Fatalf("Dave's sign-in = %d, want 403", status)
	}
	// Dave starts a consent flow in his browser and answers it himself,
	// claiming Entra said Fabrikam approved.
	loc, _ := url.Parse(dave.Location(t, w.URL+"/api/consent/start?tenant=organizations"))
	forged := url.Values{"state": {loc.Query().Get("state")}, "admin_consent": {"True"}, "tenant": {fabrikam}}
	status, page := dave.Get(t, w.URL+"/api/consent/callback?"+forged.Encode())
	if status != http.StatusForbidden || !strings.Contains(page, "may not approve apps") {
		t.Errorf("the forged approval = %d\n%s\nwant 403: Dave may not approve apps", status, page)
	}
	// Dave starts another and lures Fabrikam's administrator, who is signed
	// in to Entra, to the forged answer: it is refused in her browser, which
	// did not start that flow.
	loc, _ = url.Parse(dave.Location(t, w.URL+"/api/consent/start?tenant=organizations"))
	forged.Set("state", loc.Query().Get("state"))
	status, page = admin.Get(t, w.URL+"/api/consent/callback?"+forged.Encode())
	if status != http.StatusBadRequest || !strings.Contains(page, "started in another browser") {
		t.Errorf("the forged approval opened by the lured administrator = %d\n%s\nwant 400: started in another browser", status, page)
	}
	if tn, err := store.NewTenants(w.DB).Get(ctx, fabrikam); err == nil && tn.Consented() {
		t.Fatalf("tenants/%s = %+v: a forged answer was recorded as an approval", fabrikam, tn)
	}
	if status, page := dave.Get(t, w.URL+"/api/login?login_hint=dave@fabrikam.example"); status != http.StatusForbidden || !strings.Contains(page, "has not approved Pitcher yet") {
		t.Errorf("Dave's sign-in after the forgery = %d\n%s\nwant 403: still not approved", status, page)
	}
	w.AssertNoSecrets(t, append(dave.Secrets(), admin.Secrets()...)...)
}

// TestForgedRefusalWritesNoTenant: anyone can start an approval and answer
// it from their own browser with a made-up refusal. For Contoso, which an
// administrator approved, that leaves Contoso's row exactly as it was
// (same ETag); for a tenant id nobody uses, it creates no row. The forger
// sees the refusal page, and that is all.
func TestForgedRefusalWritesNoTenant(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Settings: []string{"AzureWebJobs.SyncWorker.Disabled=true", "AzureWebJobs.UploadWorker.Disabled=true"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.Approve(t, "admin@contoso.example")
	contoso := w.User(t, "admin@contoso.example").TenantID
	table := w.DB.Table(store.TenantsTable)
	before, err := table.GetEntity(ctx, contoso, "tenant", nil)
	if err != nil {
		t.Fatalf("Contoso's row after the approval: %v", err)
	}

	forger := testworld.NewBrowser()
	refuse := func(tenant string) {
		t.Helper()
		loc, _ := url.Parse(forger.Location(t, w.URL+"/api/consent/start?tenant="+tenant))
		forged := url.Values{"state": {loc.Query().Get("state")}, "error": {"access_denied"},
			"error_description": {"AADSTS90094: Administrator consent is required."}}
		status, page := forger.Get(t, w.URL+"/api/consent/callback?"+forged.Encode())
		if status != http.StatusOK || !strings.Contains(page, "Pitcher was not approved") {
			t.Errorf("the forged refusal for %s = %d\n%s\nwant the refusal page", tenant, status, page)
		}
	}
	refuse(contoso)
	after, err := table.GetEntity(ctx, contoso, "tenant", nil)
	if err != nil || after.ETag != before.ETag {
		t.Errorf("Contoso's row changed by a forged refusal:\nbefore %s\nafter  %s (%v)", before.Value, after.Value, err)
	}
	if tn, err := store.NewTenants(w.DB).Get(ctx, contoso); err != nil || !tn.Consented() || !tn.LastRefusalAt.IsZero() {
		t.Errorf("Contoso = %+v, %v; want approved, no refusal", tn, err)
	}

	nobody := uuid.NewString()
	refuse(nobody)
	if _, err := store.NewTenants(w.DB).Get(ctx, nobody); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a forged refusal for the unused tenant id %s left a tenants row (%v)", nobody, err)
	}
	list, err := store.NewTenants(w.DB).List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != contoso {
		t.Errorf("tenants = %+v, %v; want Contoso's row only", list, err)
	}
	w.AssertNoSecrets(t, forger.Secrets()...)
}

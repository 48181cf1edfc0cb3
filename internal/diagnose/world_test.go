package diagnose_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/devtools/apispec"
	"github.com/pitcher/connector/handlers"
	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// doctor builds the diagnostics from settings the way connectorctl doctor
// does (app.LoadTool, app.New), with changes layered over them.
func doctor(t *testing.T, settings map[string]string, changes ...string) *diagnose.Doctor {
	t.Helper()
	over := map[string]string{}
	for _, kv := range changes {
		k, v, _ := strings.Cut(kv, "=")
		over[k] = v
	}
	cfg, err := app.LoadTool(func(k string) string {
		if v, ok := over[k]; ok {
			return v
		}
		return settings[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	a.Doctor.Timeout = 10 * time.Second
	return a.Doctor
}

// expect asserts that check id has status and that its detail (and fix,
// for a failure) mention each of words.
func expect(t *testing.T, rep diagnose.Report, id string, status diagnose.Status, words ...string) {
	t.Helper()
	c, ok := rep.Check(id)
	if !ok {
		t.Errorf("the report has no check %s:\n%s", id, render(rep))
		return
	}
	text := c.Detail + " | " + c.Fix
	if c.Status != status {
		t.Errorf("check %s = %s (%s), want %s", id, c.Status, text, status)
		return
	}
	for _, w := range words {
		if !strings.Contains(text, w) {
			t.Errorf("check %s says %q; want it to mention %q", id, text, w)
		}
	}
	if status == diagnose.Fail && c.Fix == "" {
		t.Errorf("failed check %s has no fix", id)
	}
}

// onlyFailures asserts that no check but ids failed.
func onlyFailures(t *testing.T, rep diagnose.Report, ids ...string) {
	t.Helper()
	allowed := map[string]bool{}
	for _, id := range ids {
		allowed[id] = true
	}
	for _, c := range rep.Failed() {
		if !allowed[c.ID] {
			t.Errorf("check %s failed (%s | %s); want only %v to fail", c.ID, c.Detail, c.Fix, ids)
		}
	}
	if rep.OK != (len(rep.Failed()) == 0) {
		t.Errorf("report ok = %v with %d failures", rep.OK, len(rep.Failed()))
	}
}

func render(rep diagnose.Report) string {
	var b strings.Builder
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "  %-4s %-36s %s | %s\n", c.Status, c.ID, c.Detail, c.Fix)
	}
	return b.String()
}

// TestDoctorInTheLocalWorld: with every link healthy every check passes;
// each broken link fails its own check, for its own reason, with a fix.
func TestDoctorInTheLocalWorld(t *testing.T) {
	since := time.Now()
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 3}})
	u := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, u, since, time.Minute, "accounts", "contacts", "appointments")
	target := diagnose.Target{TenantID: u.TenantID, UserID: u.OID}
	ctx := context.Background()
	d := doctor(t, w.Settings)

	t.Run("healthy", func(t *testing.T) {
		start := time.Now()
		rep := d.Run(ctx, target)
		t.Logf("a healthy user's run: %d checks in %s", len(rep.Checks), time.Since(start).Round(time.Millisecond))
		onlyFailures(t, rep)
		if t.Failed() {
			t.Logf("report:\n%s", render(rep))
		}
		expect(t, rep, diagnose.IDTenant, diagnose.Pass, "approved at", "Fabrikam")
		expect(t, rep, diagnose.IDRefresh, diagnose.Pass)
		expect(t, rep, diagnose.IDWhoAmI, diagnose.Pass)
		for _, s := range []string{"accounts", "contacts", "appointments"} {
			expect(t, rep, diagnose.IDRead(s), diagnose.Pass)
			expect(t, rep, diagnose.IDChangeTracking(s), diagnose.Pass)
			expect(t, rep, diagnose.IDLastSync(s), diagnose.Pass, "ago")
		}
		expect(t, rep, diagnose.IDDeadLetters("uploads"), diagnose.Pass)
		expect(t, rep, diagnose.IDUploads, diagnose.Pass)
	})

	t.Run("over HTTP", func(t *testing.T) { diagnosticsAPI(t, w, u) })

	t.Run("missing privilege", func(t *testing.T) {
		if err := w.Dataverse.SetPrivilege("contacts", dataversesim.AccessRead, false); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w.Dataverse.SetPrivilege("contacts", dataversesim.AccessRead, true) }()
		rep := d.Run(ctx, target)
		expect(t, rep, diagnose.IDRead("contacts"), diagnose.Fail, "403", "prvReadContact", "Security roles")
		expect(t, rep, diagnose.IDRead("accounts"), diagnose.Pass)
		onlyFailures(t, rep, diagnose.IDRead("contacts"))
	})

	t.Run("change tracking off", func(t *testing.T) {
		if err := w.Dataverse.SetChangeTracking("accounts", false); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w.Dataverse.SetChangeTracking("accounts", true) }()
		rep := d.Run(ctx, target)
		expect(t, rep, diagnose.IDChangeTracking("accounts"), diagnose.Fail, "change tracking is off for table account", "Track changes")
		expect(t, rep, diagnose.IDChangeTracking("contacts"), diagnose.Pass)
		onlyFailures(t, rep, diagnose.IDChangeTracking("accounts"))
	})

	t.Run("Dynamics unavailable", func(t *testing.T) {
		w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusServiceUnavailable, Count: 2, Path: "/WhoAmI"})
		rep := d.Run(ctx, target)
		expect(t, rep, diagnose.IDWhoAmI, diagnose.Fail, "503", "try again")
		expect(t, rep, diagnose.IDRead("accounts"), diagnose.Skip, "dataverse.whoami did not pass")
		onlyFailures(t, rep, diagnose.IDWhoAmI)
	})

	t.Run("wrong client secret", func(t *testing.T) {
		bad := doctor(t, w.Settings, "ENTRA_CLIENT_SECRET=not-the-secret")
		rep := bad.Run(ctx, target)
		expect(t, rep, diagnose.IDCredential, diagnose.Fail, "AADSTS7000215", "ENTRA_CLIENT_SECRET", "Certificates & secrets")
		expect(t, rep, diagnose.IDRefresh, diagnose.Fail, "ENTRA_CLIENT_SECRET")
		expect(t, rep, diagnose.IDWhoAmI, diagnose.Skip)
		onlyFailures(t, rep, diagnose.IDCredential, diagnose.IDRefresh)
		// The app's connection is untouched: its own credential still works.
		expect(t, d.Run(ctx, target), diagnose.IDRefresh, diagnose.Pass)
	})

	t.Run("dead letters present", func(t *testing.T) {
		poison(t, w)
		rep := d.Run(ctx, target)
		expect(t, rep, diagnose.IDDeadLetters("uploads"), diagnose.Fail, "1 dead-lettered message(s) in "+w.UploadQueue, "connectorctl dlq list --queue "+w.UploadQueue)
		expect(t, rep, diagnose.IDQueue("uploads"), diagnose.Pass)
		onlyFailures(t, rep, diagnose.IDDeadLetters("uploads"))
	})

	// Last: a revoked grant cannot be undone but by a new sign-in.
	t.Run("revoked grant", func(t *testing.T) {
		resp, err := http.Post(w.EntraURL+"/_sim/users/"+url.PathEscape(u.UPN)+"/revoke", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		rep := d.Run(ctx, target)
		expect(t, rep, diagnose.IDRefresh, diagnose.Fail, "AADSTS50173", "signs in again")
		expect(t, rep, diagnose.IDCredential, diagnose.Pass)
		expect(t, rep, diagnose.IDWhoAmI, diagnose.Skip)
		onlyFailures(t, rep, diagnose.IDRefresh, diagnose.IDDeadLetters("uploads"))
		// A second run reads the mark the first left, without asking Entra.
		// It also says when the retention run erases the connection.
		expect(t, d.Run(ctx, target), diagnose.IDRefresh, diagnose.Fail, "reauth", "AADSTS50173",
			"unless they sign in before "+time.Now().UTC().AddDate(0, 0, 30).Format("2006-01-02"))
		// The organisation's run names the user who must sign in again.
		rep = d.Run(ctx, diagnose.Target{TenantID: u.TenantID})
		expect(t, rep, diagnose.IDTenantUsers, diagnose.Fail, "1 of 1 connection(s) do not work", u.OID, "reauth_required", "AADSTS50173", "signs in again")
		onlyFailures(t, rep, diagnose.IDTenantUsers, diagnose.IDDeadLetters("uploads"))
	})
	w.AssertNoSecrets(t)
}

// poison sends an upload message the worker cannot read; Service Bus
// dead-letters it after its deliveries, as it would in Azure.
func poison(t *testing.T, w *testworld.World) {
	t.Helper()
	ctx := context.Background()
	c, err := azservicebus.NewClientFromConnectionString(w.ServiceBus.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	s, err := c.NewSender(w.UploadQueue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	id, ct := "poison-1", "application/json"
	if err := s.SendMessage(ctx, &azservicebus.Message{MessageID: &id, ContentType: &ct, Body: []byte(`{"v":1,"tenantId":"not-a-guid"}`)}, nil); err != nil {
		t.Fatal(err)
	}
	w.ServiceBus.WaitCounts(t, w.UploadQueue, time.Minute, func(c testenv.QueueCounts) bool { return c.DeadLetter == 1 })
}

// diagnosticsAPI: GET /api/diagnostics answers a device token with its
// own user's report and the diagnostics key with any user's, as
// docs/openapi.yaml says; a wrong key, a bad target or a device token
// asking for someone else is refused.
func diagnosticsAPI(t *testing.T, w *testworld.World, u testworld.User) {
	spec, err := apispec.Load(filepath.Join(testworld.RepoRoot(t), "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(query string, header http.Header) (int, diagnose.Report, []byte) {
		t.Helper()
		return getDiagnostics(t, w, spec, query, header)
	}
	bearer := http.Header{"Authorization": {"Bearer " + w.DeviceToken(t, u.UPN)}}
	status, rep, body := get("", bearer)
	if status != http.StatusOK || !rep.OK || rep.TenantID != u.TenantID || rep.UserID != u.OID {
		t.Fatalf("own diagnostics = %d %s; want 200, ok, for %s", status, body, u.OID)
	}
	expect(t, rep, diagnose.IDWhoAmI, diagnose.Pass)

	key := http.Header{handlers.DiagnosticsKeyHeader: {testworld.DiagnosticsKey}}
	status, rep, body = get("?tenant="+u.TenantID+"&user="+u.OID, key)
	if status != http.StatusOK || !rep.OK || rep.UserID != u.OID {
		t.Errorf("diagnostics by key = %d %s; want 200 and ok for %s", status, body, u.OID)
	}
	if status, rep, _ = get("?tenant="+u.TenantID, key); status != http.StatusOK || rep.UserID != "" {
		t.Errorf("tenant diagnostics by key = %d, user %q; want 200 for the tenant alone", status, rep.UserID)
	}
	expect(t, rep, diagnose.IDRefresh, diagnose.Skip, "needs a user")
	expect(t, rep, diagnose.IDTenantUsers, diagnose.Pass, "1 connection(s), all active")

	other := w.User(t, "alice@contoso.example")
	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
		want   int
	}{
		{"wrong key", "?tenant=" + u.TenantID, http.Header{handlers.DiagnosticsKeyHeader: {"not-the-key-0123456789abcdef012345"}}, http.StatusUnauthorized},
		{"user without tenant", "?user=" + u.OID, key, http.StatusBadRequest},
		{"tenant not a GUID", "?tenant=fabrikam", key, http.StatusBadRequest},
		{"someone else's by device token", "?tenant=" + other.TenantID + "&user=" + other.OID, bearer, http.StatusForbidden},
		{"no credentials", "", http.Header{}, http.StatusUnauthorized},
	} {
		if status, _, body := get(tc.query, tc.header); status != tc.want {
			t.Errorf("%s: GET /api/diagnostics%s = %d %s, want %d", tc.name, tc.query, status, body, tc.want)
		}
	}
}

// getDiagnostics asks w's GET /api/diagnostics with query and header,
// checks the answer against the OpenAPI document and that it holds no
// secret, and decodes a 200's report.
func getDiagnostics(t *testing.T, w *testworld.World, spec *apispec.Spec, query string, header http.Header) (int, diagnose.Report, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.URL+"/api/diagnostics"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := spec.CheckResponse(http.MethodGet, "/api/diagnostics", resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("GET /api/diagnostics%s: %v", query, err)
	}
	for _, secret := range []string{testworld.ConnectorSecret, testworld.EncryptionKey, "AccountKey=", "SharedAccessKey="} {
		if strings.Contains(string(body), secret) {
			t.Errorf("GET /api/diagnostics%s answers with a secret (%q):\n%s", query, secret, body)
		}
	}
	var rep diagnose.Report
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, rep, body
}

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// ctlWorld runs connectorctl with w's app settings.
func ctlWorld(t *testing.T, w *testworld.World, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, func(k string) string { return w.Settings[k] }, &out, &errOut)
	code := 0
	if err != nil {
		code = exitCode(err)
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

// TestOperationsCommands runs the operator's commands against a whole
// local world: what they print matches what the world holds, a sync asked
// for runs, a failed upload and a broken link show in doctor's exit status.
func TestOperationsCommands(t *testing.T) {
	since := time.Now()
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 2}})
	u := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, u, since, time.Minute, "accounts", "contacts", "appointments")
	T, U := "--tenant="+u.TenantID, "--user="+u.OID

	out, errOut, code := ctlWorld(t, w, "doctor", T, U)
	if code != 0 || !strings.Contains(out, "0 failed") || !strings.Contains(out, "✓") {
		t.Fatalf("doctor of a healthy user = exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = ctlWorld(t, w, "tenants", "list", "--json")
	var tenants []tenantJSON
	if err := json.Unmarshal([]byte(out), &tenants); code != 0 || err != nil {
		t.Fatalf("tenants list --json = exit %d, %v\n%s%s", code, err, out, errOut)
	}
	found := false
	for _, tn := range tenants {
		if tn.TenantID == u.TenantID {
			found = true
			if !tn.Approved || tn.Connections != 1 || tn.ApprovedBy == "" {
				t.Errorf("tenants list: %+v, want approved, by someone, with 1 connection", tn)
			}
		}
	}
	if !found {
		t.Errorf("tenants list does not list %s:\n%s", u.TenantID, out)
	}
	if out, _, code = ctlWorld(t, w, "tenants", "show", T); code != 0 || !strings.Contains(out, "Approved:           true") {
		t.Errorf("tenants show = exit %d\n%s", code, out)
	}

	out, _, code = ctlWorld(t, w, "connections", "list", T, "--json")
	var conns []connectionJSON
	if err := json.Unmarshal([]byte(out), &conns); code != 0 || err != nil || len(conns) != 1 {
		t.Fatalf("connections list --json = exit %d, %v\n%s", code, err, out)
	}
	if c := conns[0]; c.UserID != u.OID || c.Status != store.StatusActive || c.LastSync == nil || c.LastSync.Before(since) {
		t.Errorf("connections list: %+v, want %s active with a last sync after %s", c, u.OID, since)
	}
	// The user's pseudonym is the one their log lines carry.
	if ref := conns[0].UserRef; !obs.IsPseudonym(ref) || !strings.Contains(w.Logs(), `"userRef":"`+ref+`"`) {
		t.Errorf("connections list: userRef %q is not the pseudonym in the handler's logs", ref)
	}

	before := time.Now()
	// Without --tenant: the user's only connection says which.
	if out, errOut, code = ctlWorld(t, w, "sync", "now", U); code != 0 || !strings.Contains(out, "Queued a sync of user "+u.OID+" of tenant "+u.TenantID) {
		t.Fatalf("sync now = exit %d\n%s%s", code, out, errOut)
	}
	w.WaitSynced(t, u, before, time.Minute, "accounts", "contacts", "appointments")

	// An upload Dynamics refuses (the user's role may neither create nor
	// write appointments) fails; uploads show says why, and doctor fails
	// on it.
	for _, access := range []string{dataversesim.AccessCreate, dataversesim.AccessWrite} {
		if err := w.Dataverse.SetPrivilege("appointments", access, false); err != nil {
			t.Fatal(err)
		}
	}
	token := w.DeviceToken(t, u.UPN)
	report := map[string]any{"uploadId": "refused-1",
		"meeting": map[string]any{"subject": "Review", "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z"},
		"notes":   []any{map[string]any{"subject": "n", "text": base64.StdEncoding.EncodeToString([]byte("x"))}}}
	if status, _, body := w.API(t, http.MethodPost, "/api/uploads", token, report); status != http.StatusAccepted {
		t.Fatalf("POST /api/uploads = %d %s", status, body)
	}
	var ups []uploadJSON
	w.WaitFor(t, "the refused upload to fail", time.Minute, func() bool {
		out, _, _ = ctlWorld(t, w, "uploads", "show", T, U, "--json")
		ups = nil
		_ = json.Unmarshal([]byte(out), &ups)
		return len(ups) == 1 && ups[0].Status == store.UploadFailed
	})
	if ups[0].UploadID != "refused-1" || ups[0].ErrorStatus != http.StatusForbidden || !strings.Contains(ups[0].Error, "Activity privilege") {
		t.Errorf("uploads show: %+v, want refused-1 failed with Dataverse's 403 naming the Activity privilege", ups[0])
	}
	out, _, code = ctlWorld(t, w, "doctor", U)
	if code != 1 || !strings.Contains(out, "Diagnostics of user "+u.OID+" of tenant "+u.TenantID) || !strings.Contains(out, "✗  Uploads parked, failed or dead-lettered") || !strings.Contains(out, "1 failed (latest refused-1") || !strings.Contains(out, "1 failed,") {
		t.Errorf("doctor with a failed upload = exit %d, want 1 and the uploads check failed\n%s", code, out)
	}
	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct{ ID, Status string }
	}
	out, _, code = ctlWorld(t, w, "doctor", T, U, "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK {
		t.Errorf("doctor --json = exit %d, ok %v, %v; want 1 and ok false", code, rep.OK, err)
	}

	for _, args := range [][]string{
		{"doctor", "--user=dave"},
		{"doctor", "--tenant=fabrikam"},
		{"sync", "now", T},
		{"uploads", "show", T},
		{"connections", "list", "--status=gone"},
		{"tenants", "remove"},
	} {
		if _, errOut, code := ctlWorld(t, w, args...); code != 2 || errOut == "" {
			t.Errorf("connectorctl %v = exit %d (%s), want 2 with a message", args, code, errOut)
		}
	}
	if _, errOut, code := ctlWorld(t, w, "sync", "now", T, "--user=00000000-0000-4000-8000-000000000000"); code != 1 || !strings.Contains(errOut, "has not connected") {
		t.Errorf("sync now of a stranger = exit %d (%s), want 1 saying they have not connected", code, errOut)
	}
	if _, errOut, code := ctlWorld(t, w, "uploads", "show", "--user=00000000-0000-4000-8000-000000000000"); code != 1 || !strings.Contains(errOut, "has no connection in any tenant") {
		t.Errorf("uploads show of a stranger without --tenant = exit %d (%s), want 1 saying they have no connection", code, errOut)
	}
	w.AssertNoSecrets(t)
}

// TestDoctorWithBrokenSettings: without valid settings doctor still
// reports, listing every wrong setting on its own line, and exits 1.
func TestDoctorWithBrokenSettings(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"doctor"}, func(k string) string {
		return map[string]string{"SYNC_QUEUE": "sync-jobs", "UPLOAD_QUEUE": "sync-jobs"}[k]
	}, &out, &errOut)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("doctor with broken settings = %v, want exit 1", err)
	}
	for _, want := range []string{"✗  Configuration complete and valid", "  - AzureWebJobsStorage: missing", "  - UPLOAD_QUEUE: must differ from SYNC_QUEUE", "  - LOG_PSEUDONYM_KEY: missing", "0 passed, 1 failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor's report lacks %q:\n%s", want, out.String())
		}
	}
}

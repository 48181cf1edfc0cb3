package obs_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// handlerLines are the handler's JSON log lines in a World's output.
func handlerLines(t *testing.T, w *testworld.World) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(w.Logs(), "\n") {
		i := strings.Index(line, "[handler] {")
		if i < 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line[i+len("[handler] "):]), &m); err != nil {
			t.Fatalf("a handler log line is not JSON: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// TestLogsAndCountersOfARealDay: a user connects, syncs (one request
// throttled), uploads a report and loses their grant (found by the
// diagnostics); the handler's log
// lines carry the invocation's fields and the user's pseudonym, never
// their object id, and the counters add up to what happened.
func TestLogsAndCountersOfARealDay(t *testing.T) {
	since := time.Now()
	w := testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: 4}})
	w.Dataverse.FailNext(dataversesim.Fault{Status: http.StatusTooManyRequests, Path: "/contacts", Method: http.MethodGet, RetryAfter: 1})
	u := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, u, since, time.Minute, "accounts", "contacts", "appointments")
	key, err := base64.StdEncoding.DecodeString(testworld.PseudonymKey)
	if err != nil {
		t.Fatal(err)
	}
	ref := obs.NewPseudonyms(key).User(u.TenantID, u.OID)

	token := w.DeviceToken(t, u.UPN)
	report := map[string]any{"uploadId": "day-1",
		"meeting": map[string]any{"subject": "Review", "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z"}}
	if status, _, body := w.API(t, http.MethodPost, "/api/uploads", token, report); status != http.StatusAccepted {
		t.Fatalf("POST /api/uploads = %d %s", status, body)
	}
	w.WaitFor(t, "the upload to be done", time.Minute, func() bool {
		return strings.Contains(w.Logs(), `"metric":"uploads","value":1,"outcome":"done"`)
	})

	resp, err := http.Post(w.EntraURL+"/_sim/users/"+url.PathEscape(u.UPN)+"/revoke", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The handler holds an access token for an hour; the diagnostics
	// redeem the refresh token at once, and find the grant gone.
	if status, _, body := w.API(t, http.MethodGet, "/api/diagnostics", token, nil); status != http.StatusOK || !strings.Contains(string(body), "AADSTS50173") {
		t.Fatalf("GET /api/diagnostics after the revocation = %d %s", status, body)
	}
	w.WaitFor(t, "the reauthorization to be counted", time.Minute, func() bool {
		return strings.Contains(w.Logs(), `"metric":"reauthorizations"`)
	})

	lines := handlerLines(t, w)
	sums := map[string]float64{}
	ends := 0
	for _, l := range lines {
		if strings.Contains(mustJSON(l), u.OID) {
			t.Errorf("a log line names the user's object id: %v", l)
		}
		switch l["msg"] {
		case "invocation", "request":
			ends++
			for _, k := range []string{"function", "invocationId", "success", "outcome", "status", "durationMs"} {
				if _, ok := l[k]; !ok {
					t.Errorf("the end-of-invocation line lacks %s: %v", k, l)
				}
			}
			if l["tenant"] == u.TenantID && l["userRef"] != ref && l["function"] != "AdminConsentCallback" && l["function"] != "AdminConsentStart" {
				t.Errorf("a line of %s's tenant has userRef %v, want %s: %v", u.UPN, l["userRef"], ref, l)
			}
		case "metric":
			if l["userRef"] == ref {
				sums[l["metric"].(string)] += l["value"].(float64)
				if l["metric"] == obs.MetricReauthorizations && !strings.Contains(l["reason"].(string), "AADSTS50173") {
					t.Errorf("reauthorization reason = %v, want Entra's AADSTS50173", l["reason"])
				}
			}
		}
	}
	if ends == 0 {
		t.Fatal("no end-of-invocation lines in the handler's logs")
	}
	if sums[obs.MetricRowsSynced] < 3*4 {
		t.Errorf("rows_synced = %v, want at least the 12 rows seeded in three tables", sums[obs.MetricRowsSynced])
	}
	for _, m := range []string{obs.MetricUploads, obs.MetricThrottleWaits, obs.MetricTokenRefreshes, obs.MetricReauthorizations} {
		if sums[m] < 1 {
			t.Errorf("counter %s = %v for the user, want at least 1", m, sums[m])
		}
	}
	w.AssertNoSecrets(t)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSignInRefusalLogsNoAddress: an administrator approves for Contoso,
// then signs in with an account of Fabrikam. Entra refuses that sign-in
// with AADSTS50020, naming the account's UPN in its description, which the
// error page's log line carries as the cause. The logs hold no seeded
// user's name or UPN (AssertNoSecrets), only the address's stand-in.
func TestSignInRefusalLogsNoAddress(t *testing.T) {
	w := testworld.Start(t, testworld.Options{Settings: []string{"AzureWebJobs.SyncWorker.Disabled=true", "AzureWebJobs.SyncScheduler.Disabled=true"}})
	contoso := w.User(t, "admin@contoso.example").TenantID
	b := testworld.NewBrowser()
	consent := b.Location(t, w.URL+"/api/consent/start?tenant="+contoso)
	callback := b.Location(t, consent+"&login_hint="+url.QueryEscape("admin@contoso.example"))
	signIn := b.Location(t, callback)
	status, page := b.Get(t, signIn+"&login_hint="+url.QueryEscape("dave@fabrikam.example"))
	if status != http.StatusUnauthorized || !strings.Contains(page, "AADSTS50020") {
		t.Fatalf("the administrator's sign-in with another tenant's account = %d\n%s\nwant 401 naming AADSTS50020", status, page)
	}
	if !strings.Contains(w.Logs(), "User account '"+obs.AddressRedacted+"'") {
		t.Errorf("the logs do not carry Entra's description with the address hidden:\n%s", w.Logs())
	}
	w.AssertNoSecrets(t, b.Secrets()...)
}

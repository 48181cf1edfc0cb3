package diagnose_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/devtools/apispec"
	"github.com/pitcher/connector/handlers"
	"github.com/pitcher/connector/internal/diagnose"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestOwnDiagnosticsOverHTTP: a user's own diagnostics (device token) show
// only what is theirs, and are cheap to repeat. Against a whole local
// world with two organisations and a dead-lettered message:
//   - the device-token report names no storage endpoint, Service Bus
//     endpoint, queue, approver or other organisation, counts no dead
//     letters, and says what the infrastructure is in one redacted check;
//   - the support key's report, asked for just before and just after,
//     still names them all (the two views are never answered from each
//     other's cache);
//   - two device-token calls 11 s apart (beyond the support view's 10 s
//     reuse, within the own view's 60 s) redeem the refresh token once
//     (the Entra simulator's counter) and send one set of Dataverse
//     requests (counted in front of the Dataverse simulator);
//   - concurrent device-token calls of another user redeem once.
func TestOwnDiagnosticsOverHTTP(t *testing.T) {
	w := testworld.Start(t, testworld.Options{})
	dave := w.Connect(t, "dave@fabrikam.example")
	alice := w.Connect(t, "alice@contoso.example")
	approver := w.User(t, "admin@fabrikam.example")
	otherApprover := w.User(t, "admin@contoso.example")
	poison(t, w) // one dead letter, not Dave's

	spec, err := apispec.Load(filepath.Join(testworld.RepoRoot(t), "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, query string, header http.Header) (diagnose.Report, string) {
		t.Helper()
		status, rep, body := getDiagnostics(t, w, spec, query, header)
		if status != http.StatusOK {
			t.Fatalf("GET /api/diagnostics%s = %d %s", query, status, body)
		}
		return rep, string(body)
	}
	own := func(u testworld.User) http.Header {
		return http.Header{"Authorization": {"Bearer " + w.DeviceToken(t, u.UPN)}}
	}
	key := http.Header{handlers.DiagnosticsKeyHeader: {testworld.DiagnosticsKey}}

	// Diagnostics' Dataverse requests carry their own User-Agent.
	var dataverse atomic.Int32
	w.SetDataverseHook(func(rw http.ResponseWriter, r *http.Request, sim http.Handler) {
		if strings.Contains(r.UserAgent(), "pitcher-connector-diagnostics") {
			dataverse.Add(1)
		}
		sim.ServeHTTP(rw, r)
	})
	t.Cleanup(func() { w.SetDataverseHook(nil) })
	refreshes := func(u testworld.User) int { return w.Entra.Stats().Refreshes[u.UPN] }

	t.Run("repeated within the window", func(t *testing.T) {
		r0, d0 := refreshes(dave), dataverse.Load()
		first, _ := get(t, "", own(dave))
		r1, d1 := refreshes(dave), dataverse.Load()
		if r1-r0 != 1 || d1 == d0 {
			t.Fatalf("the first call redeemed the refresh token %d times and sent %d Dataverse requests; want 1 and some", r1-r0, d1-d0)
		}
		time.Sleep(11 * time.Second)
		second, _ := get(t, "", own(dave))
		if r, d := refreshes(dave), dataverse.Load(); r != r1 || d != d1 {
			t.Errorf("a second call 11 s later redeemed the refresh token %d more time(s) and sent %d more Dataverse request(s); want none (the last report again)", r-r1, d-d1)
		}
		if !second.At.Equal(first.At) {
			t.Errorf("the second call's report is of %s, want the first's (%s)", second.At, first.At)
		}
		expect(t, second, diagnose.IDWhoAmI, diagnose.Pass)
	})

	// Everything that names infrastructure or somebody else.
	storage := connValue(w.Storage, "TableEndpoint")
	foreign := map[string]string{
		"the storage endpoint":          strings.TrimPrefix(storage, "http://"),
		"the storage account":           "devstoreaccount1",
		"the Service Bus endpoint":      strings.TrimPrefix(connValue(w.ServiceBus.ConnectionString, "Endpoint"), "sb://"),
		"the sync queue":                w.SyncQueue,
		"the uploads queue":             w.UploadQueue,
		"the lifecycle queue":           w.LifecycleQueue,
		"the approver's name":           approver.Name,
		"the approver's object id":      approver.OID,
		"another organisation's id":     alice.TenantID,
		"another user's object id":      alice.OID,
		"another approver's name":       otherApprover.Name,
		"dead letters":                  "dead-lettered message",
		"the dead-letter checks":        "servicebus.deadletters",
		"the queue checks":              "servicebus.queue",
		"the storage checks":            "storage.tables",
		"the table prefix of the world": w.Settings["STORAGE_TABLE_PREFIX"],
	}

	t.Run("only what is theirs", func(t *testing.T) {
		_, before := get(t, "?tenant="+dave.TenantID+"&user="+dave.OID, key) // the support view first: it must not leak into the own view
		rep, body := get(t, "", own(dave))
		for what, v := range foreign {
			if strings.Contains(strings.ToLower(body), strings.ToLower(v)) {
				t.Errorf("the device-token report names %s (%q):\n%s", what, v, body)
			}
		}
		expect(t, rep, diagnose.IDInfrastructure, diagnose.Pass, "ok")
		expect(t, rep, diagnose.IDTenant, diagnose.Pass, "approved at")
		expect(t, rep, diagnose.IDRefresh, diagnose.Pass)
		expect(t, rep, diagnose.IDWhoAmI, diagnose.Pass)
		expect(t, rep, diagnose.IDLastSync("accounts"), diagnose.Pass)
		expect(t, rep, diagnose.IDUploads, diagnose.Pass)
		if !rep.OK || rep.TenantID != dave.TenantID || rep.UserID != dave.OID {
			t.Errorf("own report: ok %v for %s/%s; want ok for Dave", rep.OK, rep.TenantID, rep.UserID)
		}

		// The support key still sees everything, before and after.
		full, after := get(t, "?tenant="+dave.TenantID+"&user="+dave.OID, key)
		for _, body := range []string{before, after} {
			for _, what := range []string{"the storage endpoint", "the sync queue", "the uploads queue", "the lifecycle queue", "the approver's name", "the approver's object id", "the dead-letter checks"} {
				if !strings.Contains(body, foreign[what]) {
					t.Errorf("the support-key report does not name %s (%q):\n%s", what, foreign[what], body)
				}
			}
		}
		expect(t, full, diagnose.IDDeadLetters("uploads"), diagnose.Fail, "1 dead-lettered message(s) in "+w.UploadQueue)
		expect(t, full, diagnose.IDTenant, diagnose.Pass, approver.Name, approver.OID)
		if _, ok := full.Check(diagnose.IDInfrastructure); ok {
			t.Errorf("the support-key report has the redacted %s check", diagnose.IDInfrastructure)
		}
	})

	t.Run("concurrent calls", func(t *testing.T) {
		header := own(alice)
		r0 := refreshes(alice)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { get(t, "", header) })
		}
		wg.Wait()
		if n := refreshes(alice) - r0; n != 1 {
			t.Errorf("8 concurrent calls redeemed Alice's refresh token %d times, want 1", n)
		}
	})
	w.AssertNoSecrets(t)
}

// connValue is the value of key in a connection string.
func connValue(conn, key string) string {
	for part := range strings.SplitSeq(conn, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testenv"
	"github.com/pitcher/connector/localworld/testworld"
)

// erasureWorld is a local world for the erasing commands: no scheduled
// syncs (only the first sync of a sign-in and the ones a test asks for),
// and a short sync lease, so an erasure that meets a sync's lease waits
// seconds, not minutes.
func erasureWorld(t *testing.T) *testworld.World {
	return testworld.Start(t, testworld.Options{Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true", "SYNC_LEASE_DURATION=5s"}})
}

// pseudonyms are the world's (LOG_PSEUDONYM_KEY), as the audit uses them.
func pseudonyms(t *testing.T) obs.Pseudonyms {
	key, err := base64.StdEncoding.DecodeString(testworld.PseudonymKey)
	if err != nil {
		t.Fatal(err)
	}
	return obs.NewPseudonyms(key)
}

// held counts the entities of table that belong to tenant (user "": any
// of its users): the tenant's own row and connections (PartitionKey = the
// tenant), the per-user partitions ("<tenant>_<user>"), and sign-ins in
// progress (property Tenant).
func held(t *testing.T, w *testworld.World, table, tenant, user string) int {
	t.Helper()
	pager := w.DB.Table(table).NewListEntitiesPager(nil)
	n := 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", table, err)
		}
		for _, raw := range page.Entities {
			var e map[string]any
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			pk, rk, tn := fmt.Sprint(e["PartitionKey"]), fmt.Sprint(e["RowKey"]), fmt.Sprint(e["Tenant"])
			switch {
			case user == "" && (pk == tenant || strings.HasPrefix(pk, tenant+"_") || tn == tenant):
				n++
			case user != "" && (pk == tenant+"_"+user || (pk == tenant && rk == user)):
				n++
			}
		}
	}
	return n
}

var tenantTables = []string{store.TenantsTable, store.ConnectionsTable, mirror.RecordsTable, mirror.ChangesTable, store.SyncStateTable, store.UploadsTable, store.AuthFlowsTable}

// count is the number on the line "  <key>  <n>" of an erasing command's
// output (-1 when there is no such line).
func count(out, key string) int64 {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == key && strings.HasPrefix(l, "  ") {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// upload posts a meeting report for upn and waits until it is done.
func upload(t *testing.T, w *testworld.World, u testworld.User, id string) {
	t.Helper()
	report := map[string]any{"uploadId": id,
		"meeting": map[string]any{"subject": "Review", "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z"},
		"notes":   []any{map[string]any{"subject": "n", "text": base64.StdEncoding.EncodeToString([]byte("notes of the meeting"))}}}
	if status, _, body := w.API(t, http.MethodPost, "/api/uploads", w.DeviceToken(t, u.UPN), report); status != http.StatusAccepted {
		t.Fatalf("POST /api/uploads = %d %s", status, body)
	}
	w.WaitFor(t, "upload "+id+" to be done", time.Minute, func() bool {
		up, err := store.NewUploads(w.DB).Get(context.Background(), u.TenantID, u.OID, id)
		return err == nil && up.Status == store.UploadDone
	})
}

// deadLetterBodies sends one message per body to q and dead-letters them.
func deadLetterBodies(t *testing.T, env testenv.ServiceBusEnv, q string, bodies ...string) {
	t.Helper()
	var msgs []*azservicebus.Message
	for i, b := range bodies {
		id := fmt.Sprintf("dead-%d", i)
		msgs = append(msgs, &azservicebus.Message{Body: []byte(b), MessageID: &id})
	}
	deadLetter(t, env, q, msgs, func(*azservicebus.ReceivedMessage) (string, string) { return "Poison", "" })
}

// TestOffboardTenant: offboarding refuses without --yes and for a tenant
// the connector does not know, touching nothing; it erases everything of
// the tenant, prints what (per table and container), leaves the other
// tenant alone, and the audit names the tenant by its pseudonym only.
// --no-wait offboards through the lifecycle queue. dlq list marks what
// belongs to the erased.
func TestOffboardTenant(t *testing.T) {
	since := time.Now()
	w := erasureWorld(t)
	alice := w.Connect(t, "alice@contoso.example")
	dave := w.Connect(t, "dave@fabrikam.example")
	w.WaitSynced(t, alice, since, time.Minute, "accounts", "contacts", "appointments")
	w.WaitSynced(t, dave, since, time.Minute, "accounts", "contacts", "appointments")
	upload(t, w, alice, "report-1")
	T, F := alice.TenantID, dave.TenantID
	ps := pseudonyms(t)
	ctx := context.Background()

	before := map[string]int{}
	for _, tb := range tenantTables {
		before[tb] = held(t, w, tb, T, "")
	}
	if before[mirror.RecordsTable] == 0 || before[store.ConnectionsTable] != 1 || before[store.TenantsTable] != 1 || before[store.UploadsTable] != 1 {
		t.Fatalf("before offboarding, tenant %s holds %v; want records, its connection, its row and an upload", T, before)
	}
	unchanged := func(what string) {
		t.Helper()
		for _, tb := range tenantTables {
			if n := held(t, w, tb, T, ""); n != before[tb] {
				t.Errorf("%s: table %s holds %d entities of the tenant, had %d", what, tb, n, before[tb])
			}
		}
		if out, _, code := ctlWorld(t, w, "tenants", "show", "--tenant", T); code != 0 || !strings.Contains(out, "Approved:           true") {
			t.Errorf("%s: tenants show = exit %d, want still approved\n%s", what, code, out)
		}
	}

	// Refused without --yes, and for ids that are not GUIDs: nothing touched.
	if _, errOut, code := ctlWorld(t, w, "tenants", "offboard", "--tenant", T); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("tenants offboard without --yes = exit %d (%s), want 2 asking for --yes", code, errOut)
	}
	if _, errOut, code := ctlWorld(t, w, "tenants", "offboard", "--tenant", "contoso", "--yes"); code != 2 || !strings.Contains(errOut, `"contoso" is not a GUID`) {
		t.Errorf("tenants offboard --tenant contoso = exit %d (%s), want 2 saying it is not a GUID", code, errOut)
	}
	unchanged("after the refused offboardings")

	// An unknown tenant: NotFound, exit 1, no row, no audit.
	stranger := uuid.NewString()
	for _, args := range [][]string{{"tenants", "offboard", "--tenant", stranger, "--yes"}, {"tenants", "offboard", "--tenant", stranger, "--yes", "--no-wait"}} {
		if out, errOut, code := ctlWorld(t, w, args...); code != 1 || !strings.Contains(errOut, "tenant "+stranger+" is unknown") || strings.Contains(out, "offboarded") || strings.Contains(out, "Queued") {
			t.Errorf("connectorctl %v = exit %d\n%s%s\nwant 1 saying the tenant is unknown", args, code, out, errOut)
		}
	}
	if _, err := store.NewTenants(w.DB).Get(ctx, stranger); err == nil {
		t.Errorf("offboarding an unknown tenant created its row")
	}
	if recs, err := store.NewErasures(w.DB).List(ctx, time.Time{}); err != nil || len(recs) != 0 {
		t.Errorf("audit after refused offboardings = %v, %v; want none", recs, err)
	}

	// A blob of alice's in the documents container (an upload's report
	// stays there until the upload is settled).
	putBlob(t, w, "documents", T+"/"+alice.OID+"/report-2/report-x.json")

	out, errOut, code := ctlWorld(t, w, "tenants", "offboard", "--tenant", T, "--yes")
	if code != 0 || !strings.Contains(out, "tenant "+T+" offboarded") {
		t.Fatalf("tenants offboard = exit %d\n%s%s", code, out, errOut)
	}
	wantCounts(t, out, map[string]int64{mirror.RecordsTable: int64(before[mirror.RecordsTable]), mirror.ChangesTable: int64(before[mirror.ChangesTable]),
		store.UploadsTable: 1, store.ConnectionsTable: 1, store.TenantsTable: 1, "blob:documents": 1})
	for _, tb := range tenantTables {
		if n := held(t, w, tb, T, ""); n != 0 {
			t.Errorf("after offboarding, table %s holds %d entities of tenant %s", tb, n, T)
		}
	}
	if n := held(t, w, mirror.RecordsTable, F, ""); n == 0 {
		t.Errorf("offboarding %s erased the other tenant's records", T)
	}
	if out, _, code := ctlWorld(t, w, "connections", "list", "--tenant", F); code != 0 || !strings.Contains(out, dave.OID) || !strings.Contains(out, "active") {
		t.Errorf("the other tenant's connection after offboarding = exit %d\n%s", code, out)
	}
	if status, _, body := w.API(t, http.MethodGet, "/api/connection", w.DeviceToken(t, alice.UPN), nil); status != http.StatusNotFound {
		t.Errorf("GET /api/connection of an offboarded user = %d %s, want 404", status, body)
	}
	// Offboarded is offboarded: again, the tenant is unknown.
	if _, errOut, code := ctlWorld(t, w, "tenants", "offboard", "--tenant", T, "--yes"); code != 1 || !strings.Contains(errOut, "is unknown") {
		t.Errorf("offboarding an offboarded tenant again = exit %d (%s), want 1, unknown", code, errOut)
	}

	// The audit: one offboard row, with the tenant's pseudonym only.
	out, _, code = ctlWorld(t, w, "erasures", "--tenant", T, "--json")
	var recs []erasureRecordJSON
	if err := json.Unmarshal([]byte(out), &recs); code != 0 || err != nil || len(recs) != 1 {
		t.Fatalf("erasures --tenant --json = exit %d, %v\n%s", code, err, out)
	}
	if r := recs[0]; r.Kind != store.ErasureOffboard || r.TenantRef != ps.Tenant(T) || r.UserRef != "" || r.By != "operator" ||
		r.Counts[mirror.RecordsTable] != int64(before[mirror.RecordsTable]) || r.Counts[store.TenantsTable] != 1 || r.CompletedAt == nil || r.CompletedAt.Before(since) {
		t.Errorf("audit row %+v, want an offboard of %s by operator with the counts", r, ps.Tenant(T))
	}
	if strings.Contains(out, T) || strings.Contains(out, alice.OID) {
		t.Errorf("the audit names the tenant or user by id:\n%s", out)
	}
	today := time.Now().UTC().Format("2006-01-02")
	if out, _, code := ctlWorld(t, w, "erasures", "--since", today); code != 0 || !strings.Contains(out, ps.Tenant(T)) || !strings.Contains(out, "offboard") || !strings.Contains(out, "records=") {
		t.Errorf("erasures --since %s = exit %d\n%s", today, code, out)
	}
	if out, _, code := ctlWorld(t, w, "erasures", "--tenant", F); code != 0 || !strings.Contains(out, "No erasures of tenant "+F) {
		t.Errorf("erasures of a tenant never erased = exit %d\n%s", code, out)
	}

	// dlq list marks messages of the erased (NOTE), by queue name or role.
	q := w.ServiceBus.NewQueue(t, testenv.QueueProperties{})
	deadLetterBodies(t, w.ServiceBus, q,
		fmt.Sprintf(`{"v":1,"tenantId":%q,"userId":%q}`, T, alice.OID),
		fmt.Sprintf(`{"v":1,"tenantId":%q,"userId":%q}`, F, dave.OID),
		fmt.Sprintf(`{"v":1,"op":"offboard-tenant","tenantId":%q}`, T))
	out, errOut, code = ctlWorld(t, w, "dlq", "list", "--queue", q)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "NOTE") || !strings.HasSuffix(lines[1], "erased user: no connection") ||
		!strings.HasSuffix(strings.TrimSpace(lines[2]), "-") || !strings.HasSuffix(lines[3], "offboarded tenant: unknown") {
		t.Errorf("dlq list with the handler's settings = exit %d, want the erased user's and tenant's messages marked\n%s%s", code, out, errOut)
	}
	if out, errOut, code := ctlWorld(t, w, "dlq", "list", "--queue", "lifecycle"); code != 0 || !strings.Contains(out, "The dead-letter queue of "+w.LifecycleQueue+" is empty") {
		t.Errorf("dlq list --queue lifecycle = exit %d, want the LIFECYCLE_QUEUE's dead-letter queue\n%s%s", code, out, errOut)
	}

	// --no-wait: the LifecycleWorker offboards the other tenant.
	out, errOut, code = ctlWorld(t, w, "tenants", "offboard", "--tenant", F, "--yes", "--no-wait")
	if code != 0 || !strings.Contains(out, "Queued the offboarding of tenant "+F+" on "+w.LifecycleQueue) {
		t.Fatalf("tenants offboard --no-wait = exit %d\n%s%s", code, out, errOut)
	}
	w.WaitFor(t, "the LifecycleWorker to offboard "+F, time.Minute, func() bool {
		out, _, _ := ctlWorld(t, w, "erasures", "--tenant", F, "--json")
		var recs []erasureRecordJSON
		return json.Unmarshal([]byte(out), &recs) == nil && len(recs) == 1 && recs[0].Kind == store.ErasureOffboard
	})
	for _, tb := range tenantTables {
		if n := held(t, w, tb, F, ""); n != 0 {
			t.Errorf("after offboarding through the lifecycle queue, table %s holds %d entities of tenant %s", tb, n, F)
		}
	}
	w.AssertNoSecrets(t)
}

// TestEraseConnection: connections erase refuses without --yes, erases
// one user of a tenant and leaves the other user of it intact, is audited
// as an operator's erasure under the user's pseudonym, and is harmless
// when repeated; --no-wait erases through the lifecycle queue.
func TestEraseConnection(t *testing.T) {
	since := time.Now()
	w := erasureWorld(t)
	alice := w.Connect(t, "alice@contoso.example")
	bob := w.SignIn(t, "bob@contoso.example")
	w.WaitSynced(t, alice, since, time.Minute, "accounts", "contacts", "appointments")
	w.WaitSynced(t, bob, since, time.Minute, "accounts", "contacts", "appointments")
	T := alice.TenantID
	ps := pseudonyms(t)

	userTables := []string{store.ConnectionsTable, mirror.RecordsTable, mirror.ChangesTable, store.SyncStateTable}
	aliceBefore, bobBefore := map[string]int{}, map[string]int{}
	for _, tb := range userTables {
		aliceBefore[tb], bobBefore[tb] = held(t, w, tb, T, alice.OID), held(t, w, tb, T, bob.OID)
	}
	if aliceBefore[mirror.RecordsTable] == 0 || bobBefore[mirror.RecordsTable] == 0 || aliceBefore[store.ConnectionsTable] != 1 {
		t.Fatalf("before: alice holds %v, bob %v; want records and a connection each", aliceBefore, bobBefore)
	}

	if _, errOut, code := ctlWorld(t, w, "connections", "erase", "--tenant", T, "--user", alice.OID); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("connections erase without --yes = exit %d (%s), want 2 asking for --yes", code, errOut)
	}
	if _, errOut, code := ctlWorld(t, w, "connections", "erase", "--tenant", T, "--user", "alice", "--yes"); code != 2 || !strings.Contains(errOut, "not a GUID") {
		t.Errorf("connections erase --user alice = exit %d (%s), want 2", code, errOut)
	}
	if n := held(t, w, mirror.RecordsTable, T, alice.OID); n != aliceBefore[mirror.RecordsTable] {
		t.Errorf("a refused erase changed alice's records: %d, had %d", n, aliceBefore[mirror.RecordsTable])
	}

	// Without --tenant: alice's only connection says which.
	out, errOut, code := ctlWorld(t, w, "connections", "erase", "--user", alice.OID, "--yes")
	if code != 0 || !strings.Contains(out, "user "+alice.OID+" of tenant "+T+" erased") || count(out, mirror.RecordsTable) != int64(aliceBefore[mirror.RecordsTable]) || count(out, store.ConnectionsTable) != 1 {
		t.Fatalf("connections erase = exit %d, want alice erased with her %d records counted\n%s%s", code, aliceBefore[mirror.RecordsTable], out, errOut)
	}
	for _, tb := range userTables {
		if n := held(t, w, tb, T, alice.OID); n != 0 {
			t.Errorf("after erasing alice, table %s holds %d entities of hers", tb, n)
		}
		if n := held(t, w, tb, T, bob.OID); n != bobBefore[tb] {
			t.Errorf("erasing alice changed bob's %s: %d entities, had %d", tb, n, bobBefore[tb])
		}
	}
	if out, _, code := ctlWorld(t, w, "tenants", "show", "--tenant", T); code != 0 || !strings.Contains(out, "Approved:           true") || !strings.Contains(out, "Connections:        1 ") {
		t.Errorf("the tenant after erasing one user = exit %d, want still approved with bob's connection\n%s", code, out)
	}
	// Bob still syncs.
	resync := time.Now()
	if _, errOut, code := ctlWorld(t, w, "sync", "now", "--user", bob.OID); code != 0 {
		t.Fatalf("sync now of bob = exit %d %s", code, errOut)
	}
	w.WaitSynced(t, bob, resync, time.Minute, "accounts", "contacts", "appointments")

	out, _, code = ctlWorld(t, w, "erasures", "--tenant", T, "--user", alice.OID, "--json")
	var recs []erasureRecordJSON
	if err := json.Unmarshal([]byte(out), &recs); code != 0 || err != nil || len(recs) != 1 {
		t.Fatalf("erasures --tenant --user --json = exit %d, %v\n%s", code, err, out)
	}
	if r := recs[0]; r.Kind != store.ErasureOperator || r.TenantRef != ps.Tenant(T) || r.UserRef != ps.User(T, alice.OID) || r.By != "operator" || r.Counts[mirror.RecordsTable] != int64(aliceBefore[mirror.RecordsTable]) {
		t.Errorf("audit row %+v, want an operator erasure of %s", r, ps.User(T, alice.OID))
	}

	// Again: nothing left, nothing to do; without --tenant there is no
	// connection to say which tenant.
	if out, errOut, code := ctlWorld(t, w, "connections", "erase", "--tenant", T, "--user", alice.OID, "--yes"); code != 0 || !strings.Contains(out, "Nothing to erase") {
		t.Errorf("erasing alice again = exit %d, want 0 and nothing to erase\n%s%s", code, out, errOut)
	}
	if _, errOut, code := ctlWorld(t, w, "connections", "erase", "--user", alice.OID, "--yes"); code != 1 || !strings.Contains(errOut, "has no connection in any tenant") {
		t.Errorf("erasing alice again without --tenant = exit %d (%s), want 1", code, errOut)
	}

	// --no-wait: the LifecycleWorker erases bob.
	out, errOut, code = ctlWorld(t, w, "connections", "erase", "--tenant", T, "--user", bob.OID, "--yes", "--no-wait")
	if code != 0 || !strings.Contains(out, "Queued the erasure of user "+bob.OID+" of tenant "+T+" on "+w.LifecycleQueue) {
		t.Fatalf("connections erase --no-wait = exit %d\n%s%s", code, out, errOut)
	}
	w.WaitFor(t, "the LifecycleWorker to erase bob", time.Minute, func() bool {
		out, _, _ := ctlWorld(t, w, "erasures", "--tenant", T, "--user", bob.OID, "--json")
		var recs []erasureRecordJSON
		return json.Unmarshal([]byte(out), &recs) == nil && len(recs) == 1 && recs[0].Kind == store.ErasureOperator
	})
	for _, tb := range userTables {
		if n := held(t, w, tb, T, bob.OID); n != 0 {
			t.Errorf("after erasing bob through the lifecycle queue, table %s holds %d entities of his", tb, n)
		}
	}
	w.AssertNoSecrets(t)
}

// TestOffboardStoppedByTimeout: an upload being written makes the
// offboarding wait; stopped by --timeout, the command says what it erased
// and what is left, queues the continuation and exits 1, with the tenant's
// approval already withdrawn; run again once the upload is written, it
// finishes, and its counts are what the tenant held, each counted once.
func TestOffboardStoppedByTimeout(t *testing.T) {
	since := time.Now()
	w := erasureWorld(t)
	alice := w.Connect(t, "alice@contoso.example")
	w.WaitSynced(t, alice, since, time.Minute, "accounts", "contacts", "appointments")
	upload(t, w, alice, "report-1")
	T, ctx := alice.TenantID, context.Background()
	before := map[string]int{}
	for _, tb := range tenantTables {
		before[tb] = held(t, w, tb, T, "")
	}

	// A worker's fresh "processing": the erasure waits 30 s for it, after
	// --timeout 20s, so the command stops after its first pass.
	uploads := store.NewUploads(w.DB)
	now := time.Now().UTC()
	if _, err := uploads.Insert(ctx, store.Upload{TenantID: T, UserID: alice.OID, UploadID: "being-written", Status: store.UploadProcessing, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := ctlWorld(t, w, "tenants", "offboard", "--tenant", T, "--yes", "--timeout", "20s")
	if code != 1 || !strings.Contains(out, "tenant "+T+" is NOT offboarded yet (--timeout 20s ends before its next pass)") || !strings.Contains(out, "Left: 1 upload(s) being written") ||
		!strings.Contains(out, "The LifecycleWorker goes on with it at") || !strings.Contains(errOut, "stopped before it was done") || count(out, mirror.RecordsTable) != int64(before[mirror.RecordsTable]) {
		t.Fatalf("offboarding stopped by --timeout = exit %d, want 1 with what is left and what was erased\n%s%s", code, out, errOut)
	}
	if n := held(t, w, store.UploadsTable, T, ""); n != 1 {
		t.Errorf("the offboarding's first pass left %d uploads, want the one being written", n)
	}
	if out, _, code := ctlWorld(t, w, "tenants", "show", "--tenant", T); code != 0 || !strings.Contains(out, "Approved:           false") || !strings.Contains(out, "Offboarding:") {
		t.Errorf("tenants show of a tenant being offboarded = exit %d, want its approval withdrawn and the offboarding shown\n%s", code, out)
	}
	if status, _, body := w.API(t, http.MethodGet, "/api/changes", w.DeviceToken(t, alice.UPN), nil); status == http.StatusOK {
		t.Errorf("GET /api/changes of a user whose tenant is being offboarded = 200 %s", body)
	}

	// The worker finishes writing; the offboarding goes on to its end.
	up, err := uploads.Get(ctx, T, alice.OID, "being-written")
	if err != nil {
		t.Fatal(err)
	}
	up.Status, up.UpdatedAt, up.CompletedAt = store.UploadDone, time.Now().UTC(), time.Now().UTC()
	if _, err := uploads.Update(ctx, up); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = ctlWorld(t, w, "tenants", "offboard", "--tenant", T, "--yes", "--json")
	var res erasureJSON
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || !res.Done {
		t.Fatalf("tenants offboard --json after the upload was written = exit %d, %v\n%s%s", code, err, out, errOut)
	}
	for _, tb := range tenantTables {
		if n := held(t, w, tb, T, ""); n != 0 {
			t.Errorf("after offboarding, table %s holds %d entities of tenant %s", tb, n, T)
		}
	}
	// Over two passes, each entity is counted once.
	for k, want := range map[string]int64{mirror.RecordsTable: int64(before[mirror.RecordsTable]), mirror.ChangesTable: int64(before[mirror.ChangesTable]),
		store.UploadsTable: 2, store.ConnectionsTable: 1, store.TenantsTable: 1} {
		if res.Counts[k] != want {
			t.Errorf("offboarding over two passes counted %s %d, want %d (what the tenant held)", k, res.Counts[k], want)
		}
	}
}

// wantCounts checks the count lines of an erasing command's output.
func wantCounts(t *testing.T, out string, want map[string]int64) {
	t.Helper()
	for k, n := range want {
		if got := count(out, k); got != n {
			t.Errorf("printed %s %d, want %d\n%s", k, got, n, out)
		}
	}
}

// putBlob stores a small blob in the world's container.
func putBlob(t *testing.T, w *testworld.World, containerName, name string) {
	t.Helper()
	c, err := container.NewClientFromConnectionString(w.Storage, containerName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewBlockBlobClient(name).UploadBuffer(context.Background(), []byte("{}"), nil); err != nil {
		t.Fatal(err)
	}
}

// TestErasingUsageErrors: the erasing commands' wrong command lines are
// exit 2 before anything is contacted.
func TestErasingUsageErrors(t *testing.T) {
	g := "7e5f0c1a-3b2d-4c8e-9f10-2b3c4d5e6f70"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tenants", "offboard", "--yes"}, "--tenant is required"},
		{[]string{"tenants", "offboard", "--tenant", g}, "add --yes to confirm"},
		{[]string{"tenants", "offboard", "--tenant", "fabrikam", "--yes"}, `"fabrikam" is not a GUID`},
		{[]string{"tenants", "offboard", "--tenant", g, "--yes", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"tenants", "offboard", g, "--yes"}, "unexpected arguments"},
		{[]string{"connections", "erase", "--tenant", g, "--yes"}, "--user is required"},
		{[]string{"connections", "erase", "--user", g}, "add --yes to confirm"},
		{[]string{"connections", "frob"}, "list or erase"},
		{[]string{"erasures", "--since", "yesterday"}, "is not a day"},
		{[]string{"erasures", "--user", g}, "--user needs --tenant"},
		{[]string{"erasures", "--kind", "shredded"}, "is not one of"},
		{[]string{"connections", "list", "--status", "gone"}, "erasing"},
	} {
		_, err, code := ctl(t, "x", tc.args...)
		if err == nil || code != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("connectorctl %q = %v (exit %d), want exit 2 mentioning %q", tc.args, err, code, tc.want)
		}
	}
}

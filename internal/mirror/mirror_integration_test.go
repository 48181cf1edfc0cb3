package mirror_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testenv"
)

func newStore(t *testing.T) *mirror.Store {
	return newStoreWith(t, nil)
}

// newStoreWith is newStore with the Table client's options o.
func newStoreWith(t testing.TB, o *aztables.ClientOptions) *mirror.Store {
	t.Helper()
	if o == nil {
		return newStoreOf(t, store.ClientOptions(nil))
	}
	return newStoreOf(t, store.ClientOptions(&o.ClientOptions))
}

// newStoreOf is a store whose Table client has exactly the options opts.
func newStoreOf(t testing.TB, opts *aztables.ClientOptions) *mirror.Store {
	t.Helper()
	cs := testenv.Storage(t)
	svc, err := aztables.NewServiceClientFromConnectionString(cs, opts)
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(svc, testenv.TablePrefix(t))
	if err := db.CreateTables(context.Background(), mirror.Tables...); err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mirror.New(db, mirror.NewAzureBlobs(client))
}

func row(id, name string) mirror.Entry {
	return mirror.Entry{ID: id, Data: json.RawMessage(fmt.Sprintf(`{"accountid":%q,"name":%q}`, id, name))}
}

func records(t *testing.T, s *mirror.Store, tenant, user, set string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.EachRecord(context.Background(), tenant, user, set, func(id string, data json.RawMessage) error {
		out[id] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestApplyMirrorsAndLogs: upserts land in the mirror and the log, a
// tombstone removes the row (also one the mirror never had), rows larger
// than an entity property travel through a blob, and the log reads back
// in order, page by page.
func TestApplyMirrorsAndLogs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tenant, user := uuid.NewString(), uuid.NewString()
	var entries []mirror.Entry
	for i := range 250 {
		entries = append(entries, row(fmt.Sprintf("id-%03d", i), fmt.Sprintf("Account %d", i)))
	}
	big := strings.Repeat("é", 40000) // 40,000 UTF-16 units: more than a string property holds
	entries = append(entries, row("id-big", big))
	if err := s.Apply(ctx, tenant, user, "accounts", entries, 1, 1); err != nil {
		t.Fatal(err)
	}
	del := []mirror.Entry{{ID: "id-001", Deleted: true}, {ID: "never-seen", Deleted: true}, row("id-002", "Renamed")}
	if err := s.Apply(ctx, tenant, user, "accounts", del, 1, 300); err != nil {
		t.Fatal(err)
	}
	got := records(t, s, tenant, user, "accounts")
	if len(got) != 250 {
		t.Errorf("mirror holds %d rows, want 250 (251 written, 1 deleted)", len(got))
	}
	if _, ok := got["id-001"]; ok {
		t.Errorf("the deleted row id-001 is still in the mirror")
	}
	if !strings.Contains(got["id-002"], "Renamed") || !strings.Contains(got["id-big"], big) {
		t.Errorf("rows id-002 = %.60s, id-big = %.60s…; want the latest data", got["id-002"], got["id-big"])
	}

	var all []mirror.Change
	after := int64(0)
	for {
		page, more, err := s.Changes(ctx, tenant, user, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			break
		}
		after = page[len(page)-1].Seq
	}
	if len(all) != 254 {
		t.Fatalf("the log holds %d changes, want 254", len(all))
	}
	for i, c := range all {
		if i > 0 && c.Seq <= all[i-1].Seq {
			t.Fatalf("change %d has seq %d after %d", i, c.Seq, all[i-1].Seq)
		}
	}
	last := all[len(all)-3:]
	if last[0].Op != mirror.OpDelete || last[0].ID != "id-001" || last[0].Data != nil || last[1].ID != "never-seen" || last[2].Op != mirror.OpUpsert {
		t.Errorf("last changes = %+v", last)
	}
	if c := all[250]; c.ID != "id-big" || !strings.Contains(string(c.Data), big) {
		t.Errorf("change of the large row = %s %.40s…", c.ID, c.Data)
	}

	// Another user of the same tenant sees nothing.
	other, _, err := s.Changes(ctx, tenant, uuid.NewString(), 0, 100)
	if err != nil || len(other) != 0 {
		t.Errorf("another user's changes = %d, %v; want none", len(other), err)
	}
}

// TestMarkAndSweep: rows a full read did not mark are stale.
func TestMarkAndSweep(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tenant, user := uuid.NewString(), uuid.NewString()
	if err := s.Apply(ctx, tenant, user, "leads", []mirror.Entry{row("a", "A"), row("b", "B"), row("c", "C")}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, tenant, user, "accounts", []mirror.Entry{row("a", "other set")}, 1, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Mark(ctx, tenant, user, "leads", []string{"a", "c", "not-in-mirror"}, 2); err != nil {
		t.Fatal(err)
	}
	var stale []string
	err := s.Stale(ctx, tenant, user, "leads", 2, func(ids []string) error { stale = append(stale, ids...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(stale, ",") != "b" {
		t.Errorf("stale = %v, want [b]", stale)
	}
	if got := records(t, s, tenant, user, "leads"); len(got) != 3 {
		t.Errorf("Mark created or removed rows: %v", got)
	}
}

// failLog refuses every write to the change log, as Storage failing (or
// the worker dying) before it is written.
type failLog struct{ on atomic.Bool }

func (f *failLog) Do(req *policy.Request) (*http.Response, error) {
	if f.on.Load() && req.Raw().Method != http.MethodGet {
		target := req.Raw().URL.Path
		if body := req.Body(); body != nil { // a transaction names its table in its body
			b, _ := io.ReadAll(body)
			_, _ = body.Seek(0, io.SeekStart)
			target += string(b)
		}
		if strings.Contains(target, mirror.ChangesTable+"(") { // an entity of the table, not the "changeset" of a batch
			return nil, errors.New("the change log is unavailable")
		}
	}
	return req.Next()
}

// TestApplyLogsBeforeTheMirror: the mirror never holds a row whose change
// is not in the log. The sync decides what to write again from the mirror
// (is the row there? unchanged?), so a row in the mirror with its change
// missing from the log would never reach the app.
func TestApplyLogsBeforeTheMirror(t *testing.T) {
	fail := &failLog{}
	s := newStoreWith(t, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{fail}, Retry: policy.RetryOptions{MaxRetries: -1}}})
	fail.on.Store(true)
	tenant, user := uuid.NewString(), uuid.NewString()
	err := s.Apply(context.Background(), tenant, user, "accounts", []mirror.Entry{row("a1", "Alpha"), row("a2", "Beta")}, 1, 1)
	if err == nil {
		t.Fatal("Apply succeeded with the change log refusing writes")
	}
	if got := records(t, s, tenant, user, "accounts"); len(got) != 0 {
		t.Errorf("the mirror holds %v although their changes are not logged", got)
	}
}

// TestVersion: the row as the user's copy held it at an ETag comes from
// the mirror when it is the latest version, else from the change log; a
// version the connector never saw, or another user's, is not found.
func TestVersion(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tenant, user := uuid.NewString(), uuid.NewString()
	version := func(id, name, etag string) mirror.Entry {
		return mirror.Entry{ID: id, Data: json.RawMessage(fmt.Sprintf(`{"@odata.etag":%q,"accountid":%q,"name":%q}`, etag, id, name))}
	}
	steps := [][]mirror.Entry{
		{version("a1", "Alpha", `W/"1"`), version("a2", "Beta", `W/"2"`)},
		{version("a1", "Alpha AG", `W/"3"`)},
		{version("a1", "Alpha SA", `W/"4"`), {ID: "a2", Deleted: true}},
	}
	seq := int64(1)
	for i, entries := range steps {
		if err := s.Apply(ctx, tenant, user, "accounts", entries, int64(i+1), seq); err != nil {
			t.Fatal(err)
		}
		seq += int64(len(entries))
	}
	for _, tc := range []struct {
		id, etag, name string // name "" when not found
	}{
		{"a1", `W/"4"`, "Alpha SA"}, // the mirror
		{"a1", `W/"3"`, "Alpha AG"}, // the log
		{"a1", `W/"1"`, "Alpha"},
		{"a2", `W/"2"`, "Beta"}, // deleted since: the log still has it
		{"a1", `W/"2"`, ""},     // another row's version
		{"a1", `W/"9"`, ""},
	} {
		data, ok, err := s.Version(ctx, tenant, user, "accounts", tc.id, tc.etag)
		var got struct{ Name string }
		_ = json.Unmarshal(data, &got)
		if err != nil || ok != (tc.name != "") || got.Name != tc.name {
			t.Errorf("Version(%s, %s) = %s, %v, %v; want name %q", tc.id, tc.etag, data, ok, err, tc.name)
		}
	}
	if _, ok, err := s.Version(ctx, tenant, uuid.NewString(), "accounts", "a1", `W/"3"`); ok || err != nil {
		t.Errorf("another user's Version = %v, %v; want not found", ok, err)
	}
}

// countRequests counts the requests reaching Table Storage.
type countRequests struct{ n atomic.Int64 }

func (c *countRequests) Do(req *policy.Request) (*http.Response, error) {
	c.n.Add(1)
	return req.Next()
}

// BenchmarkVersionFromLog: the cost of finding the app's version of a row
// in the change log (a merge conflict whose row the sync read again), for
// a user whose log holds 10,000 changes (MIRROR_BENCH_CHANGES). Reports
// Table requests per lookup.
func BenchmarkVersionFromLog(b *testing.B) {
	n := testenv.IntEnv(b, "MIRROR_BENCH_CHANGES", 10000, 2, 1000000)
	count := &countRequests{}
	s := newStoreWith(b, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{count}}})
	ctx := context.Background()
	tenant, user := uuid.NewString(), uuid.NewString()
	entries := make([]mirror.Entry, n)
	for i := range entries {
		id := fmt.Sprintf("a%05d", i%(n/2+1))
		entries[i] = mirror.Entry{ID: id, Data: json.RawMessage(fmt.Sprintf(`{"@odata.etag":"W/\"%d\"","accountid":%q,"name":"Account %d"}`, i+1, id, i))}
	}
	if err := s.Apply(ctx, tenant, user, "accounts", entries, 1, 1); err != nil {
		b.Fatal(err)
	}
	// a00000's first version, replaced since, is the log's first entry; a
	// version the log does not hold costs a scan of the whole log.
	for _, bc := range []struct {
		name, etag string
		found      bool
	}{{"first", `W/"1"`, true}, {"absent", `W/"0"`, false}} {
		b.Run(bc.name, func(b *testing.B) {
			count.n.Store(0)
			for b.Loop() {
				if _, ok, err := s.Version(ctx, tenant, user, "accounts", "a00000", bc.etag); err != nil || ok != bc.found {
					b.Fatalf("Version = %v, %v", ok, err)
				}
			}
			b.ReportMetric(float64(count.n.Load())/float64(b.N), "table-requests/op")
		})
	}
}

// TestApplyRefusesAClientWithoutTurns: a Table client without the turn
// policy (store.ClientOptions) would send the log's transactions in any
// order; the write fails, saying so, instead of reporting success.
func TestApplyRefusesAClientWithoutTurns(t *testing.T) {
	s := newStoreOf(t, nil)
	err := s.Apply(context.Background(), "t1", "u1", "accounts", []mirror.Entry{row("a1", "A")}, 1, 1)
	if err == nil || !strings.Contains(err.Error(), "no turn policy") {
		t.Errorf("Apply with a client without turns = %v, want an error naming the missing turn policy", err)
	}
}

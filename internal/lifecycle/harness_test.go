package lifecycle_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testenv"
)

// The harness: an Eraser over real Azurite tables and blob containers of
// the test's own (a table prefix and two containers per test), a clock the
// test moves, fake dead-letter queues, and a fault injector on the
// eraser's Storage clients. The test's own clients (seeding, inspection)
// bypass the faults.

// leaseDuration is SYNC_LEASE_DURATION in these tests.
const leaseDuration = 2 * time.Minute

// base is the time every test starts at (whole seconds, so times survive
// Table Storage unchanged).
var base = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// allTables are the tables the connector keeps (docs/architecture.md, "State",
// and the erasure audit).
var allTables = []string{store.TenantsTable, store.ConnectionsTable, store.AuthFlowsTable, store.SyncStateTable, store.SyncDueTable,
	mirror.RecordsTable, mirror.ChangesTable, store.UploadsTable, store.ErasuresTable}

// clock is the eraser's clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// faults is a pipeline policy of the eraser's Storage clients: when hook
// returns an error for a request, the request fails with it (before the
// retry policy, so it is not retried).
type faults struct {
	mu   sync.Mutex
	hook func(*http.Request) error
}

func (f *faults) set(hook func(*http.Request) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = hook
}

func (f *faults) Do(req *policy.Request) (*http.Response, error) {
	f.mu.Lock()
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(req.Raw()); err != nil {
			return nil, err
		}
	}
	return req.Next()
}

// fakeDLQ is a dead-letter queue in memory (lifecycle.DeadLetterQueue).
type fakeDLQ struct {
	mu    sync.Mutex
	msgs  []queue.DeadLetter
	next  int64
	lists int // how often List was called
}

func (q *fakeDLQ) add(t testing.TB, msg any) {
	t.Helper()
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	q.msgs = append(q.msgs, queue.DeadLetter{SequenceNumber: q.next, MessageID: fmt.Sprintf("m-%d", q.next), Body: body})
}

func (q *fakeDLQ) List(_ context.Context, max int) ([]queue.DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.lists++
	return slices.Clone(q.msgs[:min(max, len(q.msgs))]), nil
}

func (q *fakeDLQ) Purge(_ context.Context, seqs []int64) ([]queue.Outcome, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []queue.Outcome
	q.msgs = slices.DeleteFunc(q.msgs, func(m queue.DeadLetter) bool {
		if slices.Contains(seqs, m.SequenceNumber) {
			out = append(out, queue.Outcome{SequenceNumber: m.SequenceNumber, MessageID: m.MessageID})
			return true
		}
		return false
	})
	return out, nil
}

// bodies are the bodies of the messages left, sorted.
func (q *fakeDLQ) bodies() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, m := range q.msgs {
		out = append(out, string(m.Body))
	}
	sort.Strings(out)
	return out
}

// world is one test's Storage and eraser.
type world struct {
	t      testing.TB
	ctx    context.Context
	prefix string
	svc    *aztables.ServiceClient
	db     *store.DB // the test's, without faults

	docs, overflow *container.Client // the test's, without faults
	docsName       string
	overflowName   string

	conns   *store.Connections
	tenants *store.Tenants
	uploads *store.Uploads
	states  *store.SyncStates
	flows   *store.AuthFlows
	audit   *store.Erasures
	mirror  *mirror.Store

	pseudo obs.Pseudonyms
	logs   *testenv.Buffer
	clock  *clock
	faults *faults
	dlq    map[string]*fakeDLQ

	forgotMu sync.Mutex
	forgot   []string

	eraser *lifecycle.Eraser
}

func newWorld(t testing.TB) *world {
	t.Helper()
	cs := testenv.Storage(t)
	ctx := context.Background()
	w := &world{t: t, ctx: ctx, prefix: testenv.TablePrefix(t), pseudo: obs.NewPseudonyms([]byte("lifecycle-test-key")),
		logs: &testenv.Buffer{}, clock: &clock{t: base}, faults: &faults{},
		dlq: map[string]*fakeDLQ{"sync-jobs": {}, "uploads": {}}}

	svc, err := aztables.NewServiceClientFromConnectionString(cs, store.ClientOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	w.db = store.NewDB(svc, w.prefix)
	if err := w.db.CreateTables(ctx, allTables...); err != nil {
		t.Fatal(err)
	}
	blobs, err := azblob.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.docsName, w.overflowName = w.prefix+"-documents", w.prefix+"-overflow"
	for _, name := range []string{w.docsName, w.overflowName} {
		if _, err := blobs.CreateContainer(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = blobs.DeleteContainer(context.Background(), name, nil) })
	}
	w.docs = blobs.ServiceClient().NewContainerClient(w.docsName)
	w.overflow = blobs.ServiceClient().NewContainerClient(w.overflowName)
	w.conns, w.tenants, w.uploads = store.NewConnections(w.db), store.NewTenants(w.db), store.NewUploads(w.db)
	w.states, w.flows, w.audit = store.NewSyncStates(w.db), store.NewAuthFlows(w.db), store.NewErasures(w.db)
	w.mirror = mirror.New(w.db, containerBlobs{w.overflow})

	// The eraser's clients go through the fault injector.
	opts := azcore.ClientOptions{PerCallPolicies: []policy.Policy{w.faults}}
	esvc, err := aztables.NewServiceClientFromConnectionString(cs, store.ClientOptions(&opts))
	if err != nil {
		t.Fatal(err)
	}
	eblobs, err := azblob.NewClientFromConnectionString(cs, &azblob.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	edb := store.NewDB(esvc, w.prefix)
	logger := slog.New(obs.NewHandler(slog.NewJSONHandler(w.logs, nil), w.pseudo))
	dl := map[string]lifecycle.DeadLetterQueue{}
	for name, q := range w.dlq {
		dl[name] = q
	}
	w.eraser = lifecycle.New(lifecycle.Deps{
		DB: edb, Conns: store.NewConnections(edb), Tenants: store.NewTenants(edb), Uploads: store.NewUploads(edb),
		States: store.NewSyncStates(edb), Flows: store.NewAuthFlows(edb), Audit: store.NewErasures(edb),
		Pseudo: w.pseudo, Logger: logger,
		Blobs: []lifecycle.Container{
			{Name: w.docsName, Client: eblobs.ServiceClient().NewContainerClient(w.docsName), Uploads: true},
			{Name: w.overflowName, Client: eblobs.ServiceClient().NewContainerClient(w.overflowName)},
		},
		DeadLetters: dl,
		Forget: func(tenant, user string) {
			w.forgotMu.Lock()
			w.forgot = append(w.forgot, tenant+"/"+user)
			w.forgotMu.Unlock()
		},
		LeaseDuration: leaseDuration,
		Now:           w.clock.Now,
	})
	return w
}

// forgotten lists the users whose cached tokens the eraser dropped.
func (w *world) forgotten() []string {
	w.forgotMu.Lock()
	defer w.forgotMu.Unlock()
	return slices.Clone(w.forgot)
}

// containerBlobs is mirror.Blobs in the test's overflow container.
type containerBlobs struct{ c *container.Client }

func (b containerBlobs) Put(ctx context.Context, name string, data []byte) error {
	_, err := b.c.NewBlockBlobClient(name).UploadBuffer(ctx, data, nil)
	return err
}

func (b containerBlobs) Get(ctx context.Context, name string) ([]byte, error) {
	resp, err := b.c.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// erase runs one pass of a disconnect erasure as DELETE /api/connection would.
func (w *world) erase(tenant, user string) (lifecycle.Result, error) {
	w.t.Helper()
	return w.eraser.EraseUser(w.ctx, tenant, user, lifecycle.Request{Kind: store.ErasureDisconnect, By: "user:" + w.pseudo.User(tenant, user)})
}

func (w *world) mustErase(tenant, user string) lifecycle.Result {
	w.t.Helper()
	res, err := w.erase(tenant, user)
	if err != nil {
		w.t.Fatalf("EraseUser %s/%s: %v", tenant, user, err)
	}
	return res
}

// --- seeding, with the connector's own writers ---

// userSeed says what a seeded user has.
type userSeed struct {
	// Status of the connection ("" : active); NoConnection: none at all
	// (uploads of a user whose connection is gone).
	Status          string
	StatusChangedAt time.Time
	NoConnection    bool
	// Rows is how many rows of accounts the mirror holds (plus one
	// overflowing row when Overflow).
	Rows     int
	Overflow bool
	// Uploads are the statuses of the user's uploads, one upload each.
	Uploads []string
	// UploadsUpdatedAt is their UpdatedAt (zero: the clock).
	UploadsUpdatedAt time.Time
}

// seeded is what seedUser wrote.
type seeded struct {
	tenant, user string
	uploadIDs    map[string]string // status -> upload id
}

func (w *world) seedUser(tenant, user string, s userSeed) seeded {
	w.t.Helper()
	ctx, now := w.ctx, w.clock.Now()
	out := seeded{tenant: tenant, user: user, uploadIDs: map[string]string{}}
	if !s.NoConnection {
		status, changed := s.Status, s.StatusChangedAt
		if status == "" {
			status = store.StatusActive
		}
		if changed.IsZero() {
			changed = now.Add(-48 * time.Hour)
		}
		conn := store.Connection{TenantID: tenant, UserID: user, Status: status, StatusChangedAt: changed,
			RefreshToken: []byte("sealed-refresh-token-" + uuid.NewString()), KeyID: "k1", OrgURL: "https://contoso.crm4.dynamics.com",
			DataverseUserID: uuid.NewString(), UserName: "someone@contoso.example", ConnectedAt: now.Add(-72 * time.Hour), NextSyncAt: now.Add(time.Hour)}
		if status == store.StatusReauthRequired {
			conn.StatusReason = "invalid_grant AADSTS700082"
		}
		if _, err := w.conns.Put(ctx, conn); err != nil {
			w.t.Fatalf("put connection: %v", err)
		}
	}
	if s.Rows > 0 || s.Overflow {
		// A finished sync: the lease taken, the mirror written, the sets'
		// state committed with the lease, the lease released.
		n := int64(s.Rows)
		if s.Overflow {
			n++
		}
		l := store.Lease{Owner: "seed-" + uuid.NewString(), Until: now.Add(leaseDuration), NextSeq: 1 + n}
		etag, err := w.states.CreateLease(ctx, tenant, user, l)
		if err != nil {
			w.t.Fatalf("create lease: %v", err)
		}
		w.apply(tenant, user, "accounts", s.Rows, s.Overflow, 1)
		for _, set := range []string{"accounts", "contacts"} {
			l.ETag = etag
			etag, err = w.states.CommitSet(ctx, tenant, user, l, store.SetState{EntitySet: set, Mode: store.ModeChangeTracking,
				PrimaryKey: strings.TrimSuffix(set, "s") + "id", DeltaLink: "https://contoso.crm4.dynamics.com/api/data/v9.2/" + set + "?$deltatoken=919042%2108%2f22%2f2017",
				Generation: 1, LastSuccess: now, LastRun: now, Upserted: n})
			if err != nil {
				w.t.Fatalf("commit %s: %v", set, err)
			}
		}
		l.ETag, l.Owner, l.Until = etag, "", time.Time{}
		if _, err := w.states.UpdateLease(ctx, tenant, user, l); err != nil {
			w.t.Fatalf("release lease: %v", err)
		}
	}
	for _, status := range s.Uploads {
		out.uploadIDs[status] = w.seedUpload(tenant, user, status, s.UploadsUpdatedAt)
	}
	return out
}

// apply writes rows accounts (and an overflowing one) of user into the
// mirror from sequence number firstSeq, as a sync page does.
func (w *world) apply(tenant, user, set string, rows int, overflow bool, firstSeq int64) {
	w.t.Helper()
	var entries []mirror.Entry
	for i := range rows {
		id := uuid.NewString()
		entries = append(entries, mirror.Entry{ID: id, Data: json.RawMessage(fmt.Sprintf(`{"accountid":%q,"name":"Account %d","telephone1":"+41 44 000 00 %02d"}`, id, i, i%100))})
	}
	if overflow {
		id := uuid.NewString()
		entries = append(entries, mirror.Entry{ID: id, Data: json.RawMessage(fmt.Sprintf(`{"accountid":%q,"description":%q}`, id, strings.Repeat("é", 40000)))})
	}
	for len(entries) > 0 {
		page := entries[:min(len(entries), 1000)]
		entries = entries[len(page):]
		if err := w.mirror.Apply(w.ctx, tenant, user, set, page, 1, firstSeq); err != nil {
			w.t.Fatalf("mirror apply: %v", err)
		}
		firstSeq += int64(len(page))
	}
}

// seedUpload inserts an upload of status with the blobs the intake writes
// (none once it is done: those are deleted then) and returns its id.
func (w *world) seedUpload(tenant, user, status string, updated time.Time) string {
	w.t.Helper()
	now := w.clock.Now()
	if updated.IsZero() {
		updated = now
	}
	id := "up-" + uuid.NewString()[:8]
	doc := []byte("Offer for " + id)
	sum := sha256.Sum256(doc)
	report := []byte(fmt.Sprintf(`{"uploadId":%q,"meeting":{"subject":"Quarterly review"},"documents":[{"size":%d,"sha256":%q}]}`, id, len(doc), hex.EncodeToString(sum[:])))
	rsum := sha256.Sum256(report)
	up := store.Upload{TenantID: tenant, UserID: user, UploadID: id, Status: status, ContentHash: hex.EncodeToString(rsum[:]),
		MessageSent: true, Attempts: 1, CreatedAt: updated.Add(-time.Minute), UpdatedAt: updated}
	switch status {
	case store.UploadDone:
		up.BatchDone, up.CompletedAt, up.Records = true, updated, `{"meeting":{"entitySet":"appointments","id":"`+uuid.NewString()+`"}}`
	case store.UploadFailed:
		up.CompletedAt, up.ErrorCode, up.ErrorMessage, up.ErrorStatus = updated, "0x80040217", "account With Id = x Does Not Exist", 404
	case store.UploadRetrying:
		up.NextAttemptAt = updated.Add(time.Minute)
	}
	if _, err := w.uploads.Insert(w.ctx, up); err != nil {
		w.t.Fatalf("insert upload: %v", err)
	}
	if status != store.UploadDone {
		prefix := tenant + "/" + user + "/" + id + "/"
		w.putBlob(w.docs, prefix+"report-"+up.ContentHash+".json", report)
		w.putBlob(w.docs, prefix+"document-"+hex.EncodeToString(sum[:]), doc)
	}
	return id
}

func (w *world) putBlob(c *container.Client, name string, data []byte) {
	w.t.Helper()
	if _, err := c.NewBlockBlobClient(name).UploadBuffer(w.ctx, data, nil); err != nil {
		w.t.Fatalf("put blob %s: %v", name, err)
	}
}

// seedFlow starts a sign-in for tenant that expires at expires.
func (w *world) seedFlow(tenant string, expires time.Time) {
	w.t.Helper()
	err := w.flows.Create(w.ctx, uuid.NewString(), store.AuthFlow{Kind: "login", Secret: []byte("sealed"), KeyID: "k1",
		Tenant: tenant, ReturnTo: "pitcher://signed-in", CreatedAt: expires.Add(-10 * time.Minute), ExpiresAt: expires})
	if err != nil {
		w.t.Fatalf("create flow: %v", err)
	}
}

// seedTenant records an approval of tenant by an administrator who is not
// a connected user.
func (w *world) seedTenant(tenant string) {
	w.t.Helper()
	if err := w.tenants.RecordConsentedBy(w.ctx, tenant, "Admin", uuid.NewString()); err != nil {
		w.t.Fatal(err)
	}
	if err := w.tenants.RecordConsent(w.ctx, tenant, "https://dynamics.microsoft.com/user_impersonation", w.clock.Now().Add(-90*24*time.Hour)); err != nil {
		w.t.Fatal(err)
	}
}

// deadLetters puts one sync job and one upload of user in the dead-letter queues.
func (w *world) deadLetters(tenant, user string) {
	w.t.Helper()
	w.dlq["sync-jobs"].add(w.t, queue.SyncJob{Version: 1, TenantID: tenant, UserID: user, Reason: "scheduled", Slot: base})
	w.dlq["uploads"].add(w.t, queue.Upload{Version: 1, TenantID: tenant, UserID: user, UploadID: "up-dead"})
}

// --- inspection ---

// snapshot is everything in the test's tables and containers: entities by
// "table|PartitionKey|RowKey" as Table Storage returns them (ETag and
// Timestamp included), blobs by "container|name" with their content.
type snapshot struct {
	entities map[string]string
	blobs    map[string]string
}

func (w *world) snapshot() snapshot {
	w.t.Helper()
	return w.snapshotOf("", "")
}

// userSnapshot is the part of the snapshot under the keys of user: the
// connection and the user's partitions, the blobs under the user's prefix.
func (w *world) userSnapshot(tenant, user string) snapshot {
	w.t.Helper()
	filter := "(" + store.PartitionFilter(store.UserPartition(tenant, user)) + ") or (" + store.PartitionFilter(tenant) + " and RowKey eq '" + user + "')"
	return w.snapshotOf(filter, tenant+"/"+user+"/")
}

// snapshotOf is the snapshot of the entities entityFilter selects ("":
// all) and the blobs under blobPrefix.
func (w *world) snapshotOf(entityFilter, blobPrefix string) snapshot {
	w.t.Helper()
	s := snapshot{entities: map[string]string{}, blobs: map[string]string{}}
	filter := "TableName ge '" + w.prefix + "' and TableName lt '" + w.prefix + "~'"
	tables := w.svc.NewListTablesPager(&aztables.ListTablesOptions{Filter: &filter})
	for tables.More() {
		page, err := tables.NextPage(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, tbl := range page.Tables {
			if !strings.HasPrefix(*tbl.Name, w.prefix) {
				continue
			}
			name := strings.TrimPrefix(*tbl.Name, w.prefix)
			var opts *aztables.ListEntitiesOptions
			if entityFilter != "" {
				opts = &aztables.ListEntitiesOptions{Filter: &entityFilter}
			}
			pager := w.svc.NewClient(*tbl.Name).NewListEntitiesPager(opts)
			for pager.More() {
				p, err := pager.NextPage(w.ctx)
				if err != nil {
					w.t.Fatal(err)
				}
				for _, raw := range p.Entities {
					var e aztables.Entity
					if err := json.Unmarshal(raw, &e); err != nil {
						w.t.Fatal(err)
					}
					s.entities[name+"|"+e.PartitionKey+"|"+e.RowKey] = string(raw)
				}
			}
		}
	}
	for _, c := range []*container.Client{w.docs, w.overflow} {
		cname := w.docsName
		if c == w.overflow {
			cname = w.overflowName
		}
		pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &blobPrefix})
		for pager.More() {
			p, err := pager.NextPage(w.ctx)
			if err != nil {
				w.t.Fatal(err)
			}
			for _, b := range p.Segment.BlobItems {
				resp, err := c.NewBlobClient(*b.Name).DownloadStream(w.ctx, nil)
				if err != nil {
					w.t.Fatal(err)
				}
				data, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					w.t.Fatal(err)
				}
				s.blobs[cname+"|"+*b.Name] = string(data)
			}
		}
	}
	return s
}

// about returns the entries of s whose key or content holds needle (any
// case): an entity's keys and properties, a blob's name and bytes.
func (s snapshot) about(needle string) snapshot {
	needle = strings.ToLower(needle)
	out := snapshot{entities: map[string]string{}, blobs: map[string]string{}}
	for k, v := range s.entities {
		if strings.Contains(strings.ToLower(k+v), needle) {
			out.entities[k] = v
		}
	}
	for k, v := range s.blobs {
		if strings.Contains(strings.ToLower(k+v), needle) {
			out.blobs[k] = v
		}
	}
	return out
}

// without returns s without the entries of other.
func (s snapshot) without(other snapshot) snapshot {
	out := snapshot{entities: map[string]string{}, blobs: map[string]string{}}
	for k, v := range s.entities {
		if _, ok := other.entities[k]; !ok {
			out.entities[k] = v
		}
	}
	for k, v := range s.blobs {
		if _, ok := other.blobs[k]; !ok {
			out.blobs[k] = v
		}
	}
	return out
}

// table returns the entries of s in table.
func (s snapshot) table(name string) map[string]string {
	out := map[string]string{}
	for k, v := range s.entities {
		if strings.HasPrefix(k, name+"|") {
			out[k] = v
		}
	}
	return out
}

// inContainer returns the blobs of s in container name.
func (s snapshot) inContainer(name string) map[string]string {
	out := map[string]string{}
	for k, v := range s.blobs {
		if strings.HasPrefix(k, name+"|") {
			out[k] = v
		}
	}
	return out
}

func (s snapshot) empty() bool { return len(s.entities) == 0 && len(s.blobs) == 0 }

// keys lists the entries of s, for messages.
func (s snapshot) keys() string {
	var ks []string
	for k := range s.entities {
		ks = append(ks, k)
	}
	for k := range s.blobs {
		ks = append(ks, "blob "+k)
	}
	sort.Strings(ks)
	if len(ks) > 20 {
		ks = append(ks[:20], fmt.Sprintf("… and %d more", len(ks)-20))
	}
	return strings.Join(ks, "\n  ")
}

// diff reports the differences between s and want.
func (s snapshot) diff(want snapshot) string {
	var d []string
	for k, v := range want.entities {
		if got, ok := s.entities[k]; !ok {
			d = append(d, "missing "+k)
		} else if got != v {
			d = append(d, "changed "+k)
		}
	}
	for k := range s.entities {
		if _, ok := want.entities[k]; !ok {
			d = append(d, "new "+k)
		}
	}
	for k, v := range want.blobs {
		if got, ok := s.blobs[k]; !ok {
			d = append(d, "missing blob "+k)
		} else if got != v {
			d = append(d, "changed blob "+k)
		}
	}
	for k := range s.blobs {
		if _, ok := want.blobs[k]; !ok {
			d = append(d, "new blob "+k)
		}
	}
	sort.Strings(d)
	if len(d) > 20 {
		d = append(d[:20], fmt.Sprintf("… and %d more", len(d)-20))
	}
	return strings.Join(d, "\n  ")
}

// audits returns the erasure audit rows.
func (w *world) audits() []store.ErasureRecord {
	w.t.Helper()
	recs, err := w.audit.List(w.ctx, time.Time{})
	if err != nil {
		w.t.Fatal(err)
	}
	return recs
}

// counts parses an audit row's counts.
func counts(t *testing.T, s string) map[string]int64 {
	t.Helper()
	var c map[string]int64
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("counts %q are not JSON: %v", s, err)
	}
	return c
}

func (w *world) connection(tenant, user string) (store.Connection, bool) {
	w.t.Helper()
	c, err := w.conns.Get(w.ctx, tenant, user)
	if errors.Is(err, store.ErrNotFound) {
		return c, false
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return c, true
}

func (w *world) blobExists(c *container.Client, name string) bool {
	w.t.Helper()
	_, err := c.NewBlobClient(name).GetProperties(w.ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return false
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return true
}

// uploadBlobs lists the blob names of one upload.
func (w *world) uploadBlobs(tenant, user, id string) []string {
	w.t.Helper()
	prefix := tenant + "/" + user + "/" + id + "/"
	pager := w.docs.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	var out []string
	for pager.More() {
		p, err := pager.NextPage(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, b := range p.Segment.BlobItems {
			out = append(out, *b.Name)
		}
	}
	return out
}

// isTable reports whether req is addressed to table name of the world.
func (w *world) isTable(req *http.Request, name string) bool {
	return strings.Contains(req.URL.Path, "/"+w.db.TableName(name))
}

// isBatch reports whether req is a Table transaction.
func isBatch(req *http.Request) bool {
	return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/$batch")
}

// count is the number of entities of table in the user's partition.
func (w *world) count(table, tenant, user string) int {
	w.t.Helper()
	filter, sel := store.PartitionFilter(store.UserPartition(tenant, user)), "PartitionKey,RowKey"
	pager := w.db.Table(table).NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	n := 0
	for pager.More() {
		p, err := pager.NextPage(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		n += len(p.Entities)
	}
	return n
}

// syncHolds has a sync worker ("worker-1") take the user's lease until
// until, as the sync worker does, and returns the lease it holds.
func (w *world) syncHolds(tenant, user string, until time.Time) store.Lease {
	w.t.Helper()
	l, err := w.states.Lease(w.ctx, tenant, user)
	if err != nil {
		w.t.Fatal(err)
	}
	l.Owner, l.Until = "worker-1", until
	if l.ETag, err = w.states.UpdateLease(w.ctx, tenant, user, l); err != nil {
		w.t.Fatal(err)
	}
	return l
}

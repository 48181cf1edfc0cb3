package uploader

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/queue/queuetest"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/internal/uploadconfig"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// Hand-written fakes for the service's unit tests; Dataverse is the real
// simulator in process.

type memRows struct {
	mu   sync.Mutex
	rows map[string]store.Upload
	n    int
}

func rowKey(t, u, id string) string { return t + "/" + u + "/" + id }

func (m *memRows) Get(_ context.Context, t, u, id string) (store.Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[rowKey(t, u, id)]
	if !ok {
		return store.Upload{}, fmt.Errorf("get %s: %w", id, store.ErrNotFound)
	}
	return r, nil
}

func (m *memRows) Delete(_ context.Context, t, u, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.rows, rowKey(t, u, id))
	return nil
}

func (m *memRows) Insert(_ context.Context, up store.Upload) (azcore.ETag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := rowKey(up.TenantID, up.UserID, up.UploadID)
	if _, ok := m.rows[k]; ok {
		return "", store.ErrConflict
	}
	m.n++
	up.ETag = azcore.ETag(strconv.Itoa(m.n))
	m.rows[k] = up
	return up.ETag, nil
}

func (m *memRows) Update(_ context.Context, up store.Upload) (azcore.ETag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := rowKey(up.TenantID, up.UserID, up.UploadID)
	if cur, ok := m.rows[k]; !ok || cur.ETag != up.ETag {
		return "", store.ErrConflict
	}
	m.n++
	up.ETag = azcore.ETag(strconv.Itoa(m.n))
	m.rows[k] = up
	return up.ETag, nil
}

func (m *memRows) ListByStatus(_ context.Context, t, u, status string) ([]store.Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Upload
	for _, r := range m.rows {
		if r.TenantID == t && r.UserID == u && r.Status == status {
			out = append(out, r)
		}
	}
	return out, nil
}

type memBlobs struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func (b *memBlobs) Put(_ context.Context, name string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blobs[name] = append([]byte(nil), data...)
	return nil
}

func (b *memBlobs) PutFrom(ctx context.Context, name string, body io.ReadSeeker, _ string) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	return b.Put(ctx, name, data)
}

func (b *memBlobs) Get(_ context.Context, name string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.blobs[name]
	if !ok {
		return nil, documents.ErrNotFound
	}
	return d, nil
}

func (b *memBlobs) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	d, err := b.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(d)), nil
}

func (b *memBlobs) Delete(_ context.Context, names ...string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range names {
		delete(b.blobs, n)
	}
	return nil
}

type fakeConns struct {
	mu    sync.Mutex
	conns map[string]store.Connection
}

func (f *fakeConns) Get(_ context.Context, t, u string) (store.Connection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.conns[t+"/"+u]
	if !ok {
		return store.Connection{}, store.ErrNotFound
	}
	return c, nil
}

func (f *fakeConns) set(c store.Connection) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[c.TenantID+"/"+c.UserID] = c
}

// fakeTokens hands out a fixed token, or err.
type fakeTokens struct {
	mu  sync.Mutex
	err error
}

func (f *fakeTokens) TokenFor(context.Context, string, string, string) (tokens.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return tokens.AccessToken{Token: "t", ExpiresAt: time.Now().Add(time.Hour)}, f.err
}

func (f *fakeTokens) Forget(string, string, string) {}

const (
	tenant = "2b8f5c1e-0d4a-4f6b-9c3e-7a1d5e9f0b2c"
	user   = "8e3a1f7c-5b2d-4c9e-a6f0-1d4b7c2e9a3f"
)

type fixture struct {
	svc    *Service
	sim    *dataversesim.Sim
	rows   *memRows
	blobs  *memBlobs
	queue  *queuetest.Sender[queue.Upload]
	conns  *fakeConns
	tokens *fakeTokens
	owner  Owner
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim := dataversesim.New(dataversesim.Options{Seed: 3, Auth: dataversesim.AuthOptions{InsecureAnyToken: true}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	f := &fixture{sim: sim, rows: &memRows{rows: map[string]store.Upload{}}, blobs: &memBlobs{blobs: map[string][]byte{}},
		queue: &queuetest.Sender[queue.Upload]{}, conns: &fakeConns{conns: map[string]store.Connection{}}, tokens: &fakeTokens{},
		owner: Owner{TenantID: tenant, UserID: user, OrgURL: srv.URL}}
	f.conns.set(store.Connection{TenantID: tenant, UserID: user, Status: store.StatusActive, OrgURL: srv.URL, ConnectedAt: time.Now().Add(-time.Hour)})
	retry := dataverse.DefaultRetry
	retry.MaxRetryAfter, retry.BaseDelay, retry.MaxDelay = InlineRetryAfter, time.Millisecond, time.Millisecond
	f.svc = New(Config{Allow: uploadconfig.Default(), MaxBodyBytes: 1 << 20, MaxDocuments: 3, InlineDocumentBytes: 1 << 20, MaxDeliveryCount: 10,
		Dataverse: &dataverse.Options{Retry: retry, HTTPClient: srv.Client()}},
		Deps{Rows: f.rows, Blobs: f.blobs, Queue: f.queue, Connections: f.conns, Tokens: f.tokens, Logger: slog.New(slog.DiscardHandler)})
	return f
}

// accept sends body as the fixture's user and fails the test unless it is accepted.
func (f *fixture) accept(t *testing.T, body string) Status {
	t.Helper()
	st, ok, err := f.svc.Accept(context.Background(), f.owner, "application/json", bytes.NewReader([]byte(body)))
	if err != nil || !ok {
		t.Fatalf("Accept = %+v, %v, %v", st, ok, err)
	}
	return st
}

// process delivers the newest message for id (delivery 1).
func (f *fixture) process(t *testing.T, m queue.Upload) string {
	t.Helper()
	what, err := f.svc.Process(context.Background(), m, 1)
	if err != nil {
		t.Fatalf("Process(%+v) = %v", m, err)
	}
	return what
}

func (f *fixture) row(t *testing.T, id string) store.Upload {
	t.Helper()
	r, err := f.rows.Get(context.Background(), tenant, user, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

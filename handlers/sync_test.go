package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/syncer"
)

type fakeRunner struct{ jobs []queue.SyncJob }

func (f *fakeRunner) Run(_ context.Context, j queue.SyncJob) (syncer.Result, error) {
	f.jobs = append(f.jobs, j)
	return syncer.Result{Outcome: syncer.OutcomeSynced}, nil
}

type fakeLog struct {
	tenant, user string
	cursor       mirror.Cursor
	limit        int
	err          error
}

func (f *fakeLog) Read(_ context.Context, tenant, user string, c mirror.Cursor, limit int) ([]mirror.Change, mirror.Cursor, bool, error) {
	f.tenant, f.user, f.cursor, f.limit = tenant, user, c, limit
	if f.err != nil {
		return nil, c, false, f.err
	}
	return []mirror.Change{
		{Seq: c.Seq + 1, EntitySet: "accounts", ID: "a1", Op: mirror.OpUpsert, Data: json.RawMessage(`{"accountid":"a1","name":"A"}`)},
		{Seq: c.Seq + 3, EntitySet: "contacts", ID: "c1", Op: mirror.OpDelete},
	}, mirror.Cursor{Seq: c.Seq + 3}, true, nil
}

// TestSyncWorkerCompletesPoisonMessages: a body that is not a sync job is
// completed (2xx) and logged, never run; a valid one runs.
func TestSyncWorkerCompletesPoisonMessages(t *testing.T) {
	var logs bytes.Buffer
	runner := &fakeRunner{}
	srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(&logs, nil)), Deps{SyncWorker: runner}))
	defer srv.Close()
	payload := func(body string) string {
		b, _ := json.Marshal(body)
		return `{"Data":{"job":` + string(b) + `},"Metadata":{"MessageId":"m-1","DeliveryCount":"1"}}`
	}
	for _, tc := range []struct {
		name, body string
		runs       int
	}{
		{"not JSON", "hello", 0},
		{"unknown version", `{"v":2,"tenantId":"x"}`, 0},
		{"valid", `{"v":1,"tenantId":"4a6f5e3c-1b2d-4c8e-9f10-2b3c4d5e6f70","userId":"9c1e2d3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f","reason":"scheduled","slot":"2026-11-28T14:05:00Z"}`, 1},
	} {
		runner.jobs = nil
		resp, err := http.Post(srv.URL+"/SyncWorker", "application/json", strings.NewReader(payload(tc.body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(runner.jobs) != tc.runs {
			t.Errorf("%s: status %d, %d runs; want 200 and %d runs", tc.name, resp.StatusCode, len(runner.jobs), tc.runs)
		}
	}
	if !strings.Contains(logs.String(), "poison sync job completed without running") {
		t.Errorf("poison messages were not logged:\n%s", logs.String())
	}
}

// TestChangesAPI: the caller's ids key the read; the answer has the
// contract's shape; bad cursors and limits are refused, naming them.
func TestChangesAPI(t *testing.T) {
	log := &fakeLog{}
	srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), Deps{Auth: fakeAuth{}, Changes: log}))
	defer srv.Close()
	get := func(query string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/changes"+query, nil)
		req.Header.Set("Authorization", "Bearer ok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	status, body := get("?cursor=41&limit=2")
	want := `{"changes":[{"entitySet":"accounts","id":"a1","op":"upsert","data":{"accountid":"a1","name":"A"}},{"entitySet":"contacts","id":"c1","op":"delete","data":null}],"cursor":"44","more":true}`
	if status != http.StatusOK || strings.TrimSpace(string(body)) != want {
		t.Errorf("GET ?cursor=41&limit=2 = %d %s\nwant %s", status, body, want)
	}
	if log.tenant != "t" || log.user != "u" || log.cursor != (mirror.Cursor{Seq: 41}) || log.limit != 2 {
		t.Errorf("read %s/%s after %+v limit %d; want the caller t/u after 41 limit 2", log.tenant, log.user, log.cursor, log.limit)
	}
	if get(""); log.cursor != (mirror.Cursor{}) || log.limit != DefaultChangesLimit {
		t.Errorf("without parameters: cursor %+v limit %d; want the start and %d", log.cursor, log.limit, DefaultChangesLimit)
	}
	snap := mirror.Cursor{Seq: 7, Snapshot: true, After: "accounts_a1"}
	if get("?cursor=" + snap.String()); log.cursor != snap {
		t.Errorf("a snapshot cursor reached the store as %+v, want %+v", log.cursor, snap)
	}
	for _, tc := range []struct{ query, field string }{
		{"?cursor=-1", "cursor"}, {"?cursor=abc", "cursor"}, {"?cursor=s1.%25%25", "cursor"}, {"?cursor=007", "cursor"}, {"?limit=0", "limit"}, {"?limit=1001", "limit"}, {"?limit=ten", "limit"},
	} {
		status, body := get(tc.query)
		var eb ErrorBody
		_ = json.Unmarshal(body, &eb)
		if status != http.StatusBadRequest || len(eb.Error.Problems) != 1 || eb.Error.Problems[0].Field != tc.field {
			t.Errorf("GET %s = %d %s; want 400 naming %s", tc.query, status, body, tc.field)
		}
	}
	log.err = mirror.ErrCursorExpired
	if status, body := get("?cursor=3"); status != http.StatusGone || !strings.Contains(string(body), "without a cursor") {
		t.Errorf("with a trimmed cursor = %d %s, want 410 saying to read again without a cursor", status, body)
	}
	log.err = errors.New("storage down")
	if status, _ := get(""); status != http.StatusServiceUnavailable {
		t.Errorf("with the store down = %d, want 503", status)
	}
}

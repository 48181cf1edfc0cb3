package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

const (
	lcTenant = "4a6f5e3c-1b2d-4c8e-9f10-2b3c4d5e6f70"
	lcUser   = "9c1e2d3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
)

// fakeEraser records what it was asked and answers with res/err, or with
// the result of offboard for tenants.
type fakeEraser struct {
	res      lifecycle.Result
	err      error
	users    []string
	reqs     []lifecycle.Request
	tenants  []string
	offboard error
}

func (f *fakeEraser) EraseUser(_ context.Context, tenant, user string, req lifecycle.Request) (lifecycle.Result, error) {
	f.users, f.reqs = append(f.users, tenant+"/"+user), append(f.reqs, req)
	return f.res, f.err
}

func (f *fakeEraser) OffboardTenant(_ context.Context, tenant, _ string) (lifecycle.Result, error) {
	f.tenants = append(f.tenants, tenant)
	if f.offboard != nil {
		return lifecycle.Result{}, f.offboard
	}
	return f.res, f.err
}

func (f *fakeEraser) ContinueOffboarding(ctx context.Context, tenant string) (lifecycle.Result, error) {
	return f.OffboardTenant(ctx, tenant, "")
}

func (f *fakeEraser) Retain(context.Context, lifecycle.Retention) (lifecycle.RetentionReport, error) {
	return lifecycle.RetentionReport{}, nil
}

type fakeLifecycleQueue struct {
	at   []time.Time
	msgs []queue.Lifecycle
	err  error
}

func (f *fakeLifecycleQueue) ScheduleAt(_ context.Context, at time.Time, msgs ...queue.Lifecycle) ([]int64, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.at, f.msgs = append(f.at, at), append(f.msgs, msgs...)
	return []int64{1}, nil
}

// fakeIdentity accepts the bearer token "good" as lcUser of lcTenant.
type fakeIdentity struct{}

func (fakeIdentity) Identify(_ context.Context, authorization string) (apiauth.Caller, error) {
	if authorization != "Bearer good" {
		return apiauth.Caller{}, &apiauth.Error{Err: apperr.E(apperr.Unauthorized, "the access token is not valid"), Challenge: "invalid_token"}
	}
	return apiauth.Caller{TenantID: lcTenant, UserID: lcUser}, nil
}

type fakeConnReader struct {
	conn store.Connection
	err  error
}

func (f *fakeConnReader) Get(context.Context, string, string) (store.Connection, error) {
	return f.conn, f.err
}

func lifecycleServer(t *testing.T, d *LifecycleDeps) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(io.Discard, nil)), Deps{PublicBaseURL: "https://connector.example", Lifecycle: d}))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestDisconnect: DELETE /api/connection erases the caller (and only the
// caller), answering 204 when that is done and 202 with the status URL
// when it goes on in the background, whose continuation is queued for
// when the erasure said.
func TestDisconnect(t *testing.T) {
	pseudo := obs.NewPseudonyms([]byte("0123456789abcdef0123456789abcdef"))
	retry := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name      string
		res       lifecycle.Result
		err       error
		qerr      error
		conn      store.Connection
		connErr   error
		status    int
		scheduled bool
	}{
		{"done", lifecycle.Result{Done: true}, nil, nil, store.Connection{}, store.ErrNotFound, http.StatusNoContent, false},
		{"waiting for a sync", lifecycle.Result{RetryAt: retry, Waiting: "a sync"}, nil, nil,
			store.Connection{Status: store.StatusErasing, Erasure: store.Erasure{RequestedAt: retry.Add(-time.Minute)}}, nil, http.StatusAccepted, true},
		{"budget spent", lifecycle.Result{}, context.DeadlineExceeded, nil, store.Connection{Status: store.StatusErasing}, nil, http.StatusAccepted, true},
		{"did not begin", lifecycle.Result{}, apperr.E(apperr.Transient, "storage down"), nil, store.Connection{Status: store.StatusActive}, nil, http.StatusServiceUnavailable, false},
		{"cannot hand over", lifecycle.Result{RetryAt: retry}, nil, errors.New("service bus down"), store.Connection{Status: store.StatusErasing}, nil, http.StatusServiceUnavailable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			er, q := &fakeEraser{res: tc.res, err: tc.err}, &fakeLifecycleQueue{err: tc.qerr}
			srv := lifecycleServer(t, &LifecycleDeps{Eraser: er, Queue: q, Identify: fakeIdentity{}, Connections: &fakeConnReader{conn: tc.conn, err: tc.connErr}, Pseudonyms: pseudo})
			resp, body := call(t, http.MethodDelete, srv.URL+"/api/connection", "good")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.status)
			}
			if len(er.users) != 1 || er.users[0] != lcTenant+"/"+lcUser || er.reqs[0].Kind != store.ErasureDisconnect || er.reqs[0].By != "user:"+pseudo.User(lcTenant, lcUser) {
				t.Errorf("erased %v with %+v, want the caller, kind disconnect, by their pseudonym", er.users, er.reqs)
			}
			if got := len(q.msgs) == 1; got != tc.scheduled {
				t.Fatalf("continuation scheduled: %v (%v), want %v", got, q.msgs, tc.scheduled)
			}
			if tc.scheduled {
				if m := q.msgs[0]; m.Op != queue.OpEraseUser || m.TenantID != lcTenant || m.UserID != lcUser {
					t.Errorf("continuation %+v, want erase-user of the caller", m)
				}
				if tc.err == nil && !q.at[0].Equal(retry) {
					t.Errorf("continuation at %s, want the erasure's RetryAt %s", q.at[0], retry)
				}
				var v connectionView
				if err := json.Unmarshal(body, &v); err != nil || v.Status != "disconnecting" {
					t.Errorf("body %s, want status disconnecting", body)
				}
				if loc := resp.Header.Get("Location"); loc != "https://connector.example/api/connection" {
					t.Errorf("Location %q, want the status URL", loc)
				}
			}
		})
	}
}

// TestConnectionNeedsAToken: without a valid token nothing is erased.
func TestConnectionNeedsAToken(t *testing.T) {
	er := &fakeEraser{res: lifecycle.Result{Done: true}}
	srv := lifecycleServer(t, &LifecycleDeps{Eraser: er, Queue: &fakeLifecycleQueue{}, Identify: fakeIdentity{}, Connections: &fakeConnReader{err: store.ErrNotFound}})
	for _, token := range []string{"", "forged"} {
		resp, _ := call(t, http.MethodDelete, srv.URL+"/api/connection", token)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: status %d, want 401 with a challenge", token, resp.StatusCode)
		}
	}
	if len(er.users) != 0 {
		t.Errorf("erased %v without a valid token", er.users)
	}
}

// TestConnectionStatus: GET shows the connection as the app needs it, the
// erasing status as "disconnecting", and no connection as 404.
func TestConnectionStatus(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		conn   store.Connection
		err    error
		status int
		want   string
	}{
		{store.Connection{Status: store.StatusActive, OrgURL: "https://org.crm.dynamics.com", ConnectedAt: at}, nil, 200, `"status":"active","orgUrl":"https://org.crm.dynamics.com","connectedAt":"2026-12-03T10:00:00Z"`},
		{store.Connection{Status: store.StatusErasing, OrgURL: "https://org.crm.dynamics.com", Erasure: store.Erasure{RequestedAt: at}}, nil, 200, `{"status":"disconnecting","disconnectRequestedAt":"2026-12-03T10:00:00Z"}`},
		{store.Connection{Status: store.StatusReauthRequired, OrgURL: "https://org.crm.dynamics.com", StatusChangedAt: at}, nil, 200, `"reason":"sign in again: Microsoft Entra ID no longer accepts the connector's sign-in","eraseAfter":"2027-01-02T10:00:00Z"`},
		{store.Connection{}, store.ErrNotFound, 404, `"code":"not_found"`},
	} {
		srv := lifecycleServer(t, &LifecycleDeps{Eraser: &fakeEraser{}, Queue: &fakeLifecycleQueue{}, Identify: fakeIdentity{}, Connections: &fakeConnReader{conn: tc.conn, err: tc.err},
			Retention: lifecycle.Retention{Inactive: 30 * 24 * time.Hour}})
		resp, body := call(t, http.MethodGet, srv.URL+"/api/connection", "good")
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.conn.Status, resp.StatusCode, body, tc.status, tc.want)
		}
	}
}

// TestLifecycleWorker: a pass that is not done schedules the next attempt
// at the erasure's RetryAt; an unknown tenant's offboarding completes
// quietly; a malformed message fails (so it ends dead-lettered, seen by an
// operator).
func TestLifecycleWorker(t *testing.T) {
	retry := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	payload := func(body string) string {
		b, _ := json.Marshal(body)
		return `{"Data":{"lifecycle":` + string(b) + `},"Metadata":{"MessageId":"m-1","DeliveryCount":"1"}}`
	}
	erase := `{"v":1,"op":"erase-user","tenantId":"` + lcTenant + `","userId":"` + lcUser + `"}`
	offboard := `{"v":1,"op":"offboard-tenant","tenantId":"` + lcTenant + `"}`
	for _, tc := range []struct {
		name      string
		body      string
		er        *fakeEraser
		status    int
		scheduled int
	}{
		{"done", erase, &fakeEraser{res: lifecycle.Result{Done: true}}, 200, 0},
		{"goes on later", erase, &fakeEraser{res: lifecycle.Result{RetryAt: retry}}, 200, 1},
		{"storage down", erase, &fakeEraser{err: apperr.E(apperr.Transient, "storage down")}, 500, 0},
		{"unknown tenant", offboard, &fakeEraser{offboard: apperr.E(apperr.NotFound, "tenant unknown")}, 200, 0},
		{"offboarding goes on", offboard, &fakeEraser{res: lifecycle.Result{RetryAt: retry}}, 200, 1},
		{"malformed", `{"v":1,"op":"erase-everyone","tenantId":"` + lcTenant + `"}`, &fakeEraser{}, 400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeLifecycleQueue{}
			srv := lifecycleServer(t, &LifecycleDeps{Eraser: tc.er, Queue: q, Identify: fakeIdentity{}, Connections: &fakeConnReader{}})
			resp, err := http.Post(srv.URL+"/LifecycleWorker", "application/json", bytes.NewReader([]byte(payload(tc.body))))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if (resp.StatusCode/100 == 2) != (tc.status == 200) || len(q.msgs) != tc.scheduled {
				t.Fatalf("status %d, %d scheduled; want %s and %d", resp.StatusCode, len(q.msgs), map[bool]string{true: "2xx (completed)", false: "a failure (redelivered)"}[tc.status == 200], tc.scheduled)
			}
			if tc.scheduled == 1 && (!q.at[0].Equal(retry) || q.msgs[0].Attempt != int(retry.Unix()) || !q.msgs[0].Continuation) {
				t.Errorf("scheduled %+v at %s, want a continuation due (and numbered) at %s", q.msgs[0], q.at[0], retry)
			}
		})
	}
}

package dataverse_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

func Test429StormHonoursRetryAfter(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 12, Throttle: dataversesim.Throttle{Requests: 3, Window: 10 * time.Second}})
	rows, pages := readAll(t, e.c.NewListPager("accounts", nil, &dataverse.ListOptions{MaxPageSize: 1}))
	if len(rows) != 12 || pages != 12 {
		t.Fatalf("read %d rows in %d pages, want 12 in 12", len(rows), pages)
	}
	waits := e.waits()
	if len(waits) == 0 {
		t.Fatal("the client never waited, so the simulator never throttled")
	}
	for _, w := range waits {
		if w < time.Second || w%time.Second != 0 || w > 10*time.Second {
			t.Errorf("waited %s, want whole seconds from Retry-After within the 10 s window", w)
		}
	}
	// 12 pages at 3 per 10 s need at least 30 s of simulated waiting.
	var total time.Duration
	for _, w := range waits {
		total += w
	}
	if total < 30*time.Second {
		t.Errorf("waited %s in total, want at least 30s", total)
	}
}

func TestLongRetryAfterIsReturnedToTheCaller(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 1})
	e.sim.FailNext(dataversesim.Fault{Status: 429, RetryAfter: 120})
	_, err := e.c.WhoAmI(context.Background())
	de, ok := err.(*dataverse.Error)
	if apperr.KindOf(err) != apperr.Throttled || !ok || de.RetryAfter != 120*time.Second || de.Code != dataverse.CodeThrottleRequests {
		t.Fatalf("err = %v, want throttled with Retry-After 120s", err)
	}
	if len(e.waits()) != 0 {
		t.Errorf("the client waited %v; a wait beyond MaxRetryAfter belongs to the caller", e.waits())
	}
}

func TestGatewayErrorsAndResetsRetriedOnlyWhenSafe(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		method    string
		call      func(c *dataverse.Client) error
		wantErr   bool
		wantCalls int64
	}{
		{"GET after two 503s", 503, "GET", whoAmI, false, 3},
		{"GET after a 502 and a 504", 502, "GET", whoAmI, false, 3},
		{"GET after connection resets", 0, "GET", whoAmI, false, 3},
		{"PATCH upsert after 503s", 503, "PATCH", upsertAccount, false, 3},
		{"POST create after a 503 is not repeated", 503, "POST", createAccount, true, 1},
		{"POST create after a reset is not repeated", 0, "POST", createAccount, true, 1},
		{"update (If-Match *) after 503s", 503, "PATCH", updateAccount, false, 3},
		{"update on an ETag after a 503 is not repeated", 503, "PATCH", updateAccountOnETag, true, 1},
		{"create-only upsert after a reset is not repeated", 0, "PATCH", createOnlyUpsert, true, 1},
		{"DELETE after a 504 is not repeated", 504, "DELETE", deleteAccount, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, dataversesim.Options{Seed: 1})
			e.sim.FailNext(dataversesim.Fault{Status: tt.status, Count: 2, Method: tt.method})
			err := tt.call(e.c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && apperr.KindOf(err) != apperr.Transient {
				t.Errorf("err = %v, want transient", err)
			}
			if got := e.sim.Requests(); got != tt.wantCalls {
				t.Errorf("simulator saw %d requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

func whoAmI(c *dataverse.Client) error { _, err := c.WhoAmI(context.Background()); return err }
func createAccount(c *dataverse.Client) error {
	_, err := c.Create(context.Background(), "accounts", map[string]any{"name": "x"}, nil)
	return err
}
func upsertAccount(c *dataverse.Client) error {
	_, err := c.Upsert(context.Background(), dataverse.ByKey("accounts", "accountnumber", "U-1"), map[string]any{"name": "x"}, nil)
	return err
}

func updateAccount(c *dataverse.Client) error {
	_, err := c.Update(context.Background(), dataverse.ByID("accounts", dataversesim.SeedID("accounts", 0)), map[string]any{"name": "x"}, nil)
	return err
}
func updateAccountOnETag(c *dataverse.Client) error {
	_, err := c.Update(context.Background(), dataverse.ByID("accounts", dataversesim.SeedID("accounts", 0)), map[string]any{"name": "x"}, &dataverse.WriteOptions{IfMatch: `W/"1"`})
	return err
}
func createOnlyUpsert(c *dataverse.Client) error {
	_, err := c.Upsert(context.Background(), dataverse.ByKey("accounts", "accountnumber", "U-2"), map[string]any{"name": "x"}, &dataverse.UpsertOptions{CreateOnly: true})
	return err
}
func deleteAccount(c *dataverse.Client) error {
	return c.Delete(context.Background(), dataverse.ByID("accounts", dataversesim.SeedID("accounts", 0)), nil)
}

// TestConditionalUpdateThatRanIsNotReportedAsAConflict: an update with
// If-Match that committed but whose answer a gateway replaced with a 503
// must not be sent again, or the repeat meets the row the client changed
// itself and the caller is told "conflict" although its write succeeded.
func TestConditionalUpdateThatRanIsNotReportedAsAConflict(t *testing.T) {
	var version, calls atomic.Int64
	version.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		calls.Add(1)
		if r.Header.Get("If-Match") != `W/"1"` || version.Load() != 1 {
			w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
			w.WriteHeader(http.StatusPreconditionFailed)
			_, _ = io.WriteString(w, `{"error":{"code":"0x80060882","message":"The version of the existing record doesn't match the RowVersion property provided."}}`)
			return
		}
		version.Store(2)                             // the write commits ...
		w.WriteHeader(http.StatusServiceUnavailable) // ... and the gateway loses the answer
	}))
	defer srv.Close()
	c, err := dataverse.New(srv.URL, dataverse.StaticToken("t"), &dataverse.Options{Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Update(context.Background(), dataverse.ByID("accounts", "00000000-0000-0000-0000-000000000001"), map[string]any{"name": "x"}, &dataverse.WriteOptions{IfMatch: `W/"1"`})
	if dataverse.IsConcurrencyConflict(err) || apperr.KindOf(err) != apperr.Transient {
		t.Errorf("the update committed (version %d) after %d sends; err = %v, want a transient error (outcome unknown), not a conflict", version.Load(), calls.Load(), err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the conditional update was sent %d times, want once", n)
	}
}

// vault is a token source like the per-user token vault (internal/tokens): a cached token,
// replaced when the client forces a refresh.
type vault struct {
	iss      *dataversesim.TestIssuer
	sim      *dataversesim.Sim
	aud      string
	oid      string
	cached   atomic.Value
	refreshs atomic.Int32
}

func (v *vault) Token(_ context.Context, force bool) (string, error) {
	if tok, ok := v.cached.Load().(string); ok && !force {
		return tok, nil
	}
	if force {
		v.refreshs.Add(1)
	}
	tok := v.iss.Token("11111111-1111-1111-1111-111111111111", v.oid, v.aud, v.sim.Now(), time.Hour)
	v.cached.Store(tok)
	return tok, nil
}

func newVerifiedEnv(t *testing.T, seed int) (*env, *dataversesim.TestIssuer) {
	t.Helper()
	iss, err := dataversesim.NewTestIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	return newEnv(t, dataversesim.Options{Seed: seed, Auth: dataversesim.AuthOptions{JWKSURL: iss.JWKSURL()}}), iss
}

func TestTokenExpiryMidPageRefreshesOnceAndRetries(t *testing.T) {
	e, iss := newVerifiedEnv(t, 6)
	v := &vault{iss: iss, sim: e.sim, aud: e.srv.URL, oid: "22222222-2222-2222-2222-222222222222"}
	c := e.client(t, v)
	p := c.NewChangesPager("contacts", contactChanges)
	if _, err := p.NextPage(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.sim.Advance(61 * time.Minute) // the cached token expires between pages
	rows, _ := readAll(t, p)
	if len(rows) != 4 || p.DeltaLink() == "" {
		t.Fatalf("after the refresh read %d more rows (delta link %q), want 4 and a link", len(rows), p.DeltaLink())
	}
	if got := v.refreshs.Load(); got != 1 {
		t.Errorf("forced refreshes = %d, want 1", got)
	}
}

func TestRejectedTokenAfterRefreshIsUnauthorized(t *testing.T) {
	e, _ := newVerifiedEnv(t, 1)
	var calls atomic.Int32
	c := e.client(t, dataverse.TokenFunc(func(context.Context, bool) (string, error) {
		calls.Add(1)
		return "not-a-jwt", nil
	}))
	_, err := c.WhoAmI(context.Background())
	if apperr.KindOf(err) != apperr.Unauthorized {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	if calls.Load() != 2 || e.sim.Requests() != 2 {
		t.Errorf("token calls %d, requests %d; want one refresh and one retry (2, 2)", calls.Load(), e.sim.Requests())
	}
}

func TestWhoAmIPerUser(t *testing.T) {
	e, iss := newVerifiedEnv(t, 0)
	tid := "11111111-1111-1111-1111-111111111111"
	for _, oid := range []string{"33333333-3333-3333-3333-333333333333", "44444444-4444-4444-4444-444444444444"} {
		c := e.client(t, dataverse.StaticToken(iss.Token(tid, oid, e.srv.URL, e.sim.Now(), time.Hour)))
		w, err := c.WhoAmI(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if w.UserID != dataversesim.UserID(tid, oid) || w.OrganizationID != dataversesim.OrganizationID.String() {
			t.Errorf("WhoAmI for %s = %+v", oid, w)
		}
	}
}

func TestDeadlineShorterThanRetryAfterFailsAtOnce(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 1})
	e.sim.FailNext(dataversesim.Fault{Status: 429, RetryAfter: 30})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := e.c.WhoAmI(ctx)
	if apperr.KindOf(err) != apperr.Throttled || len(e.waits()) != 0 {
		t.Fatalf("err = %v, waits %v; want the 429 at once", err, e.waits())
	}
}

func TestRefusesToFollowNextLinkToAnotherHost(t *testing.T) {
	var stolen atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	defer other.Close()
	dv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		_, _ = w.Write([]byte(`{"value":[],"@odata.nextLink":"` + other.URL + `/api/data/v9.2/accounts?$skiptoken=x"}`))
	}))
	defer dv.Close()
	c, err := dataverse.New(dv.URL, dataverse.StaticToken("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := c.NewListPager("accounts", nil, nil)
	if _, err := p.NextPage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.NextPage(context.Background()); err == nil || stolen.Load() != 0 {
		t.Fatalf("err = %v, requests to the other host %d; want a refusal and none", err, stolen.Load())
	}
}

// TestWriteWhoseAnswerIsLostIsNotReportedAsItsOwnFailure: the write
// commits in Dataverse and a gateway 504 (or a reset) replaces its answer.
// Sent again, a DELETE would answer "not found", a create-only upsert
// "already exists" and an update on an ETag "conflict", each about the
// caller's own write. The client must not resend them: the caller gets a
// transient error ("outcome unknown") and Dataverse holds the write once.
func TestWriteWhoseAnswerIsLostIsNotReportedAsItsOwnFailure(t *testing.T) {
	ctx := context.Background()
	id := dataversesim.SeedID("accounts", 0)
	tests := []struct {
		name    string
		method  string
		sends   int64 // requests the write makes, the lost one included
		write   func(e *env) error
		applied func(e *env) bool
	}{
		{"update on an ETag", "PATCH", 2, func(e *env) error {
			_, etag, err := e.c.Get(ctx, dataverse.ByID("accounts", id), nil)
			if err != nil {
				return err
			}
			_, err = e.c.Update(ctx, dataverse.ByID("accounts", id), map[string]any{"name": "Mine"}, &dataverse.WriteOptions{IfMatch: etag})
			return err
		}, func(e *env) bool { row, _ := e.sim.GetRow("accounts", id); return row["name"] == "Mine" }},
		{"create-only upsert", "PATCH", 1, func(e *env) error {
			_, err := e.c.Upsert(ctx, dataverse.ByKey("accounts", "accountnumber", "NEW-1"), map[string]any{"name": "New"}, &dataverse.UpsertOptions{CreateOnly: true})
			return err
		}, func(e *env) bool { return e.sim.Count("accounts") == 2 }},
		{"delete", "DELETE", 1, func(e *env) error {
			return e.c.Delete(ctx, dataverse.ByID("accounts", id), nil)
		}, func(e *env) bool { _, ok := e.sim.GetRow("accounts", id); return !ok }},
		{"$batch with a create-only upsert", "POST", 1, func(e *env) error {
			var b dataverse.Batch
			b.ChangeSet().Add(mustReq(t)(dataverse.UpsertRequest(dataverse.ByKey("accounts", "accountnumber", "NEW-2"), map[string]any{"name": "New"}, &dataverse.UpsertOptions{CreateOnly: true})))
			_, err := e.c.ExecuteBatch(ctx, &b, nil)
			return err
		}, func(e *env) bool { return e.sim.Count("accounts") == 2 }},
	}
	for _, tc := range tests {
		for _, status := range []int{504, 0} {
			e := newEnv(t, dataversesim.Options{Seed: 1})
			e.sim.FailNext(dataversesim.Fault{Status: status, Method: tc.method, After: true})
			before := e.sim.Requests()
			err := tc.write(e)
			if apperr.KindOf(err) != apperr.Transient || dataverse.IsNotFound(err) || dataverse.IsAlreadyExists(err) || dataverse.IsConcurrencyConflict(err) {
				t.Errorf("%s, answer lost (%d): err = %v, want transient (outcome unknown)", tc.name, status, err)
			}
			if !tc.applied(e) {
				t.Errorf("%s, answer lost (%d): the write is not in Dataverse", tc.name, status)
			}
			if n := e.sim.Requests() - before; n != tc.sends {
				t.Errorf("%s, answer lost (%d): %d requests, want %d (the write sent once)", tc.name, status, n, tc.sends)
			}
		}
	}
}

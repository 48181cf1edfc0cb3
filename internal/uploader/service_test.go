package uploader

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/documents"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/report"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/localworld/dataversesim"
)

func meeting(id, regarding string) string {
	return `{"uploadId":"` + id + `","meeting":{"subject":"Visit","start":"2026-03-02T09:00:00Z","end":"2026-03-02T10:00:00Z","regarding":` + regarding + `}`
}

// TestRegardingForms: a meeting can be regarding an existing row by id or
// by alternate key, or one of the report's customers however that one is
// named; the appointment points at the right row in each case.
func TestRegardingForms(t *testing.T) {
	f := newFixture(t)
	account := dataversesim.SeedID("accounts", 0)
	contact, _ := f.sim.GetRow("contacts", dataversesim.SeedID("contacts", 1))
	acc2, _ := f.sim.GetRow("accounts", dataversesim.SeedID("accounts", 2))
	tests := []struct {
		name, body, want string
	}{
		{"existing by id", meeting("by-id", `{"entitySet":"accounts","id":"`+strings.ToUpper(account)+`"}`) + `}`, account},
		{"existing by key", meeting("by-key", `{"entitySet":"contacts","key":{"emailaddress1":"`+contact["emailaddress1"].(string)+`"}}`) + `}`, dataversesim.SeedID("contacts", 1)},
		{"customer by key", meeting("cust-key", `{"customer":0}`) + `,"customers":[{"entitySet":"accounts","key":{"accountnumber":"` + acc2["accountnumber"].(string) + `"},"fields":{"telephone1":"555"}}]}`,
			dataversesim.SeedID("accounts", 2)},
		{"new customer", meeting("cust-new", `{"customer":0}`) + `,"customers":[{"entitySet":"contacts","fields":{"lastname":"New"}}]}`,
			report.RecordID(tenant, user, "cust-new", "customers[0]")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := f.accept(t, tc.body)
			if what := f.process(t, queue.NewUpload(tenant, user, st.UploadID)); what != "done" {
				t.Fatalf("Process = %q, want done", what)
			}
			st, _ = f.svc.Status(context.Background(), f.owner, st.UploadID)
			var meetingID string
			for _, r := range st.Records {
				if r.Item == "meeting" {
					meetingID = r.ID
				}
				if r.Item == "customers[0]" && r.ID != tc.want {
					t.Errorf("customers[0] record = %s, want %s", r.ID, tc.want)
				}
			}
			appt, ok := f.sim.GetRow("appointments", meetingID)
			if !ok || appt["_regardingobjectid_value"] != tc.want {
				t.Errorf("appointment = %v, want regarding %s", appt, tc.want)
			}
		})
	}
	if acc, _ := f.sim.GetRow("accounts", dataversesim.SeedID("accounts", 2)); acc["telephone1"] != "555" {
		t.Errorf("the customer upserted by key was not updated: %v", acc)
	}
}

// TestStaleMessagesChangeNothing: a message for a finished upload, one
// superseded by a newer retry, and one naming no upload are completed
// without touching Dynamics.
func TestStaleMessagesChangeNothing(t *testing.T) {
	f := newFixture(t)
	st := f.accept(t, meeting("m-1", "null")+"}")
	f.process(t, queue.NewUpload(tenant, user, st.UploadID))
	requests := f.sim.Requests()
	if what := f.process(t, queue.NewUpload(tenant, user, "m-1")); what != "already done" {
		t.Errorf("a redelivered message of a done upload = %q", what)
	}
	up := f.row(t, "m-1")
	up.Status, up.RetryAttempt = store.UploadRetrying, 3
	if _, err := f.rows.Update(context.Background(), up); err != nil {
		t.Fatal(err)
	}
	old := queue.NewUpload(tenant, user, "m-1")
	old.Attempt = 2
	if what := f.process(t, old); !strings.Contains(what, "superseded") {
		t.Errorf("an older retry = %q, want superseded", what)
	}
	if what := f.process(t, queue.NewUpload(tenant, user, "nothing")); what != "no such upload" {
		t.Errorf("a message naming no upload = %q", what)
	}
	if f.sim.Requests() != requests {
		t.Errorf("stale messages reached Dynamics (%d requests)", f.sim.Requests()-requests)
	}
}

// TestThrottledRetriesGetTheirOwnMessages: each 429 schedules a retry with
// a new attempt number (so duplicate detection keeps it) at Retry-After.
func TestThrottledRetriesGetTheirOwnMessages(t *testing.T) {
	f := newFixture(t)
	clock := time.Now()
	f.svc.now = func() time.Time { return clock }
	f.accept(t, meeting("t-1", "null")+"}")
	m := queue.NewUpload(tenant, user, "t-1")
	for i := 1; i <= 2; i++ {
		f.sim.FailNext(dataversesim.Fault{Status: http.StatusTooManyRequests, RetryAfter: 7})
		f.process(t, m)
		sched := f.queue.ScheduledMessages()
		if len(sched) != i {
			t.Fatalf("after %d 429s, %d retries scheduled", i, len(sched))
		}
		got := sched[i-1]
		if got.Message.Attempt != i || !got.At.Equal(clock.Add(7*time.Second)) {
			t.Errorf("retry %d = attempt %d at +%s, want attempt %d at +7s", i, got.Message.Attempt, got.At.Sub(clock), i)
		}
		if up := f.row(t, "t-1"); up.Status != store.UploadRetrying || up.RetryAttempt != i || !up.NextAttemptAt.Equal(got.At.UTC()) {
			t.Errorf("row after 429 %d = %s, retry attempt %d, next %v", i, up.Status, up.RetryAttempt, up.NextAttemptAt)
		}
		m = got.Message
		clock = clock.Add(7 * time.Second)
	}
	if what := f.process(t, m); what != "done" {
		t.Errorf("the second retry = %q, want done", what)
	}
}

// TestShortRetryAfterIsWaitedOut: a Retry-After of a second or two is
// waited out inside the invocation: no second message, one attempt.
func TestShortRetryAfterIsWaitedOut(t *testing.T) {
	f := newFixture(t)
	f.accept(t, meeting("s-1", "null")+"}")
	f.sim.FailNext(dataversesim.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1})
	if what := f.process(t, queue.NewUpload(tenant, user, "s-1")); what != "done" {
		t.Errorf("Process = %q, want done after waiting a second", what)
	}
	if n := len(f.queue.ScheduledMessages()); n != 0 || f.row(t, "s-1").Attempts != 1 {
		t.Errorf("%d retries scheduled, %d attempts; want the 429 waited out in the one attempt", n, f.row(t, "s-1").Attempts)
	}
}

// TestThrottledUserIsHeldOff: after a 429, the same user's other uploads
// are rescheduled for the same time without a request Dataverse would
// refuse; another user's upload is not held.
func TestThrottledUserIsHeldOff(t *testing.T) {
	f := newFixture(t)
	clock := time.Now()
	f.svc.now = func() time.Time { return clock }
	for _, id := range []string{"h-1", "h-2"} {
		f.accept(t, meeting(id, "null")+"}")
	}
	other := Owner{TenantID: tenant, UserID: "5d0c3b2a-1f4e-4a6b-8c9d-0e1f2a3b4c5d", OrgURL: f.owner.OrgURL}
	f.conns.set(store.Connection{TenantID: other.TenantID, UserID: other.UserID, Status: store.StatusActive, OrgURL: other.OrgURL})
	if _, _, err := f.svc.Accept(context.Background(), other, "application/json", strings.NewReader(meeting("h-3", "null")+"}")); err != nil {
		t.Fatal(err)
	}
	f.sim.FailNext(dataversesim.Fault{Status: http.StatusTooManyRequests, RetryAfter: 20})
	f.process(t, queue.NewUpload(tenant, user, "h-1"))
	requests := f.sim.Requests()
	f.process(t, queue.NewUpload(tenant, user, "h-2"))
	if f.sim.Requests() != requests {
		t.Errorf("a held-off user's upload reached Dataverse")
	}
	sched := f.queue.ScheduledMessages()
	if len(sched) != 2 || !sched[1].At.Equal(sched[0].At) {
		t.Errorf("scheduled retries = %+v, want h-2 at h-1's time", sched)
	}
	if what := f.process(t, queue.NewUpload(other.TenantID, other.UserID, "h-3")); what != "done" {
		t.Errorf("another user's upload = %q, want done (limits are per user)", what)
	}
	clock = clock.Add(21 * time.Second)
	if what := f.process(t, sched[1].Message); what != "done" {
		t.Errorf("after Retry-After, h-2 = %q, want done", what)
	}
}

// TestLastDeliveryDeadLetters: a transient failure is retried by Service
// Bus (an error), and on the queue's last delivery the upload says so.
func TestLastDeliveryDeadLetters(t *testing.T) {
	f := newFixture(t)
	f.accept(t, meeting("d-1", "null")+"}")
	m := queue.NewUpload(tenant, user, "d-1")
	for delivery, want := range map[int]string{9: store.UploadRetrying, 10: store.UploadDeadLettered} {
		f.sim.FailNext(dataversesim.Fault{Status: http.StatusInternalServerError})
		_, err := f.svc.Process(context.Background(), m, delivery)
		if apperr.KindOf(err) != apperr.Transient {
			t.Errorf("delivery %d: Process error = %v, want Transient (the host abandons the message)", delivery, err)
		}
		if up := f.row(t, "d-1"); up.Status != want || up.ErrorStatus != http.StatusInternalServerError {
			t.Errorf("delivery %d: row %s (last error %d), want %s", delivery, up.Status, up.ErrorStatus, want)
		}
	}
}

// intakeRace is memRows where UploadIntake's record that it queued the
// message lands between the worker's first read of the row and its write.
type intakeRace struct {
	*memRows
	once sync.Once
}

func (r *intakeRace) Get(ctx context.Context, t, u, id string) (store.Upload, error) {
	row, err := r.memRows.Get(ctx, t, u, id)
	r.once.Do(func() {
		late := row
		late.MessageSent = true
		if _, err := r.memRows.Update(ctx, late); err != nil {
			panic(err)
		}
	})
	return row, err
}

// TestIntakeRecordingTheSendDoesNotSpendADelivery: the message may reach
// the worker before the intake has recorded that it sent it; the worker
// still writes the upload on that delivery, counted as its first attempt.
func TestIntakeRecordingTheSendDoesNotSpendADelivery(t *testing.T) {
	f := newFixture(t)
	f.accept(t, meeting("race-1", "null")+"}")
	f.svc.Rows = &intakeRace{memRows: f.rows}
	if what := f.process(t, queue.NewUpload(tenant, user, "race-1")); what != "done" {
		t.Errorf("Process = %q, want the upload written on this delivery", what)
	}
	if up := f.row(t, "race-1"); up.Status != store.UploadDone || up.Attempts != 1 {
		t.Errorf("row = %s after %d attempts, want done after 1", up.Status, up.Attempts)
	}
}

// TestParkAndResume: a user who must sign in again parks their uploads;
// ResumeParked (called by a sign-in) queues each again with a new attempt.
func TestParkAndResume(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"p-1", "p-2"} {
		f.accept(t, meeting(id, "null")+"}")
	}
	f.tokens.err = &tokens.ReauthRequiredError{TenantID: tenant, UserID: user, Reason: "invalid_grant AADSTS700082"}
	for _, id := range []string{"p-1", "p-2"} {
		if what := f.process(t, queue.NewUpload(tenant, user, id)); what != "parked" {
			t.Errorf("Process(%s) = %q, want parked", id, what)
		}
		if up := f.row(t, id); up.Status != store.UploadParked || up.ErrorCode != "reauth_required" || !strings.Contains(up.ErrorMessage, "AADSTS700082") {
			t.Errorf("row %s = %s %s %q", id, up.Status, up.ErrorCode, up.ErrorMessage)
		}
	}
	f.tokens.err = nil
	if err := f.svc.ResumeParked(context.Background(), tenant, user); err != nil {
		t.Fatal(err)
	}
	sent := f.queue.Sent()[2:] // after the two intake messages
	if len(sent) != 2 || sent[0].Attempt != 1 || sent[1].Attempt != 1 {
		t.Fatalf("resumed messages = %+v, want one retry (attempt 1) per parked upload", sent)
	}
	for _, m := range sent {
		if up := f.row(t, m.UploadID); up.Status != store.UploadQueued || up.RetryAttempt != 1 {
			t.Errorf("row %s after resume = %s, retry attempt %d", m.UploadID, up.Status, up.RetryAttempt)
		}
		if what := f.process(t, m); what != "done" {
			t.Errorf("resumed %s = %q, want done", m.UploadID, what)
		}
	}
}

// signInDuring is a connection store in which the user signs in again
// right after the worker read their connection as reauth_required.
type signInDuring struct {
	*fakeConns
	reads int
}

func (s *signInDuring) Get(ctx context.Context, t, u string) (store.Connection, error) {
	c, err := s.fakeConns.Get(ctx, t, u)
	s.reads++
	if s.reads == 1 {
		c.Status = store.StatusReauthRequired
		return c, err
	}
	c.ConnectedAt = time.Now()
	return c, err
}

// TestSignInWhileParking: a sign-in between reading the connection and
// parking found nothing parked to resume; the worker notices and re-queues
// the upload itself instead of leaving it parked until the next sign-in.
func TestSignInWhileParking(t *testing.T) {
	f := newFixture(t)
	f.accept(t, meeting("w-1", "null")+"}")
	f.svc.Connections = &signInDuring{fakeConns: f.conns}
	if what := f.process(t, queue.NewUpload(tenant, user, "w-1")); !strings.Contains(what, "re-queued") {
		t.Errorf("Process = %q, want parked and re-queued", what)
	}
	if up := f.row(t, "w-1"); up.Status != store.UploadQueued || up.RetryAttempt != 1 {
		t.Errorf("row = %s, retry attempt %d; want queued again as attempt 1", up.Status, up.RetryAttempt)
	}
}

func TestClassify(t *testing.T) {
	dv := func(status int, code string) error {
		return fmt.Errorf("batch: %w", &dataverse.Error{StatusCode: status, Code: code, Message: "m", RetryAfter: 3 * time.Second})
	}
	tests := []struct {
		err  error
		want outcomeKind
		code string
	}{
		{dv(429, "0x80072322"), outcomeThrottled, "0x80072322"},
		{dv(429, ""), outcomeThrottled, "throttled"},
		{dv(401, ""), outcomeTransient, ""}, // after a refresh Entra granted: not the user's to fix
		{&dataverse.Error{Err: &tokens.ReauthRequiredError{Reason: "x"}}, outcomeParked, "reauth_required"},
		{dv(400, "0x80044331"), outcomeFailed, "0x80044331"},
		{dv(403, "0x80040220"), outcomeFailed, "0x80040220"},
		{dv(404, "0x80040217"), outcomeFailed, "0x80040217"},
		{dv(412, ""), outcomeFailed, ""},
		{dv(500, ""), outcomeTransient, ""},
		{dv(503, ""), outcomeTransient, ""},
		{&dataverse.Error{Err: errors.New("connection reset")}, outcomeTransient, "unavailable"},
		{apperr.E(apperr.NotFound, "not connected"), outcomeParked, "reauth_required"},
		{fmt.Errorf("x: %w", documents.ErrCorrupt), outcomeFailed, "stored_report_damaged"},
		{&notAllowedError{item: "customers[0]", what: "entity set leads"}, outcomeFailed, "not_allowed"},
		{errors.New("table storage timeout"), outcomeTransient, "unavailable"},
		// Entra throttling the refresh: retried at its Retry-After, like Dynamics'.
		{&apperr.Error{Kind: apperr.Throttled, RetryAfter: time.Minute, Message: "Entra is throttling"}, outcomeThrottled, "throttled"},
		{apperr.E(apperr.Reauth, "grant gone"), outcomeParked, "reauth_required"},
	}
	for _, tc := range tests {
		o := classify(tc.err, "notes[0]")
		if o.kind != tc.want || o.last == nil || o.last.Code != tc.code {
			t.Errorf("classify(%v) = %s %+v, want %s with code %q", tc.err, o.kind, o.last, tc.want, tc.code)
		}
	}
}

// TestAllowListChangedSinceIntake: a report accepted under an allow-list
// that no longer permits what it names fails with the reason; nothing is
// sent to Dynamics.
func TestAllowListChangedSinceIntake(t *testing.T) {
	f := newFixture(t)
	f.accept(t, meeting("c-1", `{"entitySet":"accounts","key":{"accountnumber":"A-1"}}`)+"}")
	f.svc.cfg.Allow.EntitySets[0].Keys = nil // accounts lose their alternate key
	requests := f.sim.Requests()
	if what := f.process(t, queue.NewUpload(tenant, user, "c-1")); !strings.HasPrefix(what, "failed") {
		t.Errorf("Process = %q, want failed", what)
	}
	if up := f.row(t, "c-1"); up.ErrorCode != "not_allowed" || up.ErrorItem != "meeting" {
		t.Errorf("row error = %s for %s, want not_allowed for meeting", up.ErrorCode, up.ErrorItem)
	}
	if f.sim.Requests() != requests {
		t.Errorf("a report the allow-list no longer permits reached Dynamics")
	}
}

func TestInlineBudget(t *testing.T) {
	docs := []report.Document{{Size: 600}, {Size: 500}, {Size: 300}, {Size: 0}}
	got := inline(docs, 1000)
	want := []bool{true, false, true, true}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("inline(600, 500, 300, 0 within 1000) = %v, want %v", got, want)
			break
		}
	}
}

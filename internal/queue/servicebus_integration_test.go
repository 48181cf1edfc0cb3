package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/localworld/testenv"
)

// These tests run the real azservicebus client against the Service Bus fake
// for every operation the connector uses.

func fakeClient(t *testing.T) (*azservicebus.Client, testenv.ServiceBusEnv) {
	t.Helper()
	env := testenv.ServiceBus(t)
	c, err := azservicebus.NewClientFromConnectionString(env.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, env
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSyncSender(t *testing.T, c *azservicebus.Client, queue string) *Sender[SyncJob] {
	t.Helper()
	s, err := NewSender[SyncJob](c, queue)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func newReceiver(t *testing.T, c *azservicebus.Client, queue string, opts *azservicebus.ReceiverOptions) *azservicebus.Receiver {
	t.Helper()
	r, err := c.NewReceiverForQueue(queue, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// receiveOne waits for one message.
func receiveOne(ctx context.Context, t *testing.T, r *azservicebus.Receiver) *azservicebus.ReceivedMessage {
	t.Helper()
	msgs, err := r.ReceiveMessages(ctx, 1, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("ReceiveMessages = %d messages, %v; want 1", len(msgs), err)
	}
	return msgs[0]
}

func testJob(slot time.Time) SyncJob {
	return NewSyncJob(uuid.NewString(), uuid.NewString(), ReasonScheduled, slot)
}

// sendJobs sends n sync jobs of different users to q in one batch.
func sendJobs(t *testing.T, c *azservicebus.Client, q string, n int) []SyncJob {
	t.Helper()
	jobs := make([]SyncJob, n)
	for i := range jobs {
		jobs[i] = testJob(time.Now())
	}
	if err := newSyncSender(t, c, q).Send(testCtx(t), jobs...); err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestFakeSendReceiveComplete(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	job := testJob(time.Now())
	if err := newSyncSender(t, c, q).Send(ctx, job); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := newReceiver(t, c, q, nil)
	m := receiveOne(ctx, t, r)
	got, err := DecodeSyncJob(m.Body)
	if err != nil || got != job {
		t.Errorf("received %+v, %v; want %+v", got, err, job)
	}
	if m.MessageID != job.MessageID() || m.ContentType == nil || *m.ContentType != ContentType || m.Subject == nil || *m.Subject != "sync-jobs" {
		t.Errorf("MessageID %q ContentType %v Subject %v; want %q, %s, sync-jobs", m.MessageID, m.ContentType, m.Subject, job.MessageID(), ContentType)
	}
	if m.DeliveryCount != 1 || m.SequenceNumber == nil || m.EnqueuedTime == nil || m.LockedUntil == nil || m.ExpiresAt == nil {
		t.Errorf("system properties: DeliveryCount %d SequenceNumber %v EnqueuedTime %v LockedUntil %v ExpiresAt %v", m.DeliveryCount, m.SequenceNumber, m.EnqueuedTime, m.LockedUntil, m.ExpiresAt)
	}
	if m.LockToken == ([16]byte{}) {
		t.Error("no lock token")
	}
	if err := r.CompleteMessage(ctx, m, nil); err != nil {
		t.Fatalf("CompleteMessage: %v", err)
	}
	env.WaitCounts(t, q, 5*time.Second, func(c testenv.QueueCounts) bool { return c == testenv.QueueCounts{} })
}

func TestFakeApplicationPropertiesKeepTheirTypes(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	s, err := c.NewSender(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	when := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	props := map[string]any{"i32": int32(-5), "i64": int64(1) << 40, "s": "text", "b": true, "t": when, "f": 1.5}
	if err := s.SendMessage(ctx, &azservicebus.Message{Body: []byte("x"), ApplicationProperties: props}, nil); err != nil {
		t.Fatal(err)
	}
	m := receiveOne(ctx, t, newReceiver(t, c, q, nil))
	for k, want := range props {
		got := m.ApplicationProperties[k]
		if tm, ok := want.(time.Time); ok {
			if g, ok := got.(time.Time); !ok || !g.Equal(tm) {
				t.Errorf("property %s = %#v, want %v", k, got, want)
			}
			continue
		}
		if got != want {
			t.Errorf("property %s = %#v (%T), want %#v (%T)", k, got, got, want, want)
		}
	}
}

func TestFakeBatchSplitsThousandsOfJobs(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	slot := time.Now()
	jobs := make([]SyncJob, 3000)
	for i := range jobs {
		jobs[i] = testJob(slot)
	}
	if err := newSyncSender(t, c, q).Send(ctx, jobs...); err != nil {
		t.Fatalf("Send(3000 jobs): %v", err)
	}
	env.WaitCounts(t, q, 10*time.Second, func(c testenv.QueueCounts) bool { return c.Active == len(jobs) })
	// Every job arrives intact, in order.
	r := newReceiver(t, c, q, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	seen := 0
	for seen < len(jobs) {
		msgs, err := r.ReceiveMessages(ctx, 500, nil)
		if err != nil {
			t.Fatalf("ReceiveMessages after %d: %v", seen, err)
		}
		for _, m := range msgs {
			got, err := DecodeSyncJob(m.Body)
			if err != nil || got != jobs[seen] {
				t.Fatalf("message %d = %+v, %v; want %+v", seen, got, err, jobs[seen])
			}
			seen++
		}
	}
}

func TestFakeDuplicateDetection(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: "PT1M"})
	s := newSyncSender(t, c, q)
	job := testJob(time.Now())
	other := testJob(time.Now())
	if err := s.Send(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, job, other, job); err != nil {
		t.Fatal(err)
	}
	got := env.WaitCounts(t, q, 5*time.Second, func(c testenv.QueueCounts) bool { return c.Active >= 2 })
	if got.Active != 2 {
		t.Errorf("after sending one job three times and another once: %d messages, want 2", got.Active)
	}
}

// TestUploadsOfTwoUsersWithOneUploadIDBothArrive: upload ids are unique per
// user only; duplicate detection spans the queue, so another user's upload
// with the same id must still be delivered, and a resend of either dropped.
func TestUploadsOfTwoUsersWithOneUploadIDBothArrive(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: "PT1M"})
	s, err := NewSender[Upload](c, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	alice := NewUpload(uuid.NewString(), uuid.NewString(), "meeting-42")
	bob := NewUpload(uuid.NewString(), uuid.NewString(), "meeting-42")
	if err := s.Send(ctx, alice, bob, alice); err != nil {
		t.Fatal(err)
	}
	got := env.WaitCounts(t, q, 5*time.Second, func(c testenv.QueueCounts) bool { return c.Active >= 2 })
	if got.Active != 2 {
		t.Errorf("after sending two users' uploads with one upload id (and the first again): %d messages, want 2", got.Active)
	}
}

func TestFakeScheduleAndCancel(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	s := newSyncSender(t, c, q)
	at := time.Now().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
	keep, cancel := testJob(at), testJob(at)
	seqs, err := s.ScheduleAt(ctx, at, keep, cancel)
	if err != nil || len(seqs) != 2 || seqs[0] == seqs[1] {
		t.Fatalf("ScheduleAt = %v, %v; want two sequence numbers", seqs, err)
	}
	if err := s.Cancel(ctx, seqs[1]); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := env.Counts(t, q); got.Scheduled != 1 || got.Active != 0 {
		t.Errorf("after scheduling two and cancelling one: %+v, want 1 scheduled", got)
	}
	r := newReceiver(t, c, q, nil)
	early, stop := context.WithDeadline(ctx, at.Add(-200*time.Millisecond))
	msgs, err := r.ReceiveMessages(early, 1, nil)
	stop()
	if len(msgs) != 0 {
		t.Fatalf("received %d message(s) before the scheduled time", len(msgs))
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReceiveMessages before the time: %v", err)
	}
	m := receiveOne(ctx, t, r)
	if m.MessageID != keep.MessageID() || m.SequenceNumber == nil || *m.SequenceNumber != seqs[0] {
		t.Errorf("got message %s seq %v, want %s seq %d", m.MessageID, m.SequenceNumber, keep.MessageID(), seqs[0])
	}
	if m.EnqueuedTime == nil || m.EnqueuedTime.Before(at) {
		t.Errorf("EnqueuedTime %v is before the scheduled time %v", m.EnqueuedTime, at)
	}
	if err := s.Cancel(ctx, seqs[0]); err == nil {
		t.Error("cancelling a message that was already enqueued succeeded; Service Bus reports it as not found")
	}
}

func TestFakeAbandonRedeliversThenDeadLetters(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{MaxDeliveryCount: 3})
	job := testJob(time.Now())
	if err := newSyncSender(t, c, q).Send(ctx, job); err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t, c, q, nil)
	for want := uint32(1); want <= 3; want++ {
		m := receiveOne(ctx, t, r)
		if m.DeliveryCount != want {
			t.Errorf("delivery %d has DeliveryCount %d", want, m.DeliveryCount)
		}
		if err := r.AbandonMessage(ctx, m, nil); err != nil {
			t.Fatalf("AbandonMessage: %v", err)
		}
	}
	env.WaitCounts(t, q, 5*time.Second, func(c testenv.QueueCounts) bool { return c.DeadLetter == 1 && c.Active == 0 })
	dlq := newReceiver(t, c, q, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	m := receiveOne(ctx, t, dlq)
	if m.MessageID != job.MessageID() || m.DeadLetterReason == nil || *m.DeadLetterReason != "MaxDeliveryCountExceeded" || m.DeadLetterSource == nil || *m.DeadLetterSource != q {
		t.Errorf("dead-lettered message %s reason %v source %v; want %s, MaxDeliveryCountExceeded, %s", m.MessageID, m.DeadLetterReason, m.DeadLetterSource, job.MessageID(), q)
	}
	if m.DeadLetterErrorDescription == nil || *m.DeadLetterErrorDescription == "" {
		t.Error("dead-lettered message has no description")
	}
	if err := dlq.CompleteMessage(ctx, m, nil); err != nil {
		t.Fatalf("complete from the DLQ: %v", err)
	}
}

func TestFakeDeadLetterWithReason(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	if err := newSyncSender(t, c, q).Send(ctx, testJob(time.Now())); err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t, c, q, nil)
	m := receiveOne(ctx, t, r)
	reason, desc := "InvalidMessage", "tenantId is not a GUID"
	if err := r.DeadLetterMessage(ctx, m, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc}); err != nil {
		t.Fatalf("DeadLetterMessage: %v", err)
	}
	dlq := newReceiver(t, c, q, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	peeked, err := dlq.PeekMessages(ctx, 10, nil)
	if err != nil || len(peeked) != 1 {
		t.Fatalf("PeekMessages(DLQ) = %d, %v; want 1", len(peeked), err)
	}
	got := peeked[0]
	if got.DeadLetterReason == nil || *got.DeadLetterReason != reason || got.DeadLetterErrorDescription == nil || *got.DeadLetterErrorDescription != desc {
		t.Errorf("peeked reason %v description %v, want %q %q", got.DeadLetterReason, got.DeadLetterErrorDescription, reason, desc)
	}
}

func TestFakeLockExpiryAndRenewal(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{LockDuration: "PT1S"})
	if err := newSyncSender(t, c, q).Send(ctx, testJob(time.Now())); err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t, c, q, nil)
	m := receiveOne(ctx, t, r)
	// Renewing keeps the message locked past its first lock's expiry.
	prev := *m.LockedUntil
	past := prev.Add(500 * time.Millisecond)
	for time.Now().Before(past) {
		time.Sleep(300 * time.Millisecond) // pacing the renewals inside the 1 s lock, not waiting for a result
		if err := r.RenewMessageLock(ctx, m, nil); err != nil {
			t.Fatalf("RenewMessageLock: %v", err)
		}
		if !m.LockedUntil.After(prev) {
			t.Fatalf("RenewMessageLock left LockedUntil at %v, want after %v", m.LockedUntil, prev)
		}
		prev = *m.LockedUntil
	}
	if got := env.Counts(t, q); got.Locked != 1 {
		t.Fatalf("after renewing past the first expiry: %+v, want 1 locked", got)
	}
	// Without renewal the lock expires and the message comes back with a higher DeliveryCount.
	again := receiveOne(ctx, t, r)
	if again.DeliveryCount != 2 || again.MessageID != m.MessageID {
		t.Errorf("redelivered %s with DeliveryCount %d, want %s with 2", again.MessageID, again.DeliveryCount, m.MessageID)
	}
	var sbErr *azservicebus.Error
	if err := r.CompleteMessage(ctx, m, nil); !errors.As(err, &sbErr) || sbErr.Code != azservicebus.CodeLockLost {
		t.Errorf("completing with the expired lock = %v, want CodeLockLost", err)
	}
	if err := r.CompleteMessage(ctx, again, nil); err != nil {
		t.Errorf("completing the redelivery: %v", err)
	}
}

func TestFakeUnknownQueue(t *testing.T) {
	c, _ := fakeClient(t)
	ctx := testCtx(t)
	s := newSyncSender(t, c, "no-such-queue-"+uuid.NewString()[:8])
	err := s.Send(ctx, testJob(time.Now()))
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Condition != amqp.ErrCondNotFound || apperr.KindOf(err) != apperr.Internal {
		t.Errorf("Send to a missing queue = %v (kind %s), want amqp:not-found, kind internal", err, apperr.KindOf(err))
	}
}

func TestFakePeekPages(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	jobs := sendJobs(t, c, q, 25)
	r := newReceiver(t, c, q, nil)
	var ids []string
	for {
		page, err := r.PeekMessages(ctx, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			ids = append(ids, m.MessageID)
		}
	}
	if len(ids) != len(jobs) {
		t.Fatalf("peeked %d messages in pages of 10, want %d", len(ids), len(jobs))
	}
	for i, id := range ids {
		if id != jobs[i].MessageID() {
			t.Errorf("peeked[%d] = %s, want %s", i, id, jobs[i].MessageID())
		}
	}
	if got := env.Counts(t, q); got.Active != len(jobs) {
		t.Errorf("after peeking: %+v, want all %d still active", got, len(jobs))
	}
}

func TestFakeExpiredMessagesAreDeadLettered(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{DefaultMessageTimeToLive: "PT1S", DeadLetteringOnMessageExpiration: true})
	job := testJob(time.Now())
	if err := newSyncSender(t, c, q).Send(ctx, job); err != nil {
		t.Fatal(err)
	}
	env.WaitCounts(t, q, 5*time.Second, func(c testenv.QueueCounts) bool { return c.DeadLetter == 1 && c.Active == 0 })
	dlq := newReceiver(t, c, q, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	m := receiveOne(ctx, t, dlq)
	if m.MessageID != job.MessageID() || m.DeadLetterReason == nil || *m.DeadLetterReason != "TTLExpiredException" {
		t.Errorf("expired message %s has reason %v, want %s with TTLExpiredException", m.MessageID, m.DeadLetterReason, job.MessageID())
	}
	if m.ExpiresAt == nil || m.EnqueuedTime == nil || m.ExpiresAt.Sub(*m.EnqueuedTime) != time.Second {
		t.Errorf("ExpiresAt %v, EnqueuedTime %v; want one second apart (the queue's default time to live)", m.ExpiresAt, m.EnqueuedTime)
	}
}

// BenchmarkSendJobs measures queuing 1000 sync jobs against the Service
// Bus fake, one message per call and batched, the scheduler's fan-out.
func BenchmarkSendJobs(b *testing.B) {
	env := testenv.ServiceBus(b)
	c, err := azservicebus.NewClientFromConnectionString(env.ConnectionString, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, mode := range []string{"one-by-one", "batched"} {
		b.Run(mode, func(b *testing.B) {
			q := env.NewQueue(b, testenv.QueueProperties{})
			s, err := NewSender[SyncJob](c, q)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			ctx := context.Background()
			jobs := make([]SyncJob, 1000)
			for i := 0; i < b.N; i++ {
				for j := range jobs {
					jobs[j] = testJob(time.Now())
				}
				if mode == "batched" {
					err = s.Send(ctx, jobs...)
				} else {
					for _, j := range jobs {
						if err = s.Send(ctx, j); err != nil {
							break
						}
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(jobs))/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// TestFakeRequiresPutToken: like Service Bus, the fake refuses a link to an
// entity for which the connection has not put a CBS token.
func TestFakeRequiresPutToken(t *testing.T) {
	env := testenv.ServiceBus(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	var host string
	for _, part := range strings.Split(env.ConnectionString, ";") {
		if v, ok := strings.CutPrefix(part, "Endpoint=sb://"); ok {
			host = strings.TrimSuffix(v, "/")
		}
	}
	ctx := testCtx(t)
	conn, err := amqp.Dial(ctx, "amqp://"+host, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	session, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = session.NewSender(ctx, q, nil)
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Condition != amqp.ErrCondUnauthorizedAccess {
		t.Errorf("attach without a token = %v, want amqp:unauthorized-access", err)
	}
}

// TestFakePeekLockManyAtOnce: more locked messages than rhea's session
// window (2048) still all arrive as earlier ones are completed.
func TestFakePeekLockManyAtOnce(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	jobs := sendJobs(t, c, q, 2500)
	r := newReceiver(t, c, q, nil)
	done := 0
	for done < len(jobs) {
		msgs, err := r.ReceiveMessages(ctx, 2500, nil)
		if err != nil {
			t.Fatalf("after %d: %v", done, err)
		}
		for _, m := range msgs {
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
			done++
		}
	}
	env.WaitCounts(t, q, 5*time.Second, func(c testenv.QueueCounts) bool { return c == testenv.QueueCounts{} })
}

// TestFakeDeliversNoMoreThanAsked: a receiver asking for one message locks
// one; the others stay active for the next receiver, as in Service Bus
// (no prefetch). A fake that handed a receiver every message would leave
// their locks running out in its queue while the receiver works through
// them one at a time: redeliveries and syncs run twice under load.
func TestFakeDeliversNoMoreThanAsked(t *testing.T) {
	c, env := fakeClient(t)
	ctx := testCtx(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	jobs := sendJobs(t, c, q, 20)
	r := newReceiver(t, c, q, nil)
	taken := 0
	for _, n := range []int{1, 3, 2} {
		msgs, err := r.ReceiveMessages(ctx, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		taken += len(msgs)
		if got := env.Counts(t, q); got.Locked != len(msgs) || got.Active != len(jobs)-taken {
			t.Fatalf("after asking for %d (got %d): %+v, want %d locked and %d active", n, len(msgs), got, len(msgs), len(jobs)-taken)
		}
		for _, m := range msgs {
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"

	"github.com/pitcher/connector/internal/apperr"
)

// fakeSB is a hand-written sbSender that records calls. It cannot make a
// MessageBatch (the SDK offers no constructor), so batching is tested
// against the Service Bus fake.
type fakeSB struct {
	sent      []*azservicebus.Message
	scheduled [][]*azservicebus.Message
	at        []time.Time
	cancelled []int64
	err       error
	nextSeq   int64
}

func (f *fakeSB) SendMessage(_ context.Context, m *azservicebus.Message, _ *azservicebus.SendMessageOptions) error {
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeSB) NewMessageBatch(context.Context, *azservicebus.MessageBatchOptions) (*azservicebus.MessageBatch, error) {
	return nil, errors.New("fakeSB cannot make batches")
}

func (f *fakeSB) SendMessageBatch(context.Context, *azservicebus.MessageBatch, *azservicebus.SendMessageBatchOptions) error {
	return errors.New("fakeSB cannot send batches")
}

func (f *fakeSB) ScheduleMessages(_ context.Context, ms []*azservicebus.Message, at time.Time, _ *azservicebus.ScheduleMessagesOptions) ([]int64, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.scheduled = append(f.scheduled, ms)
	f.at = append(f.at, at)
	seqs := make([]int64, len(ms))
	for i := range ms {
		f.nextSeq++
		seqs[i] = f.nextSeq
	}
	return seqs, nil
}

func (f *fakeSB) CancelScheduledMessages(_ context.Context, seqs []int64, _ *azservicebus.CancelScheduledMessagesOptions) error {
	f.cancelled = append(f.cancelled, seqs...)
	return f.err
}

func TestSendOne(t *testing.T) {
	f := &fakeSB{}
	s := &Sender[Upload]{queue: "uploads", s: f}
	u := NewUpload(tenant, user, upload)
	if err := s.Send(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if len(f.sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(f.sent))
	}
	m := f.sent[0]
	got, err := DecodeUpload(m.Body)
	if err != nil || got != u || *m.MessageID != uploadMessageID || *m.ContentType != ContentType || *m.Subject != "uploads" {
		t.Errorf("sent body %s id %s content type %s subject %s (decoded %+v, %v)", m.Body, *m.MessageID, *m.ContentType, *m.Subject, got, err)
	}
}

func TestSendInvalidSendsNothing(t *testing.T) {
	f := &fakeSB{}
	s := &Sender[SyncJob]{queue: "sync-jobs", s: f}
	good := NewSyncJob(tenant, user, ReasonScheduled, time.Now())
	bad := NewSyncJob("not-a-guid", user, ReasonScheduled, time.Now())
	err := s.Send(context.Background(), good, bad)
	if apperr.KindOf(err) != apperr.Invalid || len(f.sent) != 0 {
		t.Errorf("Send(good, bad) = %v after sending %d; want an Invalid error and nothing sent", err, len(f.sent))
	}
	if _, err := s.ScheduleAt(context.Background(), time.Now(), bad); apperr.KindOf(err) != apperr.Invalid || len(f.scheduled) != 0 {
		t.Errorf("ScheduleAt(bad) = %v; want an Invalid error and nothing scheduled", err)
	}
}

func TestScheduleAtChunks(t *testing.T) {
	f := &fakeSB{}
	s := &Sender[SyncJob]{queue: "sync-jobs", s: f}
	at := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	jobs := make([]SyncJob, 250)
	for i := range jobs {
		jobs[i] = NewSyncJob(tenant, user, ReasonRetry, at.Add(time.Duration(i)*time.Second))
	}
	seqs, err := s.ScheduleAt(context.Background(), at, jobs...)
	if err != nil || len(seqs) != 250 || seqs[249] != 250 {
		t.Fatalf("ScheduleAt(250) = %d seqs, %v", len(seqs), err)
	}
	if len(f.scheduled) != 3 || len(f.scheduled[0]) != scheduleChunk || len(f.scheduled[2]) != 50 {
		t.Errorf("scheduled in %d requests, want 3 of at most %d", len(f.scheduled), scheduleChunk)
	}
	for _, got := range f.at {
		if !got.Equal(at) {
			t.Errorf("scheduled for %v, want %v", got, at)
		}
	}
	if err := s.Cancel(context.Background(), seqs[:2]...); err != nil || len(f.cancelled) != 2 {
		t.Errorf("Cancel = %v, cancelled %v", err, f.cancelled)
	}
}

func TestSendErrorKinds(t *testing.T) {
	job := NewSyncJob(tenant, user, ReasonScheduled, time.Now())
	for _, tc := range []struct {
		err  error
		want apperr.Kind
	}{
		{&amqp.Error{Condition: amqp.ErrCondNotFound}, apperr.Internal},
		{&amqp.Error{Condition: amqp.ErrCondUnauthorizedAccess}, apperr.Internal},
		{&azservicebus.Error{Code: azservicebus.CodeConnectionLost}, apperr.Transient},
		{context.DeadlineExceeded, apperr.Transient},
	} {
		s := &Sender[SyncJob]{queue: "sync-jobs", s: &fakeSB{err: tc.err}}
		err := s.Send(context.Background(), job)
		if apperr.KindOf(err) != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Send failing with %v = %v (kind %s), want kind %s wrapping it", tc.err, err, apperr.KindOf(err), tc.want)
		}
	}
}

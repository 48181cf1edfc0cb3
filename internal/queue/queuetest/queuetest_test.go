package queuetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/queue"
)

// The fake has the method set of the real sender, so either fits a
// consumer's interface.
type syncQueue interface {
	Send(ctx context.Context, jobs ...queue.SyncJob) error
	ScheduleAt(ctx context.Context, at time.Time, jobs ...queue.SyncJob) ([]int64, error)
	Cancel(ctx context.Context, seqs ...int64) error
}

var (
	_ syncQueue = (*Sender[queue.SyncJob])(nil)
	_ syncQueue = (*queue.Sender[queue.SyncJob])(nil)
)

func TestSenderRecords(t *testing.T) {
	const tenant, user = "72f988bf-86f1-41af-91ab-2d7cd011db47", "9c1e5b2a-3f4d-4e6a-8b7c-0d1e2f3a4b5c"
	ctx := context.Background()
	s := &Sender[queue.SyncJob]{}
	now := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	job := queue.InitialSync(tenant, user, now)
	if err := s.Send(ctx, job, job); err != nil {
		t.Fatal(err)
	}
	if got := s.Sent(); len(got) != 1 || got[0] != job {
		t.Errorf("Sent() = %+v, want the job once (same MessageId)", got)
	}
	if err := s.Send(ctx, queue.InitialSync("nope", user, now)); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("Send(invalid) = %v, want an Invalid error", err)
	}
	seqs, err := s.ScheduleAt(ctx, now.Add(time.Minute), job.Retry(now.Add(time.Minute)))
	if err != nil || len(seqs) != 1 || len(s.ScheduledMessages()) != 1 || !s.ScheduledMessages()[0].At.Equal(now.Add(time.Minute)) {
		t.Errorf("ScheduleAt = %v, %v; scheduled %+v", seqs, err, s.ScheduledMessages())
	}
	_ = s.Cancel(ctx, seqs...)
	if got := s.Cancelled(); len(got) != 1 || got[0] != seqs[0] {
		t.Errorf("Cancelled() = %v, want %v", got, seqs)
	}
	boom := errors.New("service bus down")
	s.Err = boom
	if err := s.Send(ctx, job); !errors.Is(err, boom) {
		t.Errorf("Send with Err set = %v, want %v", err, boom)
	}
}

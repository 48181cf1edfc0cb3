// Package queuetest has a hand-written fake of queue.Sender for the unit
// tests of code that queues work. Such code declares the interface it needs,
// for example
//
//	type syncQueue interface {
//		Send(ctx context.Context, jobs ...queue.SyncJob) error
//	}
//
// and its tests pass a *queuetest.Sender[queue.SyncJob].
package queuetest

import (
	"context"
	"sync"
	"time"

	"github.com/pitcher/connector/internal/queue"
)

// Scheduled is one message scheduled with ScheduleAt.
type Scheduled[M queue.Message] struct {
	Message        M
	At             time.Time
	SequenceNumber int64
}

// Sender records what it is asked to send. Like queue.Sender it validates
// every message first and records nothing if one is invalid, and, like a
// queue with duplicate detection, it records a MessageId once. It is safe
// for concurrent use. Set Err to make every call fail with it.
type Sender[M queue.Message] struct {
	mu        sync.Mutex
	Err       error
	sent      []M
	scheduled []Scheduled[M]
	cancelled []int64
	seen      map[string]bool
	nextSeq   int64
}

// Send records msgs as sent now.
func (s *Sender[M]) Send(_ context.Context, msgs ...M) error {
	return s.record(msgs, func(m M) { s.sent = append(s.sent, m) })
}

// ScheduleAt records msgs as scheduled for at and returns sequence numbers.
func (s *Sender[M]) ScheduleAt(_ context.Context, at time.Time, msgs ...M) ([]int64, error) {
	var seqs []int64
	err := s.record(msgs, func(m M) {
		s.nextSeq++
		seqs = append(seqs, s.nextSeq)
		s.scheduled = append(s.scheduled, Scheduled[M]{Message: m, At: at, SequenceNumber: s.nextSeq})
	})
	return seqs, err
}

// Cancel records the cancelled sequence numbers.
func (s *Sender[M]) Cancel(_ context.Context, seqs ...int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return s.Err
	}
	s.cancelled = append(s.cancelled, seqs...)
	return nil
}

func (s *Sender[M]) record(msgs []M, add func(M)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return s.Err
	}
	for _, m := range msgs {
		if err := m.Validate(); err != nil {
			return err
		}
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, m := range msgs {
		if !s.seen[m.MessageID()] {
			s.seen[m.MessageID()] = true
			add(m)
		}
	}
	return nil
}

// Sent returns the messages sent so far, without duplicates.
func (s *Sender[M]) Sent() []M {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]M(nil), s.sent...)
}

// ScheduledMessages returns the messages scheduled so far.
func (s *Sender[M]) ScheduledMessages() []Scheduled[M] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Scheduled[M](nil), s.scheduled...)
}

// Cancelled returns the sequence numbers cancelled so far.
func (s *Sender[M]) Cancelled() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.cancelled...)
}

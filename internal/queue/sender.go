package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"

	"github.com/pitcher/connector/internal/apperr"
)

// sbSender is the part of *azservicebus.Sender that Sender uses.
type sbSender interface {
	SendMessage(ctx context.Context, message *azservicebus.Message, options *azservicebus.SendMessageOptions) error
	NewMessageBatch(ctx context.Context, options *azservicebus.MessageBatchOptions) (*azservicebus.MessageBatch, error)
	SendMessageBatch(ctx context.Context, batch *azservicebus.MessageBatch, options *azservicebus.SendMessageBatchOptions) error
	ScheduleMessages(ctx context.Context, messages []*azservicebus.Message, scheduledEnqueueTime time.Time, options *azservicebus.ScheduleMessagesOptions) ([]int64, error)
	CancelScheduledMessages(ctx context.Context, sequenceNumbers []int64, options *azservicebus.CancelScheduledMessagesOptions) error
}

var _ sbSender = (*azservicebus.Sender)(nil)

// scheduleChunk bounds how many messages one schedule request carries, so
// that the request stays well below Service Bus' 256 KB message limit.
const scheduleChunk = 100

// Sender sends messages of one kind (SyncJob or Upload) to one queue. It is
// safe for concurrent use. Every send validates all its messages first and
// sends nothing if one is invalid.
type Sender[M Message] struct {
	queue string
	s     sbSender
	close func(context.Context) error
}

// NewSender returns a sender to queue over client. It does not contact the
// service; the first send does.
func NewSender[M Message](client *azservicebus.Client, queue string) (*Sender[M], error) {
	s, err := client.NewSender(queue, nil)
	if err != nil {
		return nil, fmt.Errorf("queue %s: new sender: %w", queue, err)
	}
	return &Sender[M]{queue: queue, s: s, close: s.Close}, nil
}

// Queue is the name of the queue the sender sends to.
func (s *Sender[M]) Queue() string { return s.queue }

// Send sends msgs now. One message is sent alone; more go in as few
// batches as fit Service Bus' size limit (a fan-out of thousands of jobs is
// a handful of round trips). On error some batches may have been sent:
// sending all of msgs again is safe, since duplicates are dropped by
// MessageId.
func (s *Sender[M]) Send(ctx context.Context, msgs ...M) error {
	sbm, err := encodeAll(msgs)
	if err != nil || len(sbm) == 0 {
		return err
	}
	if len(sbm) == 1 {
		if err := s.s.SendMessage(ctx, sbm[0], nil); err != nil {
			return s.fail(err, "send 1 message")
		}
		return nil
	}
	return s.sendBatches(ctx, sbm)
}

func (s *Sender[M]) sendBatches(ctx context.Context, sbm []*azservicebus.Message) error {
	sent := 0
	batch, err := s.s.NewMessageBatch(ctx, nil)
	if err != nil {
		return s.fail(err, "create a message batch")
	}
	flush := func() error {
		n := int(batch.NumMessages())
		if err := s.s.SendMessageBatch(ctx, batch, nil); err != nil {
			return s.fail(err, fmt.Sprintf("send a batch of %d messages (%d of %d sent before; sending all again is safe)", n, sent, len(sbm)))
		}
		sent += n
		batch, err = s.s.NewMessageBatch(ctx, nil)
		if err != nil {
			return s.fail(err, "create a message batch")
		}
		return nil
	}
	for i, m := range sbm {
		err := batch.AddMessage(m, nil)
		if errors.Is(err, azservicebus.ErrMessageTooLarge) && batch.NumMessages() > 0 {
			if err := flush(); err != nil {
				return err
			}
			err = batch.AddMessage(m, nil)
		}
		if errors.Is(err, azservicebus.ErrMessageTooLarge) {
			return apperr.E(apperr.Internal, "queue %s: message %d (%s) is larger than a Service Bus message may be", s.queue, i, *m.MessageID)
		}
		if err != nil {
			return s.fail(err, "add a message to a batch")
		}
	}
	if batch.NumMessages() == 0 {
		return nil
	}
	return flush()
}

// ScheduleAt sends msgs to be enqueued at at, for delayed retries, and
// returns their sequence numbers (for Cancel). The messages are not
// delivered before at.
func (s *Sender[M]) ScheduleAt(ctx context.Context, at time.Time, msgs ...M) ([]int64, error) {
	sbm, err := encodeAll(msgs)
	if err != nil || len(sbm) == 0 {
		return nil, err
	}
	seqs := make([]int64, 0, len(sbm))
	for start := 0; start < len(sbm); start += scheduleChunk {
		chunk := sbm[start:min(start+scheduleChunk, len(sbm))]
		got, err := s.s.ScheduleMessages(ctx, chunk, at, nil)
		if err != nil {
			return seqs, s.fail(err, fmt.Sprintf("schedule %d message(s) for %s", len(chunk), at.UTC().Format(time.RFC3339)))
		}
		seqs = append(seqs, got...)
	}
	return seqs, nil
}

// Cancel cancels scheduled messages by sequence number.
func (s *Sender[M]) Cancel(ctx context.Context, seqs ...int64) error {
	if len(seqs) == 0 {
		return nil
	}
	if err := s.s.CancelScheduledMessages(ctx, seqs, nil); err != nil {
		return s.fail(err, fmt.Sprintf("cancel %d scheduled message(s)", len(seqs)))
	}
	return nil
}

// Close closes the sender's links; the client stays open.
func (s *Sender[M]) Close(ctx context.Context) error {
	if s.close == nil {
		return nil
	}
	return s.close(ctx)
}

// fail wraps a Service Bus error: a missing queue or missing rights are a
// deployment problem (Internal); anything else may pass (Transient).
func (s *Sender[M]) fail(err error, what string) error {
	kind := apperr.Transient
	var sbErr *azservicebus.Error
	var amqpErr *amqp.Error
	switch {
	case errors.As(err, &sbErr) && (sbErr.Code == azservicebus.CodeNotFound || sbErr.Code == azservicebus.CodeUnauthorizedAccess),
		errors.As(err, &amqpErr) && (amqpErr.Condition == amqp.ErrCondNotFound || amqpErr.Condition == amqp.ErrCondUnauthorizedAccess):
		kind = apperr.Internal
	}
	return apperr.Wrap(kind, fmt.Errorf("queue %s: %s: %w", s.queue, what, err), "could not queue the work; try again")
}

// encodeAll validates every message and encodes them for Service Bus.
func encodeAll[M Message](msgs []M) ([]*azservicebus.Message, error) {
	out := make([]*azservicebus.Message, 0, len(msgs))
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			if len(msgs) > 1 {
				return nil, fmt.Errorf("message %d of %d: %w", i+1, len(msgs), err)
			}
			return nil, err
		}
		sbm, err := Encode(m)
		if err != nil {
			return nil, err
		}
		out = append(out, sbm)
	}
	return out, nil
}

// Encode returns m as a Service Bus message: its JSON body, MessageId,
// content type and, as Subject, the schema (the queue it belongs on).
func Encode(m Message) (*azservicebus.Message, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "encode "+m.schema()+" message")
	}
	id, subject, ct := m.MessageID(), m.schema(), ContentType
	return &azservicebus.Message{Body: body, MessageID: &id, ContentType: &ct, Subject: &subject}, nil
}

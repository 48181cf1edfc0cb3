package queue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// DeadLetter is a message in a queue's dead-letter queue, as an operator
// sees it.
type DeadLetter struct {
	SequenceNumber        int64          `json:"sequenceNumber"`
	MessageID             string         `json:"messageId"`
	Subject               string         `json:"subject,omitempty"`
	ContentType           string         `json:"contentType,omitempty"`
	EnqueuedTime          time.Time      `json:"enqueuedTime"`
	DeliveryCount         uint32         `json:"deliveryCount"`
	Reason                string         `json:"reason,omitempty"`
	Description           string         `json:"description,omitempty"`
	Source                string         `json:"source,omitempty"`
	ApplicationProperties map[string]any `json:"applicationProperties,omitempty"`
	Body                  []byte         `json:"-"`
}

func deadLetterOf(m *azservicebus.ReceivedMessage) DeadLetter {
	d := DeadLetter{MessageID: m.MessageID, DeliveryCount: m.DeliveryCount, Body: m.Body}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	d.Subject, d.ContentType, d.Reason, d.Description, d.Source = str(m.Subject), str(m.ContentType), str(m.DeadLetterReason), str(m.DeadLetterErrorDescription), str(m.DeadLetterSource)
	if m.SequenceNumber != nil {
		d.SequenceNumber = *m.SequenceNumber
	}
	if m.EnqueuedTime != nil {
		d.EnqueuedTime = m.EnqueuedTime.UTC()
	}
	d.ApplicationProperties = map[string]any{}
	for k, v := range m.ApplicationProperties {
		if k != "DeadLetterReason" && k != "DeadLetterErrorDescription" {
			d.ApplicationProperties[k] = v
		}
	}
	return d
}

// DeadLetters reads and repairs the dead-letter queue of one queue.
type DeadLetters struct {
	client *azservicebus.Client
	queue  string
	// Wait bounds how long a receive waits for a message before it decides
	// the dead-letter queue holds no more (default 3 s).
	Wait time.Duration
}

// NewDeadLetters returns the dead-letter queue of queue.
func NewDeadLetters(client *azservicebus.Client, queue string) *DeadLetters {
	return &DeadLetters{client: client, queue: queue, Wait: 3 * time.Second}
}

// List returns up to max dead-lettered messages, oldest sequence number
// first, without locking or changing them.
func (d *DeadLetters) List(ctx context.Context, max int) ([]DeadLetter, error) {
	r, err := d.receiver()
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []DeadLetter
	for len(out) < max {
		page, err := r.PeekMessages(ctx, min(max-len(out), 250), nil)
		if err != nil {
			return out, fmt.Errorf("peek the dead-letter queue of %s: %w", d.queue, err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			out = append(out, deadLetterOf(m))
		}
	}
	return out, nil
}

// Get returns the dead-lettered message with sequence number seq; ok is
// false when there is none.
func (d *DeadLetters) Get(ctx context.Context, seq int64) (DeadLetter, bool, error) {
	r, err := d.receiver()
	if err != nil {
		return DeadLetter{}, false, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	page, err := r.PeekMessages(ctx, 1, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &seq})
	if err != nil {
		return DeadLetter{}, false, fmt.Errorf("peek the dead-letter queue of %s: %w", d.queue, err)
	}
	if len(page) == 0 || page[0].SequenceNumber == nil || *page[0].SequenceNumber != seq {
		return DeadLetter{}, false, nil
	}
	return deadLetterOf(page[0]), true, nil
}

// Outcome is what happened to one selected dead-lettered message.
type Outcome struct {
	SequenceNumber int64  `json:"sequenceNumber"`
	MessageID      string `json:"messageId"`
	// NewMessageID is the MessageId of the resubmitted copy.
	NewMessageID string `json:"newMessageId,omitempty"`
}

// Resubmit sends a copy of each selected dead-lettered message (all when
// seqs is empty) back to the queue and then removes it from the dead-letter
// queue. The copy keeps body and properties, drops the dead-letter reason,
// records the original in the application property resubmittedFrom, and
// gets the MessageId "<original>:r<sequence number>", so that duplicate
// detection, which still remembers the original MessageId, does not drop it.
// Messages it could not lock are reported in the error.
func (d *DeadLetters) Resubmit(ctx context.Context, seqs []int64) ([]Outcome, error) {
	s, err := d.client.NewSender(d.queue, nil)
	if err != nil {
		return nil, fmt.Errorf("sender for %s: %w", d.queue, err)
	}
	defer s.Close(context.WithoutCancel(ctx))
	return d.each(ctx, seqs, func(m *azservicebus.ReceivedMessage, o *Outcome) error {
		c := resubmission(m)
		if len(*c.MessageID) > 128 {
			return fmt.Errorf("message %d: the resubmitted MessageId would exceed 128 characters", o.SequenceNumber)
		}
		if err := s.SendMessage(ctx, c, nil); err != nil {
			return fmt.Errorf("resend message %d to %s: %w", o.SequenceNumber, d.queue, err)
		}
		o.NewMessageID = *c.MessageID
		return nil
	})
}

// Purge removes the selected dead-lettered messages (all when seqs is empty).
func (d *DeadLetters) Purge(ctx context.Context, seqs []int64) ([]Outcome, error) {
	return d.each(ctx, seqs, func(*azservicebus.ReceivedMessage, *Outcome) error { return nil })
}

func resubmission(m *azservicebus.ReceivedMessage) *azservicebus.Message {
	base := m.MessageID
	if i := strings.LastIndex(base, ":r"); i > 0 {
		if _, err := strconv.ParseInt(base[i+2:], 10, 64); err == nil {
			base = base[:i]
		}
	}
	id := base + ":r" + strconv.FormatInt(*m.SequenceNumber, 10)
	props := map[string]any{"resubmittedFrom": m.MessageID}
	for k, v := range m.ApplicationProperties {
		if k != "DeadLetterReason" && k != "DeadLetterErrorDescription" && k != "resubmittedFrom" {
			props[k] = v
		}
	}
	return &azservicebus.Message{Body: m.Body, MessageID: &id, ContentType: m.ContentType, Subject: m.Subject, CorrelationID: m.CorrelationID, ApplicationProperties: props}
}

// maxScan bounds how many dead-lettered messages one resubmit or purge
// looks at.
const maxScan = 10000

// each locks the selected dead-lettered messages, applies act and completes
// each on success. It first peeks to learn which messages are there and
// asks for exactly that many, so that messages it did not select, which it
// holds until the end and then abandons, cannot come back to it.
func (d *DeadLetters) each(ctx context.Context, seqs []int64, act func(*azservicebus.ReceivedMessage, *Outcome) error) ([]Outcome, error) {
	present, err := d.List(ctx, maxScan)
	if err != nil {
		return nil, err
	}
	all := len(seqs) == 0
	want := map[int64]bool{}
	var errs []error
	for _, s := range seqs {
		if !slices.ContainsFunc(present, func(m DeadLetter) bool { return m.SequenceNumber == s }) {
			errs = append(errs, fmt.Errorf("message %d is not in the dead-letter queue of %s (see dlq list)", s, d.queue))
			continue
		}
		want[s] = true
	}
	if len(present) == 0 || (!all && len(want) == 0) {
		return nil, errors.Join(errs...)
	}
	r, err := d.receiver()
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	var held []*azservicebus.ReceivedMessage
	defer func() {
		for _, m := range held {
			_ = r.AbandonMessage(context.WithoutCancel(ctx), m, nil)
		}
	}()
	var done []Outcome
	for received := 0; received < len(present) && (all || len(want) > 0); {
		wait, cancel := context.WithTimeout(ctx, d.Wait)
		msgs, err := r.ReceiveMessages(wait, len(present)-received, nil)
		cancel()
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return done, fmt.Errorf("receive from the dead-letter queue of %s: %w", d.queue, err)
		}
		if len(msgs) == 0 {
			break
		}
		received += len(msgs)
		for _, m := range msgs {
			seq := *m.SequenceNumber
			if !all && !want[seq] {
				held = append(held, m)
				continue
			}
			delete(want, seq)
			o := Outcome{SequenceNumber: seq, MessageID: m.MessageID}
			if err := act(m, &o); err != nil {
				errs = append(errs, err)
				held = append(held, m)
				continue
			}
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				errs = append(errs, fmt.Errorf("remove message %d from the dead-letter queue: %w", seq, err))
				continue
			}
			done = append(done, o)
		}
	}
	for _, seq := range slices.Sorted(maps.Keys(want)) {
		errs = append(errs, fmt.Errorf("message %d could not be locked within %s (another receiver may hold it)", seq, d.Wait))
	}
	return done, errors.Join(errs...)
}

func (d *DeadLetters) receiver() (*azservicebus.Receiver, error) {
	r, err := d.client.NewReceiverForQueue(d.queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		return nil, fmt.Errorf("receiver for the dead-letter queue of %s: %w", d.queue, err)
	}
	return r, nil
}

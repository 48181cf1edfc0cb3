package funchost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/funcwire"
)

// drainTimeout bounds how long in-flight messages may run once the host is
// stopping: the handler drains its requests on SIGTERM, and the messages are
// settled with their outcome.
const drainTimeout = 30 * time.Second

// serviceBusTrigger receives a queue's messages in peek-lock mode with the
// real azservicebus client and invokes the function for each, as the host
// does: up to maxConcurrentCalls at once, locks renewed while the function
// runs (up to maxAutoLockRenewalDuration), completed on success and
// abandoned on failure (a non-2xx answer, no answer, or functionTimeout
// passed), so Service Bus redelivers and finally dead-letters.
type serviceBusTrigger struct {
	host       *Host
	fn         *Function
	queue      string
	conn       sbConnection
	concurrent int
	renewal    time.Duration // < 0: for as long as the function runs
	retryDelay time.Duration // first pause after a receive error
}

func newServiceBusTrigger(h *Host, fn *Function) (*serviceBusTrigger, error) {
	q, err := h.settings.Expand(fn.Trigger.QueueName)
	if err != nil {
		return nil, fmt.Errorf("function %s: queueName: %w", fn.Name, err)
	}
	name := fn.Trigger.Connection
	if name == "" {
		name = "AzureWebJobsServiceBus"
	}
	// Like the host, an exact setting (a connection string) wins over the
	// __fullyQualifiedNamespace prefix settings.
	conn := newSBConnection(h.settings, name)
	if conn.connectionString == "" && conn.namespace == "" {
		return nil, fmt.Errorf("function %s: connection %q: set %s (a connection string) or %s__fullyQualifiedNamespace", fn.Name, name, name, name)
	}
	sb := h.hc.Extensions.ServiceBus
	concurrent, _ := sb.ConcurrentCalls()
	renewal, _ := sb.LockRenewal()
	if sb.AutoCompleteMessages != nil && !*sb.AutoCompleteMessages {
		h.log.Printf("Warning: host.json sets extensions.serviceBus.autoCompleteMessages false; only C# functions support that, so the host completes messages of custom handlers anyway, and so does funchost.")
	}
	return &serviceBusTrigger{host: h, fn: fn, queue: q, conn: conn, concurrent: concurrent, renewal: renewal, retryDelay: time.Second}, nil
}

func (t *serviceBusTrigger) describe() string {
	return fmt.Sprintf("serviceBusTrigger, queue %q via %s, maxConcurrentCalls %d", t.queue, t.conn, t.concurrent)
}

// run receives and dispatches messages until ctx is done, then lets the
// messages in flight finish and settles them.
func (t *serviceBusTrigger) run(ctx context.Context) error {
	client, err := t.conn.client()
	if err != nil {
		t.host.log.Printf("The listener for function 'Functions.%s' was unable to start: %v", t.fn.Name, err)
		return nil
	}
	defer client.Close(context.Background())
	receiver, err := client.NewReceiverForQueue(t.queue, nil)
	if err != nil {
		t.host.log.Printf("The listener for function 'Functions.%s' was unable to start: %v", t.fn.Name, err)
		return nil
	}
	defer receiver.Close(context.Background())

	slots := make(chan struct{}, t.concurrent)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	delay := t.retryDelay
	for {
		select { // wait for a free slot
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
		for n < t.concurrent && tryAcquire(slots) {
			n++
		}
		msgs, err := receiver.ReceiveMessages(ctx, n, nil)
		for i := len(msgs); i < n; i++ {
			<-slots
		}
		if ctx.Err() != nil && len(msgs) == 0 {
			return nil
		}
		if err != nil {
			t.host.log.Printf("Function %s: receiving from queue %q failed, retrying in %s: %v", t.fn.Name, t.queue, delay, err)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil
			}
			delay = min(2*delay, 30*time.Second)
			continue
		}
		delay = t.retryDelay
		for _, m := range msgs {
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() { <-slots }()
				t.dispatch(ctx, receiver, m)
			}()
		}
	}
}

func tryAcquire(slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// lockRenewer is the part of *azservicebus.Receiver dispatch needs.
type lockRenewer interface {
	RenewMessageLock(ctx context.Context, msg *azservicebus.ReceivedMessage, options *azservicebus.RenewMessageLockOptions) error
	CompleteMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.AbandonMessageOptions) error
}

var _ lockRenewer = (*azservicebus.Receiver)(nil)

// dispatch invokes the function for m and settles m by the outcome. The
// invocation outlives ctx by at most drainTimeout, so a stopping host lets
// it finish rather than leaving the message locked.
func (t *serviceBusTrigger) dispatch(ctx context.Context, r lockRenewer, m *azservicebus.ReceivedMessage) {
	invokeCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(drainTimeout, cancel) })
	defer stop()
	if t.host.timeout > 0 { // functionTimeout: the invocation fails, and the message is abandoned
		var cancelTimeout context.CancelFunc
		invokeCtx, cancelTimeout = context.WithTimeout(invokeCtx, t.host.timeout)
		defer cancelTimeout()
	}

	now := t.host.now()
	payload := funcwire.ServiceBusRequest(t.fn.Name, t.fn.Trigger.Name, receivedMessage(m), t.conn.namespace, now)
	seq := int64(0)
	if m.SequenceNumber != nil {
		seq = *m.SequenceNumber
	}
	t.host.log.Printf("Trigger Details: MessageId: %s, SequenceNumber: %d, DeliveryCount: %d, EnqueuedTimeUtc: %s", m.MessageID, seq, m.DeliveryCount, timeOrNull(m.EnqueuedTime))

	renewCtx, stopRenewing := context.WithCancel(invokeCtx)
	renewed := make(chan struct{})
	go func() { defer close(renewed); t.renewLock(renewCtx, r, m) }()
	_, err := t.host.invoke(invokeCtx, t.fn, fmt.Sprintf("New ServiceBus message detected on '%s'.", t.queue), payload)
	stopRenewing()
	<-renewed

	settleCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer done()
	if err == nil {
		if err := r.CompleteMessage(settleCtx, m, nil); err != nil {
			t.host.log.Printf("Function %s: completing message %s failed (Service Bus will redeliver it): %v", t.fn.Name, m.MessageID, err)
		}
		return
	}
	if err := r.AbandonMessage(settleCtx, m, nil); err != nil {
		t.host.log.Printf("Function %s: abandoning message %s failed (it returns when its lock expires): %v", t.fn.Name, m.MessageID, err)
	}
}

// renewRetryDelay is the longest pause before renewing a lock again after a
// renewal failed for a reason that may pass (a dropped connection, a
// timeout); it is shortened to fit the lock's remaining time.
const renewRetryDelay = time.Second

// renewLock renews m's lock shortly before it expires until ctx is done or
// the renewal duration has passed. A renewal that fails for a reason that
// may pass is tried again until the lock is lost or its time is up: giving
// up at once would let the lock expire and Service Bus redeliver the
// message while the function still runs.
func (t *serviceBusTrigger) renewLock(ctx context.Context, r lockRenewer, m *azservicebus.ReceivedMessage) {
	if t.renewal == 0 || m.LockedUntil == nil {
		return
	}
	var deadline time.Time
	if t.renewal > 0 {
		deadline = time.Now().Add(t.renewal)
	}
	var failed error // the last renewal's error, while it is being retried
	for {
		left := time.Until(*m.LockedUntil)
		wait := left - min(left/2, 10*time.Second)
		if failed != nil {
			if left <= 0 {
				t.host.log.Printf("Function %s: could not renew the lock of message %s before it expired (Service Bus will redeliver it): %v", t.fn.Name, m.MessageID, failed)
				return
			}
			wait = min(renewRetryDelay, left/2)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			t.host.log.Printf("Function %s: stopped renewing the lock of message %s after maxAutoLockRenewalDuration %s", t.fn.Name, m.MessageID, t.renewal)
			return
		}
		err := r.RenewMessageLock(ctx, m, nil)
		switch {
		case err == nil:
			failed = nil
		case ctx.Err() != nil:
			return
		case lockGone(err):
			t.host.log.Printf("Function %s: renewing the lock of message %s failed: %v", t.fn.Name, m.MessageID, err)
			return
		default:
			t.host.log.Printf("Function %s: renewing the lock of message %s failed, trying again: %v", t.fn.Name, m.MessageID, err)
			failed = err
		}
	}
}

// lockGone reports a renewal error no retry can fix: the lock is lost, or
// the queue or the receiver is gone, or access was refused.
func lockGone(err error) bool {
	var sbErr *azservicebus.Error
	if !errors.As(err, &sbErr) {
		return false
	}
	switch sbErr.Code {
	case azservicebus.CodeLockLost, azservicebus.CodeNotFound, azservicebus.CodeClosed, azservicebus.CodeUnauthorizedAccess:
		return true
	}
	return false
}

func timeOrNull(t *time.Time) string {
	if t == nil {
		return "(null)"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// invokeWith runs the function once with input as the message body, as the
// admin API does; nothing is received from or settled on the queue.
func (t *serviceBusTrigger) invokeWith(ctx context.Context, input string) (funcwire.InvokeResponse, error) {
	now := t.host.now()
	return t.host.invoke(ctx, t.fn, "This function was programmatically called via the host APIs.", funcwire.ServiceBusRequest(t.fn.Name, t.fn.Trigger.Name, funcwire.ServiceBusMessage{
		Body: []byte(input), MessageID: uuid.NewString(), ContentType: "application/json", DeliveryCount: 1,
		SequenceNumber: 1, EnqueuedTime: now, ExpiresAt: now.Add(14 * 24 * time.Hour), LockToken: uuid.NewString(),
	}, t.conn.namespace, now))
}

// receivedMessage takes what the host passes on from a received message.
func receivedMessage(m *azservicebus.ReceivedMessage) funcwire.ServiceBusMessage {
	s := funcwire.ServiceBusMessage{
		Body: m.Body, MessageID: m.MessageID, DeliveryCount: int(m.DeliveryCount), LockToken: uuid.UUID(m.LockToken).String(),
		ApplicationProperties: m.ApplicationProperties,
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	s.ContentType, s.CorrelationID, s.Subject, s.To, s.ReplyTo = str(m.ContentType), str(m.CorrelationID), str(m.Subject), str(m.To), str(m.ReplyTo)
	s.SessionID, s.ReplyToSessionID, s.PartitionKey, s.DeadLetterSource = str(m.SessionID), str(m.ReplyToSessionID), str(m.PartitionKey), str(m.DeadLetterSource)
	if m.SequenceNumber != nil {
		s.SequenceNumber = *m.SequenceNumber
	}
	if m.EnqueuedTime != nil {
		s.EnqueuedTime = *m.EnqueuedTime
	}
	if m.ExpiresAt != nil {
		s.ExpiresAt = *m.ExpiresAt
	}
	return s
}

package funchost

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// serviceBusTrigger invokes a Service Bus function. Receiving from the queue
// arrives with the Service Bus issue; until then the function runs only on
// demand, through the admin API or -run.
type serviceBusTrigger struct {
	host  *Host
	fn    *Function
	queue string
}

func newServiceBusTrigger(h *Host, fn *Function) (*serviceBusTrigger, error) {
	queue, err := h.settings.Expand(fn.Trigger.QueueName)
	if err != nil {
		return nil, fmt.Errorf("function %s: queueName: %w", fn.Name, err)
	}
	conn := fn.Trigger.Connection
	if conn == "" {
		conn = "AzureWebJobsServiceBus"
	}
	if h.settings[conn] == "" && h.settings[conn+"__fullyQualifiedNamespace"] == "" {
		return nil, fmt.Errorf("function %s: connection %q: set %s (a connection string) or %s__fullyQualifiedNamespace", fn.Name, conn, conn, conn)
	}
	return &serviceBusTrigger{host: h, fn: fn, queue: queue}, nil
}

func (t *serviceBusTrigger) describe() string {
	return fmt.Sprintf("serviceBusTrigger, queue %q (not received by funchost yet; run it with POST /admin/functions/%s)", t.queue, t.fn.Name)
}

func (t *serviceBusTrigger) run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (t *serviceBusTrigger) invokeWith(ctx context.Context, input string) (Result, error) {
	now := t.host.now()
	return t.host.invoke(ctx, t.fn, "This function was programmatically called via the host APIs.", serviceBusPayload(t.fn, sbMessage{
		Body: []byte(input), MessageID: uuid.NewString(), ContentType: "application/json", DeliveryCount: 1,
		SequenceNumber: 1, EnqueuedTime: now, ExpiresAt: now.Add(14 * 24 * time.Hour), LockToken: uuid.NewString(),
	}, now))
}

// sbMessage is what a Service Bus invocation carries about its message.
type sbMessage struct {
	Body                  []byte
	MessageID             string
	ContentType           string
	CorrelationID         string
	Subject               string
	DeliveryCount         int
	SequenceNumber        int64
	EnqueuedTime          time.Time
	ExpiresAt             time.Time
	LockToken             string
	ApplicationProperties map[string]any
}

// serviceBusPayload encodes m as the host does for a serviceBusTrigger
// without dataType: the body and every string double-encoded, numbers as
// strings, *Utc times without an offset, properties as an object
// (shared/reference/functions-custom-handlers.md §2.5, §2.8).
func serviceBusPayload(fn *Function, m sbMessage, now time.Time) Payload {
	props := m.ApplicationProperties
	if props == nil {
		props = map[string]any{}
	}
	md := map[string]any{
		"MessageId":             hostString(m.MessageID),
		"DeliveryCount":         strconv.Itoa(m.DeliveryCount),
		"SequenceNumber":        strconv.FormatInt(m.SequenceNumber, 10),
		"EnqueuedTimeUtc":       m.EnqueuedTime.UTC().Format("2006-01-02T15:04:05.9999999"),
		"EnqueuedTime":          m.EnqueuedTime.UTC().Format("2006-01-02T15:04:05.9999999+00:00"),
		"ExpiresAtUtc":          m.ExpiresAt.UTC().Format("2006-01-02T15:04:05.9999999"),
		"ExpiresAt":             m.ExpiresAt.UTC().Format("2006-01-02T15:04:05.9999999+00:00"),
		"LockToken":             hostString(m.LockToken),
		"ApplicationProperties": props,
		"UserProperties":        props,
		"MessageReceiver":       map[string]any{},
		"MessageActions":        map[string]any{},
		"Client":                map[string]any{},
		"sys":                   sysMetadata(fn.Name, now),
	}
	for k, v := range map[string]string{"ContentType": m.ContentType, "CorrelationId": m.CorrelationID, "Subject": m.Subject, "Label": m.Subject} {
		if v != "" {
			md[k] = hostString(v)
		}
	}
	return Payload{Data: map[string]any{fn.Trigger.Name: hostString(string(m.Body))}, Metadata: md}
}

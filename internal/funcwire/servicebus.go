package funcwire

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// ServiceBusMessage is a Service Bus trigger's message and its properties.
type ServiceBusMessage struct {
	Body                  []byte         `json:"Body"`
	MessageID             string         `json:"MessageId"`
	ContentType           string         `json:"ContentType,omitempty"`
	CorrelationID         string         `json:"CorrelationId,omitempty"`
	Subject               string         `json:"Subject,omitempty"`
	SessionID             string         `json:"SessionId,omitempty"`
	To                    string         `json:"To,omitempty"`
	ReplyTo               string         `json:"ReplyTo,omitempty"`
	ReplyToSessionID      string         `json:"ReplyToSessionId,omitempty"`
	PartitionKey          string         `json:"PartitionKey,omitempty"`
	DeadLetterSource      string         `json:"DeadLetterSource,omitempty"`
	DeliveryCount         int            `json:"DeliveryCount"`
	SequenceNumber        int64          `json:"SequenceNumber"`
	EnqueuedTime          time.Time      `json:"EnqueuedTime"`
	ExpiresAt             time.Time      `json:"ExpiresAt"`
	LockToken             string         `json:"LockToken,omitempty"`
	ApplicationProperties map[string]any `json:"ApplicationProperties,omitempty"`
}

// DecodeServiceBus decodes the Service Bus message bound to name (a trigger
// without dataType, so its body arrives as text). The error is an apperr
// Invalid error naming every malformed field.
func DecodeServiceBus(req InvokeRequest, name string) (ServiceBusMessage, error) {
	var m ServiceBusMessage
	data := newFields(req.Data, "Data.")
	if raw, ok := data.lookup(name); ok {
		body, err := decodeHostText(raw)
		if err != nil {
			data.problem(name, err.Error())
		}
		m.Body = body
	} else {
		data.problem(name, "missing; the message body must be bound as "+name)
	}
	md := newFields(req.Metadata, "Metadata.")
	md.problems = data.problems
	var id, contentType, correlation, subject, session, lock hostString
	var to, replyTo, replyToSession, partitionKey, deadLetterSource hostString
	var delivery, seq hostInt
	var enqueued, expires hostTime
	md.require("MessageId", &id)
	md.decode("ContentType", &contentType)
	md.decode("CorrelationId", &correlation)
	if !md.decode("Subject", &subject) {
		md.decode("Label", &subject)
	}
	md.decode("SessionId", &session)
	md.decode("To", &to)
	md.decode("ReplyTo", &replyTo)
	md.decode("ReplyToSessionId", &replyToSession)
	md.decode("PartitionKey", &partitionKey)
	md.decode("DeadLetterSource", &deadLetterSource)
	md.decode("LockToken", &lock)
	md.require("DeliveryCount", &delivery)
	md.decode("SequenceNumber", &seq)
	if !md.decode("EnqueuedTime", &enqueued) {
		md.decode("EnqueuedTimeUtc", &enqueued)
	}
	if !md.decode("ExpiresAt", &expires) {
		md.decode("ExpiresAtUtc", &expires)
	}
	var props hostObject
	if md.decode("ApplicationProperties", &props) || md.decode("UserProperties", &props) {
		if err := props.decodeInto(&m.ApplicationProperties); err != nil {
			md.problem("ApplicationProperties", "is not a JSON object of properties")
		}
	}
	m.MessageID, m.ContentType, m.CorrelationID = string(id), string(contentType), string(correlation)
	m.Subject, m.SessionID, m.LockToken = string(subject), string(session), string(lock)
	m.To, m.ReplyTo, m.ReplyToSessionID = string(to), string(replyTo), string(replyToSession)
	m.PartitionKey, m.DeadLetterSource = string(partitionKey), string(deadLetterSource)
	m.DeliveryCount, m.SequenceNumber = int(delivery), int64(seq)
	m.EnqueuedTime, m.ExpiresAt = time.Time(enqueued), time.Time(expires)
	if m.DeliveryCount < 0 {
		md.problem("DeliveryCount", "is negative")
	}
	return m, md.err("Service Bus invocation")
}

// ServiceBusRequest is the payload the host sends for message m of a
// serviceBusTrigger bound as name in function (without dataType, so the
// body travels as text), received from namespace at now: the body and every
// string encoded twice, numbers as strings, times with and without an
// offset (the *Utc keys), the properties as an object under both of their
// names, and the settlement objects, which a custom handler cannot use.
func ServiceBusRequest(function, name string, m ServiceBusMessage, namespace string, now time.Time) InvokeRequest {
	props := m.ApplicationProperties
	if props == nil {
		props = map[string]any{}
	}
	const utc, offset = "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05.9999999+00:00"
	empty := raw(struct{}{})
	md := map[string]json.RawMessage{
		"MessageId":             encodeHostString(m.MessageID),
		"DeliveryCount":         raw(strconv.Itoa(m.DeliveryCount)),
		"SequenceNumber":        raw(strconv.FormatInt(m.SequenceNumber, 10)),
		"EnqueuedTimeUtc":       raw(m.EnqueuedTime.UTC().Format(utc)),
		"EnqueuedTime":          raw(m.EnqueuedTime.UTC().Format(offset)),
		"ExpiresAtUtc":          raw(m.ExpiresAt.UTC().Format(utc)),
		"ExpiresAt":             raw(m.ExpiresAt.UTC().Format(offset)),
		"LockToken":             encodeHostString(m.LockToken),
		"ApplicationProperties": raw(props),
		"UserProperties":        raw(props),
		"MessageReceiver":       empty,
		"MessageSession":        empty,
		"MessageActions":        empty,
		"SessionActions":        empty,
		"ReceiveActions":        empty,
		"Client": raw(map[string]any{"FullyQualifiedNamespace": namespace, "IsClosed": false, "TransportType": 0,
			"Identifier": namespace + "-" + uuid.NewString()}),
		"sys": sys(function, now),
	}
	for k, v := range map[string]string{
		"ContentType": m.ContentType, "CorrelationId": m.CorrelationID, "Subject": m.Subject, "Label": m.Subject,
		"To": m.To, "ReplyTo": m.ReplyTo, "SessionId": m.SessionID, "ReplyToSessionId": m.ReplyToSessionID,
		"PartitionKey": m.PartitionKey, "DeadLetterSource": m.DeadLetterSource,
	} {
		if v != "" {
			md[k] = encodeHostString(v)
		}
	}
	return InvokeRequest{Data: map[string]json.RawMessage{name: encodeHostString(string(m.Body))}, Metadata: md}
}

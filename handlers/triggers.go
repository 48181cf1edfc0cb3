package handlers

import (
	"net/textproto"
	"strings"
	"time"
)

// TimerInfo is a timer trigger's value.
type TimerInfo struct {
	IsPastDue bool `json:"IsPastDue"`
	// ScheduleStatus is nil when the host does not monitor the schedule.
	ScheduleStatus *ScheduleStatus `json:"ScheduleStatus"`
}

// ScheduleStatus is the host's record of a timer's occurrences.
type ScheduleStatus struct {
	Last        time.Time `json:"Last"`
	Next        time.Time `json:"Next"`
	LastUpdated time.Time `json:"LastUpdated"`
}

// DecodeTimer decodes the timer trigger bound to name. The error is an
// apperr Invalid error naming every malformed field.
func DecodeTimer(req InvokeRequest, name string) (TimerInfo, error) {
	var t TimerInfo
	data := newFields(req.Data, "Data.")
	if timer, ok := data.object(name); ok {
		var pastDue hostBool
		timer.decode("IsPastDue", &pastDue)
		t.IsPastDue = bool(pastDue)
		if st, ok := timer.object("ScheduleStatus"); ok {
			var last, next, updated hostTime
			st.decode("Last", &last)
			st.decode("Next", &next)
			st.decode("LastUpdated", &updated)
			t.ScheduleStatus = &ScheduleStatus{Last: time.Time(last), Next: time.Time(next), LastUpdated: time.Time(updated)}
		}
	} else if _, present := data.lookup(name); !present {
		data.problem(name, "missing; the timer binding in function.json must be named "+name)
	}
	return t, data.err("timer invocation")
}

// ServiceBusMessage is a Service Bus trigger's message and its properties.
type ServiceBusMessage struct {
	Body                  []byte         `json:"Body"`
	MessageID             string         `json:"MessageId"`
	ContentType           string         `json:"ContentType,omitempty"`
	CorrelationID         string         `json:"CorrelationId,omitempty"`
	Subject               string         `json:"Subject,omitempty"`
	SessionID             string         `json:"SessionId,omitempty"`
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
	var delivery, seq hostInt
	var enqueued, expires hostTime
	md.require("MessageId", &id)
	md.decode("ContentType", &contentType)
	md.decode("CorrelationId", &correlation)
	if !md.decode("Subject", &subject) {
		md.decode("Label", &subject)
	}
	md.decode("SessionId", &session)
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
	m.DeliveryCount, m.SequenceNumber = int(delivery), int64(seq)
	m.EnqueuedTime, m.ExpiresAt = time.Time(enqueued), time.Time(expires)
	if m.DeliveryCount < 0 {
		md.problem("DeliveryCount", "is negative")
	}
	return m, md.err("Service Bus invocation")
}

// QueueMessage is a Storage queue trigger's message and its properties.
type QueueMessage struct {
	Body            []byte    `json:"Body"`
	ID              string    `json:"Id"`
	DequeueCount    int       `json:"DequeueCount"`
	InsertionTime   time.Time `json:"InsertionTime"`
	ExpirationTime  time.Time `json:"ExpirationTime"`
	NextVisibleTime time.Time `json:"NextVisibleTime"`
	PopReceipt      string    `json:"PopReceipt,omitempty"`
}

// DecodeQueue decodes the Storage queue message bound to name.
func DecodeQueue(req InvokeRequest, name string) (QueueMessage, error) {
	var m QueueMessage
	data := newFields(req.Data, "Data.")
	if raw, ok := data.lookup(name); ok {
		body, err := decodeHostText(raw)
		if err != nil {
			data.problem(name, err.Error())
		}
		m.Body = body
	} else {
		data.problem(name, "missing; the message must be bound as "+name)
	}
	md := newFields(req.Metadata, "Metadata.")
	md.problems = data.problems
	var id, pop hostString
	var dequeues hostInt
	var inserted, expires, visible hostTime
	md.require("Id", &id)
	md.require("DequeueCount", &dequeues)
	md.decode("PopReceipt", &pop)
	md.decode("InsertionTime", &inserted)
	md.decode("ExpirationTime", &expires)
	md.decode("NextVisibleTime", &visible)
	m.ID, m.PopReceipt, m.DequeueCount = string(id), string(pop), int(dequeues)
	m.InsertionTime, m.ExpirationTime, m.NextVisibleTime = time.Time(inserted), time.Time(expires), time.Time(visible)
	return m, md.err("queue invocation")
}

// HTTPRequestData is an HTTP trigger's request as the host sends it when the
// request is not forwarded (a function with bindings besides http in/out).
type HTTPRequestData struct {
	URL     string              `json:"Url"`
	Method  string              `json:"Method"`
	Query   map[string]string   `json:"Query"`
	Headers map[string][]string `json:"Headers"`
	Params  map[string]string   `json:"Params"`
	Body    []byte              `json:"Body"`
}

// DecodeHTTPRequest decodes the HTTP request bound to name. The body is text,
// except for octet-stream and multipart requests, whose body the host sends
// as base64.
func DecodeHTTPRequest(req InvokeRequest, name string) (HTTPRequestData, error) {
	var h HTTPRequestData
	data := newFields(req.Data, "Data.")
	r, ok := data.object(name)
	if !ok {
		if _, present := data.lookup(name); !present {
			data.problem(name, "missing; the request must be bound as "+name)
		}
		return h, data.err("HTTP invocation")
	}
	var url, method hostString
	r.require("Url", &url)
	r.require("Method", &method)
	h.URL, h.Method = string(url), strings.ToUpper(string(method))
	for _, o := range []struct {
		key string
		dst any
	}{{"Query", &h.Query}, {"Headers", &h.Headers}, {"Params", &h.Params}} {
		var obj hostObject
		if r.decode(o.key, &obj) {
			if err := obj.decodeInto(o.dst); err != nil {
				r.problem(o.key, "has the wrong shape: "+describeJSONError(err))
			}
		}
	}
	if len(h.Headers) > 0 {
		canonical := make(map[string][]string, len(h.Headers))
		for k, v := range h.Headers {
			canonical[textproto.CanonicalMIMEHeaderKey(k)] = v
		}
		h.Headers = canonical
	}
	if raw, ok := r.lookup("Body"); ok {
		ct := strings.ToLower(strings.Join(h.Headers["Content-Type"], ","))
		var err error
		if strings.Contains(ct, "application/octet-stream") || strings.HasPrefix(ct, "multipart/") {
			h.Body, err = decodeHostBinary(raw)
		} else {
			h.Body, err = decodeHostText(raw)
		}
		if err != nil {
			r.problem("Body", err.Error())
		}
	}
	return h, r.err("HTTP invocation")
}

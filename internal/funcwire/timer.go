package funcwire

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
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

// TimerRequest is the payload the host sends for an occurrence of a timer
// trigger bound as name in function, at now: the schedule, whether the
// occurrence is past due, and the schedule monitor's status (null when the
// host does not monitor the schedule).
func TimerRequest(function, name string, t TimerInfo, now time.Time) InvokeRequest {
	type schedule struct {
		AdjustForDST bool `json:"AdjustForDST"`
	}
	value := struct {
		Schedule       schedule        `json:"Schedule"`
		IsPastDue      bool            `json:"IsPastDue"`
		ScheduleStatus *ScheduleStatus `json:"ScheduleStatus"`
	}{schedule{AdjustForDST: true}, t.IsPastDue, t.ScheduleStatus}
	return InvokeRequest{
		Data:     map[string]json.RawMessage{name: raw(value)},
		Metadata: map[string]json.RawMessage{"sys": sys(function, now)},
	}
}

// sys is the Metadata "sys" object the host adds to every invocation.
func sys(function string, now time.Time) json.RawMessage {
	return raw(map[string]string{"MethodName": function, "UtcNow": now.UTC().Format(time.RFC3339Nano), "RandGuid": uuid.NewString()})
}

package funcwire

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden.json files")

// decoders maps a testdata file's prefix to the decoder of that trigger and
// the binding name its payload uses. The payloads are in the shapes the
// Functions host sends (docs/reference/functions-custom-handlers.md).
var decoders = map[string]func(InvokeRequest) (any, []byte, error){
	"timer": func(r InvokeRequest) (any, []byte, error) { v, err := DecodeTimer(r, "timer"); return v, nil, err },
	"servicebus": func(r InvokeRequest) (any, []byte, error) {
		v, err := DecodeServiceBus(r, "job")
		return v, v.Body, err
	},
}

// TestDecodeGolden decodes every payload shape the reference documents and
// compares the result with its golden file (go test -run Golden -update
// rewrites them; review the diff).
func TestDecodeGolden(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/*.json")
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			kind, _, _ := strings.Cut(name, "-")
			decode := decoders[kind]
			if decode == nil {
				t.Fatalf("no decoder for %s", in)
			}
			req := readRequest(t, in)
			v, body, err := decode(req)
			if err != nil {
				t.Fatalf("decode %s: %v", in, err)
			}
			got, _ := json.MarshalIndent(map[string]any{"decoded": v, "bodyText": string(body)}, "", "  ")
			golden := strings.TrimSuffix(in, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("decode %s =\n%s\nwant (%s)\n%s", in, got, golden, want)
			}
		})
	}
	if n < 5 {
		t.Fatalf("found %d payload files in testdata, want at least 5", n)
	}
}

func readRequest(t testing.TB, path string) InvokeRequest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r InvokeRequest
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestDecodeServiceBusProblems checks that a bad message is reported in full,
// each problem naming its field.
func TestDecodeServiceBusProblems(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    []string // fields with a problem
	}{
		{"missing everything", `{"Data":{},"Metadata":{}}`, []string{"Data.job", "Metadata.MessageId", "Metadata.DeliveryCount"}},
		{"wrong types", `{"Data":{"job":"{}"},"Metadata":{"MessageId":{"a":1},"DeliveryCount":"two","EnqueuedTime":"yesterday","SequenceNumber":"1.5"}}`,
			[]string{"Metadata.MessageId", "Metadata.DeliveryCount", "Metadata.SequenceNumber", "Metadata.EnqueuedTime"}},
		{"malformed body", `{"Data":{"job":{"a":}},"Metadata":{"MessageId":"m","DeliveryCount":"1"}}`, nil},
		{"properties not an object", `{"Data":{"job":"{}"},"Metadata":{"MessageId":"m","DeliveryCount":"1","ApplicationProperties":"[1,2]"}}`,
			[]string{"Metadata.ApplicationProperties"}},
		{"negative delivery count", `{"Data":{"job":"{}"},"Metadata":{"MessageId":"m","DeliveryCount":"-1"}}`, []string{"Metadata.DeliveryCount"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var req InvokeRequest
			if err := json.Unmarshal([]byte(tc.payload), &req); err != nil {
				if tc.want != nil {
					t.Fatalf("test payload does not parse: %v", err)
				}
				return // malformed JSON is rejected before decoding; see TestInvokeBadPayloads
			}
			_, err := DecodeServiceBus(req, "job")
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Invalid {
				t.Fatalf("DecodeServiceBus(%s) error = %v, want an invalid error", tc.payload, err)
			}
			var got []string
			for _, p := range e.Problems {
				got = append(got, p.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("DecodeServiceBus(%s) problems = %v, want fields %v", tc.payload, e.Problems, tc.want)
			}
		})
	}
}

func TestDecodeTimerProblems(t *testing.T) {
	tests := []struct{ payload, want string }{
		{`{"Data":{}}`, "Data.timer: missing"},
		{`{"Data":{"timer":[1]}}`, "Data.timer: got array, want a JSON object"},
		{`{"Data":{"timer":{"IsPastDue":"maybe"}}}`, `Data.timer.IsPastDue: "maybe" is not a boolean`},
		{`{"Data":{"timer":{"ScheduleStatus":{"Next":"soon"}}}}`, `Data.timer.ScheduleStatus.Next: "soon" is not an ISO 8601 time`},
	}
	for _, tc := range tests {
		var req InvokeRequest
		if err := json.Unmarshal([]byte(tc.payload), &req); err != nil {
			t.Fatal(err)
		}
		_, err := DecodeTimer(req, "timer")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeTimer(%s) error = %v, want it to contain %q", tc.payload, err, tc.want)
		}
	}
}

// FuzzDecode feeds arbitrary payloads to every decoder: they may reject the
// input, but never panic. The seed corpus is testdata/*.json.
func FuzzDecode(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/*.json")
	for _, in := range inputs {
		if b, err := os.ReadFile(in); err == nil && !strings.HasSuffix(in, ".golden.json") {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req InvokeRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		_, _ = DecodeTimer(req, "timer")
		_, _ = DecodeServiceBus(req, "job")
	})
}

// TestServiceBusRoundTrip: what funchost sends for a message is what the
// handler reads back, every property included.
func TestServiceBusRoundTrip(t *testing.T) {
	enqueued := time.Date(2026, 11, 28, 20, 13, 49, 123456700, time.UTC)
	tests := []ServiceBusMessage{
		{Body: []byte(`{"v":1,"tenantId":"t1","userId":"u1"}`), MessageID: "sync:t1:u1", DeliveryCount: 1, SequenceNumber: 17,
			EnqueuedTime: enqueued, ExpiresAt: enqueued.Add(14 * 24 * time.Hour), LockToken: "4e773554-f6b7-4ea2-b07d-4c5fd5aba741",
			ApplicationProperties: map[string]any{}}, // the host always sends the object, empty or not
		{Body: []byte(`"quoted" text with \ and ünïcode`), MessageID: "m-2", ContentType: "text/plain", CorrelationID: "c",
			Subject: "s", To: "to", ReplyTo: "r", SessionID: "sess", ReplyToSessionID: "rs", PartitionKey: "pk", DeadLetterSource: "uploads",
			DeliveryCount: 9, SequenceNumber: 1 << 40, EnqueuedTime: enqueued, ExpiresAt: enqueued, LockToken: "l",
			ApplicationProperties: map[string]any{"schema": "upload/v1", "n": 3.0}},
	}
	for _, m := range tests {
		req := ServiceBusRequest("UploadWorker", "upload", m, "sb.example", enqueued)
		wire, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var back InvokeRequest
		if err := json.Unmarshal(wire, &back); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeServiceBus(back, "upload")
		if err != nil {
			t.Fatalf("DecodeServiceBus(ServiceBusRequest(%s)): %v", m.MessageID, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("message %s after the wire =\n%+v\nwant\n%+v", m.MessageID, got, m)
		}
	}
}

// TestTimerRoundTrip: funchost's timer payload, with and without the
// schedule monitor, reads back as it was sent.
func TestTimerRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 5, 0, 0, time.UTC)
	for _, info := range []TimerInfo{
		{IsPastDue: true},
		{ScheduleStatus: &ScheduleStatus{Last: now.Add(-5 * time.Minute), Next: now.Add(5 * time.Minute), LastUpdated: now}},
	} {
		wire, _ := json.Marshal(TimerRequest("SyncScheduler", "timer", info, now))
		var back InvokeRequest
		if err := json.Unmarshal(wire, &back); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTimer(back, "timer")
		if err != nil || !reflect.DeepEqual(got, info) {
			t.Errorf("DecodeTimer(TimerRequest(%+v)) = %+v, %v; want it unchanged", info, got, err)
		}
	}
}

package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// ServiceBusEnv is the Service Bus fake that `make test` starts
// (localworld/servicebus-fake).
type ServiceBusEnv struct {
	// ConnectionString reaches the fake with the real azservicebus client
	// (CONNECTOR_TEST_SERVICEBUS).
	ConnectionString string
	// AdminURL is the fake's test admin API (CONNECTOR_TEST_SERVICEBUS_ADMIN).
	AdminURL string
}

// ServiceBus returns the Service Bus fake for tests.
func ServiceBus(tb testing.TB) ServiceBusEnv {
	tb.Helper()
	cs := need(tb, "CONNECTOR_TEST_SERVICEBUS", "the Service Bus fake")
	admin := need(tb, "CONNECTOR_TEST_SERVICEBUS_ADMIN", "the Service Bus fake's admin API")
	return ServiceBusEnv{ConnectionString: cs, AdminURL: strings.TrimRight(admin, "/")}
}

// QueueProperties are a queue's properties, named as in the emulator's
// Config.json; nil fields take Service Bus' defaults.
type QueueProperties struct {
	LockDuration                        string `json:"LockDuration,omitempty"`
	MaxDeliveryCount                    int    `json:"MaxDeliveryCount,omitempty"`
	RequiresDuplicateDetection          bool   `json:"RequiresDuplicateDetection,omitempty"`
	DuplicateDetectionHistoryTimeWindow string `json:"DuplicateDetectionHistoryTimeWindow,omitempty"`
	DefaultMessageTimeToLive            string `json:"DefaultMessageTimeToLive,omitempty"`
	DeadLetteringOnMessageExpiration    bool   `json:"DeadLetteringOnMessageExpiration,omitempty"`
}

// NewQueue creates a queue with a unique name for this test and deletes it
// when the test ends, so tests never see each other's messages.
func (e ServiceBusEnv) NewQueue(tb testing.TB, props QueueProperties) string {
	tb.Helper()
	name := "test-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-", " ", "-", "=", "-").Replace(tb.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.TrimRight(name, "-") + "-" + uuid.NewString()[:8]
	body, _ := json.Marshal(map[string]any{"Properties": props})
	if status, msg := e.admin(http.MethodPut, name, body, nil); status != http.StatusCreated {
		tb.Fatalf("create queue %s: %d %s", name, status, msg)
	}
	tb.Cleanup(func() { e.admin(http.MethodDelete, name, nil, nil) })
	return name
}

// QueueCounts are the numbers of messages of a queue in each state.
type QueueCounts struct {
	Active     int `json:"active"`
	Locked     int `json:"locked"`
	Scheduled  int `json:"scheduled"`
	DeadLetter int `json:"deadLetter"`
}

// Counts reads the message counts of queue.
func (e ServiceBusEnv) Counts(tb testing.TB, queue string) QueueCounts {
	tb.Helper()
	var c QueueCounts
	if status, msg := e.admin(http.MethodGet, queue, nil, &c); status != http.StatusOK {
		tb.Fatalf("counts of queue %s: %d %s", queue, status, msg)
	}
	return c
}

// WaitCounts polls the counts of queue until ok accepts them, failing the
// test after timeout. It returns the counts that satisfied ok.
func (e ServiceBusEnv) WaitCounts(tb testing.TB, queue string, timeout time.Duration, ok func(QueueCounts) bool) QueueCounts {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := e.Counts(tb, queue)
		if ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatalf("queue %s never reached the expected state within %s; last counts %+v", queue, timeout, c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e ServiceBusEnv) admin(method, queue string, body []byte, out any) (int, string) {
	req, err := http.NewRequest(method, e.AdminURL+"/queues/"+url.PathEscape(queue), bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			return 0, fmt.Sprintf("decode %s: %v", buf.String(), err)
		}
	}
	return resp.StatusCode, buf.String()
}

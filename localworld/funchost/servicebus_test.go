package funchost

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/localworld/testenv"
)

// Dispatch tests: funchost receives from the Service Bus fake with the real
// client and invokes the test handler's Work function.

type sbWorld struct {
	env    testenv.ServiceBusEnv
	queue  string
	client *azservicebus.Client
	out    *testenv.Buffer
}

// startSBWorld creates a queue with props, runs a host with the Work
// function on it (host.json's extensions.serviceBus = sb) and returns a
// client for sending.
func startSBWorld(t *testing.T, props testenv.QueueProperties, sb map[string]any) *sbWorld {
	t.Helper()
	env := testenv.ServiceBus(t)
	q := env.NewQueue(t, props)
	var ext map[string]any
	if sb != nil {
		ext = map[string]any{"serviceBus": sb}
	}
	root := testApp{extensions: ext, values: map[string]string{"SB": env.ConnectionString, "Q": q}, functions: map[string]string{"Work": workFn}}.write(t)
	_, out, _ := startHost(t, root)
	c, err := azservicebus.NewClientFromConnectionString(env.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return &sbWorld{env: env, queue: q, client: c, out: out}
}

// send sends a message with body and id (a new id if "") and returns the id.
func (w *sbWorld) send(t *testing.T, body, id string) string {
	t.Helper()
	if id == "" {
		id = uuid.NewString()
	}
	s, err := w.client.NewSender(w.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ct := "application/json"
	if err := s.SendMessage(context.Background(), &azservicebus.Message{Body: []byte(body), MessageID: &id, ContentType: &ct}, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	return id
}

var workLine = regexp.MustCompile(`\[handler\] work id=(\S+) deliveryCount=(\d+) seq=(\d+) concurrent=(\d+) at=(\S+) enqueued=(\S+) contentType=(\S*) rawBody=(.*) rawId=(\S+) rawCount=(\S+)`)

type workCall struct {
	id                    string
	deliveryCount, seq, n int
	at, enqueued          time.Time
	contentType           string
	rawBody, rawID        string
	rawCount              string
}

// calls returns the Work invocations seen so far for id ("" for all).
func (w *sbWorld) calls(id string) []workCall {
	var out []workCall
	for _, m := range workLine.FindAllStringSubmatch(w.out.String(), -1) {
		if id != "" && m[1] != id {
			continue
		}
		dc, _ := strconv.Atoi(m[2])
		seq, _ := strconv.Atoi(m[3])
		n, _ := strconv.Atoi(m[4])
		at, _ := time.Parse(time.RFC3339Nano, m[5])
		enq, _ := time.Parse(time.RFC3339Nano, m[6])
		out = append(out, workCall{id: m[1], deliveryCount: dc, seq: seq, n: n, at: at, enqueued: enq, contentType: m[7], rawBody: m[8], rawID: m[9], rawCount: m[10]})
	}
	return out
}

func TestServiceBusSuccessCompletes(t *testing.T) {
	w := startSBWorld(t, testenv.QueueProperties{}, nil)
	id := w.send(t, `{"report":7}`, "")
	w.out.WaitFor(t, outputTimeout, 1, "[handler] work id="+id, "Executed 'Functions.Work' (Succeeded")
	w.env.WaitCounts(t, w.queue, 10*time.Second, func(c testenv.QueueCounts) bool { return c == testenv.QueueCounts{} })
	calls := w.calls(id)
	if len(calls) != 1 {
		t.Fatalf("Work ran %d times for one message, want 1", len(calls))
	}
	c := calls[0]
	// The payload is the host's: body and strings JSON-encoded twice, numbers as strings.
	twice := func(s string) string {
		once, _ := json.Marshal(s)
		b, _ := json.Marshal(string(once))
		return string(b)
	}
	wantBody, wantID := twice(`{"report":7}`), twice(id)
	if c.rawBody != wantBody || c.rawID != wantID || c.rawCount != `"1"` {
		t.Errorf("payload Data.msg=%s MessageId=%s DeliveryCount=%s; want %s, %s, \"1\"", c.rawBody, c.rawID, c.rawCount, wantBody, wantID)
	}
	if c.deliveryCount != 1 || c.seq < 1 || c.contentType != "application/json" || c.enqueued.IsZero() {
		t.Errorf("decoded message %+v", c)
	}
}

func TestServiceBusFailureRedeliversThenDeadLetters(t *testing.T) {
	w := startSBWorld(t, testenv.QueueProperties{MaxDeliveryCount: 3}, nil)
	id := w.send(t, `{"fail":true}`, "")
	w.out.WaitFor(t, outputTimeout, 3, "[handler] work id="+id)
	c := w.env.WaitCounts(t, w.queue, 10*time.Second, func(c testenv.QueueCounts) bool { return c.DeadLetter == 1 })
	if c.Active+c.Locked+c.Scheduled != 0 {
		t.Errorf("after 3 failures: %+v, want the message only in the dead-letter queue", c)
	}
	calls := w.calls(id)
	if len(calls) != 3 {
		t.Fatalf("Work ran %d times, want 3 (maxDeliveryCount)", len(calls))
	}
	for i, call := range calls {
		if call.deliveryCount != i+1 {
			t.Errorf("attempt %d had DeliveryCount %d, want %d", i+1, call.deliveryCount, i+1)
		}
	}
	r, err := w.client.NewReceiverForQueue(w.queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	peeked, err := r.PeekMessages(context.Background(), 1, nil)
	if err != nil || len(peeked) != 1 {
		t.Fatalf("peek DLQ = %d, %v", len(peeked), err)
	}
	if m := peeked[0]; m.MessageID != id || m.DeadLetterReason == nil || *m.DeadLetterReason != "MaxDeliveryCountExceeded" {
		t.Errorf("dead-lettered %s with reason %v, want %s with MaxDeliveryCountExceeded", m.MessageID, m.DeadLetterReason, id)
	}
}

func TestServiceBusDuplicateDropped(t *testing.T) {
	w := startSBWorld(t, testenv.QueueProperties{RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: "PT1M"}, map[string]any{"maxConcurrentCalls": 1})
	id := w.send(t, `{}`, "")
	w.send(t, `{}`, id)
	marker := w.send(t, `{}`, "")                                   // sent after the duplicate: once it ran, the duplicate would have too
	w.out.WaitFor(t, outputTimeout, 1, "[handler] work id="+marker) // the handler's output arrives in order
	if got := len(w.calls(id)); got != 1 {
		t.Errorf("a message sent twice with MessageId %s ran %d times, want 1", id, got)
	}
}

func TestServiceBusScheduledNotEarly(t *testing.T) {
	w := startSBWorld(t, testenv.QueueProperties{}, nil)
	s, err := w.client.NewSender(w.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	id := uuid.NewString()
	at := time.Now().Add(1500 * time.Millisecond)
	if _, err := s.ScheduleMessages(context.Background(), []*azservicebus.Message{{Body: []byte(`{}`), MessageID: &id}}, at, nil); err != nil {
		t.Fatal(err)
	}
	w.out.WaitFor(t, outputTimeout, 1, "[handler] work id="+id)
	c := w.calls(id)[0]
	if c.at.Before(at) || c.enqueued.Before(at.Truncate(time.Millisecond)) {
		t.Errorf("scheduled for %s, invoked at %s with EnqueuedTime %s", at.UTC().Format(time.RFC3339Nano), c.at.Format(time.RFC3339Nano), c.enqueued.Format(time.RFC3339Nano))
	}
}

func TestServiceBusMaxConcurrentCalls(t *testing.T) {
	w := startSBWorld(t, testenv.QueueProperties{}, map[string]any{"maxConcurrentCalls": 2})
	for i := 0; i < 6; i++ {
		w.send(t, `{"work":"300ms"}`, fmt.Sprintf("m%d-%s", i, uuid.NewString()[:8]))
	}
	w.out.WaitFor(t, outputTimeout, 6, "[handler] work id=")
	most := 0
	for _, c := range w.calls("") {
		most = max(most, c.n)
	}
	if most != 2 {
		t.Errorf("at most %d invocations ran at once, want exactly maxConcurrentCalls = 2", most)
	}
}

func TestServiceBusLockRenewedWhileRunning(t *testing.T) {
	w := startSBWorld(t, testenv.QueueProperties{LockDuration: "PT1S"}, map[string]any{"maxAutoLockRenewalDuration": "00:01:00"})
	id := w.send(t, `{"work":"2500ms"}`, "")
	w.out.WaitFor(t, outputTimeout, 1, "[handler] work id="+id, "Executed 'Functions.Work' (Succeeded")
	w.env.WaitCounts(t, w.queue, 10*time.Second, func(c testenv.QueueCounts) bool { return c == testenv.QueueCounts{} })
	if calls := w.calls(id); len(calls) != 1 {
		t.Errorf("a message whose function ran 2.5 s on a 1 s lock ran %d times, want once (the lock renewed)", len(calls))
	}
	if strings.Contains(w.out.String(), "failed") {
		t.Errorf("host reported a failure:\n%s", w.out)
	}
}

// TestServiceBusShutdownSettlesInFlight: a message whose function is running
// when the host stops is still completed: the handler drains, and the
// message is settled rather than left locked.
func TestServiceBusShutdownSettlesInFlight(t *testing.T) {
	env := testenv.ServiceBus(t)
	q := env.NewQueue(t, testenv.QueueProperties{})
	root := testApp{values: map[string]string{"SB": env.ConnectionString, "Q": q}, functions: map[string]string{"Work": workFn}}.write(t)
	out := &testenv.Buffer{}
	h, err := New(Options{Root: root, Addr: "127.0.0.1:0", StateDir: t.TempDir(), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	w := &sbWorld{env: env, queue: q, out: out}
	w.client, err = azservicebus.NewClientFromConnectionString(env.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.client.Close(context.Background())
	w.send(t, `{"work":"1s"}`, "")
	out.WaitFor(t, outputTimeout, 1, "Executing 'Functions.Work'")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the host did not stop")
	}
	if !strings.Contains(out.String(), "Executed 'Functions.Work' (Succeeded") {
		t.Errorf("the in-flight invocation did not finish:\n%s", out)
	}
	if c := env.Counts(t, q); c != (testenv.QueueCounts{}) {
		t.Errorf("after shutdown: %+v, want the message completed", c)
	}
}

// TestRealHandlerReceivesQueues: the repository's app under funchost gets a
// message sent with the connector's own sender on its uploads queue, and the
// real handler is invoked with it as UploadWorker.
func TestRealHandlerReceivesQueues(t *testing.T) {
	env := testenv.ServiceBus(t)
	syncQ, uploadQ := env.NewQueue(t, testenv.QueueProperties{}), env.NewQueue(t, testenv.QueueProperties{})
	// The handler's UploadWorker reads the uploads table: give it the test
	// Azurite (the message names no upload, so it is completed).
	_, out, _ := startHost(t, "../..", "AzureFunctionsJobHost__customHandler__description__defaultExecutablePath="+realHandlerBin, "FUNCTIONS_WORKER_RUNTIME=custom",
		"ServiceBusConnection="+env.ConnectionString, "SYNC_QUEUE="+syncQ, "UPLOAD_QUEUE="+uploadQ, "LOG_LEVEL=debug",
		"AzureWebJobsStorage="+testenv.Storage(t), "STORAGE_TABLE_PREFIX="+testenv.TablePrefix(t))
	c, err := azservicebus.NewClientFromConnectionString(env.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	s, err := queue.NewSender[queue.Upload](c, uploadQ)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	u := queue.NewUpload(uuid.NewString(), uuid.NewString(), "u-"+uuid.NewString()[:8])
	if err := s.Send(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	out.WaitFor(t, outputTimeout, 1, "Trigger Details: MessageId: "+u.MessageID()+", SequenceNumber: 1, DeliveryCount: 1",
		"Executing 'Functions.UploadWorker' (Reason='New ServiceBus message detected on '"+uploadQ+"'.'",
		`"function":"UploadWorker"`)
	// The handler answered the invocation (whatever UploadWorker does today), so
	// funchost settled the message: it is not left locked.
	out.WaitFor(t, outputTimeout, 1, "Executed 'Functions.UploadWorker'")
	env.WaitCounts(t, uploadQ, 10*time.Second, func(c testenv.QueueCounts) bool { return c.Locked == 0 })
}

// TestServiceBusTimeoutAbandons: an invocation that outlives functionTimeout
// fails, and its message is abandoned and redelivered.
func TestServiceBusTimeoutAbandons(t *testing.T) {
	env := testenv.ServiceBus(t)
	q := env.NewQueue(t, testenv.QueueProperties{MaxDeliveryCount: 2})
	root := testApp{timeout: "00:00:00.5", values: map[string]string{"SB": env.ConnectionString, "Q": q}, functions: map[string]string{"Work": workFn}}.write(t)
	_, out, _ := startHost(t, root)
	w := &sbWorld{env: env, queue: q, out: out}
	var err error
	if w.client, err = azservicebus.NewClientFromConnectionString(env.ConnectionString, nil); err != nil {
		t.Fatal(err)
	}
	defer w.client.Close(context.Background())
	id := w.send(t, `{"work":"2s"}`, "")
	out.WaitFor(t, outputTimeout, 2, "Executed 'Functions.Work' (Failed", "DeliveryCount: 2")
	env.WaitCounts(t, q, 10*time.Second, func(c testenv.QueueCounts) bool { return c.DeadLetter == 1 })
	if strings.Count(out.String(), "Trigger Details: MessageId: "+id) != 2 {
		t.Errorf("want two deliveries of %s, each timing out:\n%s", id, out)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/pitcher/connector/localworld/testenv"
)

// ctl runs connectorctl with ServiceBusConnection set to cs and returns its
// output, error and exit code.
func ctl(t *testing.T, cs string, args ...string) (string, error, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "ServiceBusConnection" {
			return cs
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, args, getenv, &out, &errOut)
	code := 0
	if err != nil {
		code = exitCode(err)
	}
	return out.String(), err, code
}

// deadLettered creates a queue holding n dead-lettered messages and returns
// the queue and the messages' ids in order.
func deadLettered(t *testing.T, n int) (testenv.ServiceBusEnv, string, []string) {
	t.Helper()
	env := testenv.ServiceBus(t)
	q := env.NewQueue(t, testenv.QueueProperties{RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: "PT10M"})
	var ids []string
	var msgs []*azservicebus.Message
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("upload-%d-%s", i, uuid.NewString()[:8])
		ct := "application/json"
		body := fmt.Sprintf(`{"v":1,"uploadId":%q}`, id)
		msgs = append(msgs, &azservicebus.Message{Body: []byte(body), MessageID: &id, ContentType: &ct, ApplicationProperties: map[string]any{"tenant": "t1"}})
		ids = append(ids, id)
	}
	deadLetter(t, env, q, msgs, func(m *azservicebus.ReceivedMessage) (string, string) {
		return "DataverseRejected", "0x80040237: A record with matching key values already exists. " + m.MessageID
	})
	return env, q, ids
}

// deadLetter sends msgs to q, then receives and dead-letters each with the
// reason and description why gives, and waits until q's dead-letter queue
// holds them all.
func deadLetter(t *testing.T, env testenv.ServiceBusEnv, q string, msgs []*azservicebus.Message, why func(*azservicebus.ReceivedMessage) (string, string)) {
	t.Helper()
	ctx := context.Background()
	c, err := azservicebus.NewClientFromConnectionString(env.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	s, err := c.NewSender(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for _, m := range msgs {
		if err := s.SendMessage(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.NewReceiverForQueue(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	for dead := 0; dead < len(msgs); {
		got, err := r.ReceiveMessages(ctx, len(msgs)-dead, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			reason, desc := why(m)
			if err := r.DeadLetterMessage(ctx, m, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc}); err != nil {
				t.Fatal(err)
			}
			dead++
		}
	}
	env.WaitCounts(t, q, 5*time.Second, func(c testenv.QueueCounts) bool { return c.DeadLetter == len(msgs) })
}

func TestDLQListAndShow(t *testing.T) {
	env, q, ids := deadLettered(t, 3)
	out, err, _ := ctl(t, env.ConnectionString, "dlq", "list", "--queue", q)
	if err != nil {
		t.Fatalf("dlq list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SEQ") {
		t.Fatalf("dlq list printed:\n%s\nwant a header and 3 rows", out)
	}
	for i, id := range ids {
		if !strings.Contains(lines[i+1], id) || !strings.Contains(lines[i+1], "DataverseRejected") {
			t.Errorf("row %d = %q, want message %s with its reason", i+1, lines[i+1], id)
		}
	}

	out, err, _ = ctl(t, env.ConnectionString, "dlq", "list", "--queue", q, "--json", "--max", "2")
	var list []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0]["messageId"] != ids[0] || list[0]["reason"] != "DataverseRejected" {
		t.Fatalf("dlq list --json --max 2 = %s, %v", out, err)
	}
	seq := fmt.Sprint(list[1]["sequenceNumber"])

	out, err, _ = ctl(t, env.ConnectionString, "dlq", "show", "--queue", q, "--seq", seq)
	if err != nil || !strings.Contains(out, ids[1]) || !strings.Contains(out, `"uploadId": "`+ids[1]+`"`) || !strings.Contains(out, "Property tenant:") || !strings.Contains(out, "0x80040237") {
		t.Errorf("dlq show --seq %s = %v\n%s", seq, err, out)
	}
	out, err, _ = ctl(t, env.ConnectionString, "dlq", "show", "--queue", q, "--seq", seq, "--json")
	var shown map[string]any
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown["body"].(map[string]any)["uploadId"] != ids[1] {
		t.Errorf("dlq show --json = %v\n%s", err, out)
	}
	if _, err, code := ctl(t, env.ConnectionString, "dlq", "show", "--queue", q, "--seq", "999999"); code != 1 || !strings.Contains(err.Error(), "no message with sequence number 999999") {
		t.Errorf("dlq show of a missing seq = %v (exit %d), want a clear error and exit 1", err, code)
	}
}

func TestDLQResubmitAndPurge(t *testing.T) {
	env, q, ids := deadLettered(t, 3)
	out, _, _ := ctl(t, env.ConnectionString, "dlq", "list", "--queue", q, "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 {
		t.Fatalf("dlq list --json = %s", out)
	}
	first := fmt.Sprint(list[0]["sequenceNumber"])

	out, err, _ := ctl(t, env.ConnectionString, "dlq", "resubmit", "--queue", q, "--seq", first)
	if err != nil || !strings.Contains(out, "resubmitted 1 message(s)") || !strings.Contains(out, ids[0]+":r"+first) {
		t.Fatalf("dlq resubmit --seq %s = %v\n%s", first, err, out)
	}
	got := env.WaitCounts(t, q, 5*time.Second, func(c testenv.QueueCounts) bool { return c.Active == 1 })
	if got.DeadLetter != 2 {
		t.Errorf("after resubmitting one of three: %+v, want 1 active and 2 dead-lettered", got)
	}
	// The copy is a new message for duplicate detection, with the original body.
	c, err := azservicebus.NewClientFromConnectionString(env.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	r, err := c.NewReceiverForQueue(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	peeked, err := r.PeekMessages(context.Background(), 1, nil)
	if err != nil || len(peeked) != 1 {
		t.Fatalf("peek = %d, %v", len(peeked), err)
	}
	if m := peeked[0]; m.MessageID != ids[0]+":r"+first || m.ApplicationProperties["resubmittedFrom"] != ids[0] || m.ApplicationProperties["tenant"] != "t1" || m.DeadLetterReason != nil || !strings.Contains(string(m.Body), ids[0]) {
		t.Errorf("resubmitted message: id %s props %v reason %v body %s", m.MessageID, m.ApplicationProperties, m.DeadLetterReason, m.Body)
	}

	if _, err, code := ctl(t, env.ConnectionString, "dlq", "purge", "--queue", q, "--all"); code != 2 || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("dlq purge without --yes = %v (exit %d), want a usage error asking for --yes", err, code)
	}
	out, err, _ = ctl(t, env.ConnectionString, "dlq", "purge", "--queue", q, "--all", "--yes", "--json")
	var purged map[string]any
	if err != nil || json.Unmarshal([]byte(out), &purged) != nil || purged["purged"] != float64(2) {
		t.Fatalf("dlq purge --all --yes --json = %v\n%s", err, out)
	}
	if got := env.Counts(t, q); got.DeadLetter != 0 || got.Active != 1 {
		t.Errorf("after purge: %+v, want an empty dead-letter queue and the resubmitted message untouched", got)
	}
	out, err, _ = ctl(t, env.ConnectionString, "dlq", "list", "--queue", q)
	if err != nil || !strings.Contains(out, "is empty") {
		t.Errorf("dlq list after purge = %v\n%s", err, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		cs   string
		code int
		want string
	}{
		{nil, "x", 2, "no command"},
		{[]string{"nope"}, "x", 2, `unknown command "nope"`},
		{[]string{"dlq"}, "x", 2, "subcommand"},
		{[]string{"dlq", "list"}, "x", 2, "--queue is required"},
		{[]string{"dlq", "frob", "--queue", "q"}, "x", 2, "unknown subcommand"},
		{[]string{"dlq", "resubmit", "--queue", "q"}, "x", 2, "--seq N[,N...] or --all"},
		{[]string{"dlq", "show", "--queue", "q", "--seq", "x"}, "x", 2, "not a sequence number"},
		{[]string{"dlq", "list", "--queue", "q"}, "", 1, "ServiceBusConnection: missing"},
		{[]string{"dlq", "list", "--queue", "q"}, "not-a-connection-string", 1, "ServiceBusConnection: is not a connection string"},
	} {
		_, err, code := ctl(t, tc.cs, tc.args...)
		if err == nil || code != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("connectorctl %q = %v (exit %d), want exit %d mentioning %q", tc.args, err, code, tc.code, tc.want)
		}
	}
}

package funchost

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/localworld/testenv"
)

// flakyRenewer answers the renewals in turn with answers; a nil answer
// extends the lock by lock, as Service Bus does. It reports each call.
type flakyRenewer struct {
	mu      sync.Mutex
	answers []error
	lock    time.Duration
	calls   chan error
}

func (f *flakyRenewer) RenewMessageLock(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.RenewMessageLockOptions) error {
	f.mu.Lock()
	var err error
	if len(f.answers) > 0 {
		err, f.answers = f.answers[0], f.answers[1:]
	}
	if err == nil {
		until := time.Now().Add(f.lock)
		m.LockedUntil = &until
	}
	f.mu.Unlock()
	f.calls <- err
	return err
}

func (*flakyRenewer) CompleteMessage(context.Context, *azservicebus.ReceivedMessage, *azservicebus.CompleteMessageOptions) error {
	return nil
}

func (*flakyRenewer) AbandonMessage(context.Context, *azservicebus.ReceivedMessage, *azservicebus.AbandonMessageOptions) error {
	return nil
}

// TestLockRenewalSurvivesATransientFailure: one failed renewal (a dropped
// connection) is tried again while the lock lasts, so the message keeps its
// lock; a lost lock ends the renewals at once.
func TestLockRenewalSurvivesATransientFailure(t *testing.T) {
	tests := []struct {
		name      string
		answers   []error
		wantCalls int  // renewals before the test looks
		wantMore  bool // whether renewal goes on after them
	}{
		{"connection dropped once", []error{errors.New("amqp: connection reset by peer"), nil, nil}, 3, true},
		{"lock lost", []error{&azservicebus.Error{Code: azservicebus.CodeLockLost}}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := &testenv.Buffer{}
			tr := &serviceBusTrigger{host: &Host{log: newLogger(out)}, fn: &Function{Name: "Work"}, renewal: -1}
			f := &flakyRenewer{answers: tc.answers, lock: 400 * time.Millisecond, calls: make(chan error, 10)}
			until := time.Now().Add(400 * time.Millisecond)
			m := &azservicebus.ReceivedMessage{MessageID: "m-1", LockedUntil: &until}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); tr.renewLock(ctx, f, m) }()
			deadline := time.After(10 * time.Second)
			for i := 0; i < tc.wantCalls; i++ {
				select {
				case <-f.calls:
				case <-deadline:
					t.Fatalf("%d renewals, want %d; log:\n%s", i, tc.wantCalls, out)
				}
			}
			if tc.wantMore {
				select {
				case <-done:
					t.Fatalf("renewal stopped after %d calls; log:\n%s", tc.wantCalls, out)
				default:
				}
				f.mu.Lock()
				until := *m.LockedUntil
				f.mu.Unlock()
				if time.Now().After(until) {
					t.Errorf("the lock expired at %s although renewal went on", until)
				}
			} else {
				select {
				case <-done:
				case <-deadline:
					t.Fatalf("renewal went on after the lock was lost; log:\n%s", out)
				}
			}
			cancel()
			<-done
		})
	}
}

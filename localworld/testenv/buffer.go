package testenv

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a concurrency-safe sink for what processes, servers and loggers
// print while a test reads it. The zero value is ready.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// Write appends p and wakes WaitFor.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitFor waits until the buffer holds every one of subs, the first at
// least n times, and fails the test if that has not happened within
// timeout.
func (b *Buffer) WaitFor(t testing.TB, timeout time.Duration, n int, subs ...string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		s := b.b.String()
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		changed := b.changed
		b.mu.Unlock()
		ok := strings.Count(s, subs[0]) >= n
		for _, sub := range subs[1:] {
			ok = ok && strings.Contains(s, sub)
		}
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the output never contained %q (the first %d times) within %s; it was:\n%s", subs, n, timeout, s)
		}
	}
}

package funchost

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// logger prints funchost's own lines, timestamped like Core Tools' output.
type logger struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

func newLogger(out io.Writer) *logger { return &logger{out: out, now: time.Now} }

// Printf writes one line.
func (l *logger) Printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, "[%s] %s\n", l.now().UTC().Format("2006-01-02T15:04:05.000Z"), line)
}

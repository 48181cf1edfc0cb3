// Package fleet measures the connector serving many users of many
// organisations at once (make bench-fleet): what it reads of the handler's
// log, as an operator reads it in Application Insights, and the figures
// it derives. The benchmark itself is BenchmarkFleet.
package fleet

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Sync is one sync of a user, as the handler's log tells it: the sets it
// synced (one "entity set synced" line each), when the last one was
// logged, and the Dataverse requests they made.
type Sync struct {
	Tenant, User, Reason string
	// Slot is the time the job stands for: for a scheduled job, the
	// moment the user was due.
	Slot time.Time
	// End is when the sync's last set was logged.
	End      time.Time
	Sets     int
	Requests int64
	// Failed counts the sets logged as not synced.
	Failed int
}

// Lag is how long after the moment the user was due their sync ended.
func (s Sync) Lag() time.Duration { return s.End.Sub(s.Slot) }

// Run is one SyncScheduler invocation: its duration and the jobs it queued.
type Run struct {
	At       time.Time
	Duration time.Duration
	Jobs     int
}

// Log reads the handler's JSON log lines as funchost prints them
// ("[time] [handler] {...}"), a piece at a time, so a long run is not read
// again at every look.
type Log struct {
	syncs map[syncKey]*Sync
	order []syncKey
	runs  []Run
	// pending is the scheduler's last "sync jobs enqueued" count, which
	// the invocation line that follows it completes.
	pending int
	rest    string
}

type syncKey struct{ tenant, user, reason, slot string }

// line is the fields of a log line this package reads.
type line struct {
	Time       time.Time `json:"time"`
	Msg        string    `json:"msg"`
	Function   string    `json:"function"`
	Tenant     string    `json:"tenant"`
	User       string    `json:"userRef"`
	Reason     string    `json:"reason"`
	Slot       string    `json:"slot"`
	Requests   int64     `json:"requests"`
	Jobs       int       `json:"jobs"`
	DurationMs float64   `json:"durationMs"`
}

// Feed reads more of the log: text continues where the last Feed ended
// (a partial last line is kept for the next).
func (l *Log) Feed(text string) {
	if l.syncs == nil {
		l.syncs = map[syncKey]*Sync{}
	}
	text = l.rest + text
	end := strings.LastIndexByte(text, '\n')
	if end < 0 {
		l.rest = text
		return
	}
	l.rest = text[end+1:]
	for raw := range strings.SplitSeq(text[:end], "\n") {
		i := strings.Index(raw, "] {")
		if i < 0 || !strings.Contains(raw, "[handler]") {
			continue
		}
		var ln line
		if json.Unmarshal([]byte(raw[i+2:]), &ln) != nil {
			continue
		}
		l.add(ln)
	}
}

func (l *Log) add(ln line) {
	switch {
	case ln.Msg == "entity set synced" || ln.Msg == "entity set not synced":
		slot, err := time.Parse(time.RFC3339, ln.Slot)
		if err != nil {
			return
		}
		k := syncKey{ln.Tenant, ln.User, ln.Reason, ln.Slot}
		s := l.syncs[k]
		if s == nil {
			s = &Sync{Tenant: ln.Tenant, User: ln.User, Reason: ln.Reason, Slot: slot}
			l.syncs[k] = s
			l.order = append(l.order, k)
		}
		s.Sets++
		s.Requests += ln.Requests
		if ln.Msg != "entity set synced" {
			s.Failed++
		}
		if ln.Time.After(s.End) {
			s.End = ln.Time
		}
	case ln.Function == "SyncScheduler" && ln.Msg == "sync jobs enqueued":
		l.pending = ln.Jobs
	case ln.Function == "SyncScheduler" && ln.Msg == "invocation":
		l.runs = append(l.runs, Run{At: ln.Time, Duration: time.Duration(ln.DurationMs * float64(time.Millisecond)), Jobs: l.pending})
		l.pending = 0
	}
}

// Syncs returns the syncs read so far whose every set (sets of them) was
// logged and that keep, in the order they began to be logged.
func (l *Log) Syncs(sets int, keep func(Sync) bool) []Sync {
	var out []Sync
	for _, k := range l.order {
		if s := *l.syncs[k]; s.Sets >= sets && keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// Runs returns the scheduler runs read so far that began in [from, to).
func (l *Log) Runs(from, to time.Time) []Run {
	var out []Run
	for _, r := range l.runs {
		if start := r.At.Add(-r.Duration); !start.Before(from) && start.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// Percentile is the p-th percentile (0-100, nearest rank) of ds; 0 when
// ds is empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

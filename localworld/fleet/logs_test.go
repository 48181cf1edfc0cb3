package fleet

import (
	"strings"
	"testing"
	"time"
)

const sample = `[2026-12-04T04:20:57.560Z] Executed 'Functions.AdminConsentStart' (Succeeded, Duration=8ms) HTTP 302
[2026-12-04T04:21:00.013Z] [handler] {"time":"2026-12-04T04:21:00.013598209Z","level":"INFO","msg":"sync jobs enqueued","function":"SyncScheduler","jobs":2,"scheduled":1}
[2026-12-04T04:21:00.013Z] [handler] {"time":"2026-12-04T04:21:00.013629007Z","level":"INFO","msg":"invocation","function":"SyncScheduler","success":true,"durationMs":13.104}
[2026-12-04T04:21:03.100Z] [handler] {"time":"2026-12-04T04:21:03.1Z","level":"INFO","msg":"entity set synced","function":"SyncWorker","tenant":"t1","userRef":"u-1","reason":"scheduled","slot":"2026-12-04T04:21:03Z","entitySet":"accounts","requests":1}
[2026-12-04T04:21:03.200Z] [handler] {"time":"2026-12-04T04:21:03.2Z","level":"INFO","msg":"entity set synced","function":"SyncWorker","tenant":"t2","userRef":"u-2","reason":"scheduled","slot":"2026-12-04T04:21:02Z","entitySet":"accounts","requests":2}
[2026-12-04T04:21:03.400Z] [handler] {"time":"2026-12-04T04:21:03.4Z","level":"WARN","msg":"entity set not synced","function":"SyncWorker","tenant":"t1","userRef":"u-1","reason":"scheduled","slot":"2026-12-04T04:21:03Z","entitySet":"contacts","requests":3,"error":"x"}
[2026-12-04T04:21:03.500Z] [handler] {"time":"2026-12-04T04:21:03.5Z","level":"INFO","msg":"entity set synced","function":"SyncWorker","tenant":"t1","userRef":"u-1","reason":"initial","slot":"2026-12-04T04:20:58Z","entitySet":"accounts","requests":4}
`

func TestLogReadsSyncsAndRuns(t *testing.T) {
	var l Log
	cut := strings.Index(sample, `"entitySet":"contacts"`) // a line split between two reads
	l.Feed(sample[:cut])
	if got := l.Syncs(2, func(Sync) bool { return true }); len(got) != 0 {
		t.Fatalf("before the second set's line is whole: %+v, want no complete sync", got)
	}
	l.Feed(sample[cut:])

	scheduled := l.Syncs(2, func(s Sync) bool { return s.Reason == "scheduled" })
	if len(scheduled) != 1 {
		t.Fatalf("scheduled syncs with both sets = %+v, want u-1's only", scheduled)
	}
	s := scheduled[0]
	if s.User != "u-1" || s.Tenant != "t1" || s.Sets != 2 || s.Failed != 1 || s.Requests != 4 {
		t.Errorf("u-1's sync = %+v, want 2 sets (1 failed), 4 requests", s)
	}
	if s.Lag() != 400*time.Millisecond {
		t.Errorf("lag = %s, want 400ms (due 04:21:03, last set logged 04:21:03.4)", s.Lag())
	}
	if one := l.Syncs(1, func(Sync) bool { return true }); len(one) != 3 {
		t.Errorf("syncs with at least one set = %d, want 3 (u-1 scheduled and initial, u-2)", len(one))
	}

	from := time.Date(2026, 12, 4, 4, 21, 0, 0, time.UTC)
	runs := l.Runs(from, from.Add(time.Minute))
	if len(runs) != 1 || runs[0].Jobs != 2 || runs[0].Duration != 13104*time.Microsecond {
		t.Errorf("runs = %+v, want one of 13.104 ms that queued 2 jobs", runs)
	}
	if runs := l.Runs(from.Add(time.Second), from.Add(time.Minute)); len(runs) != 0 {
		t.Errorf("runs begun after 04:21:01 = %+v, want none", runs)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 95: 95 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond} {
		if got := Percentile(ds, p); got != want {
			t.Errorf("p%v = %s, want %s", p, got, want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("the percentile of nothing is not 0")
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("Percentile sorted its argument")
	}
}

package dataversesim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Throttle sets Dataverse's service protection limits, applied per user
// (docs/reference/dataverse-webapi.md §7). Zero fields take Dataverse's
// defaults.
type Throttle struct {
	Requests      int           // requests per Window (6000)
	Window        time.Duration // the sliding window (300 s)
	Concurrency   int           // concurrent requests (52)
	ExecutionTime time.Duration // combined execution time per Window (1200 s)
}

func (t Throttle) withDefaults() Throttle {
	if t.Requests <= 0 {
		t.Requests = 6000
	}
	if t.Window <= 0 {
		t.Window = 300 * time.Second
	}
	if t.Concurrency <= 0 {
		t.Concurrency = 52
	}
	if t.ExecutionTime <= 0 {
		t.ExecutionTime = 1200 * time.Second
	}
	return t
}

// throttler keeps each user's requests and execution time in the window.
type throttler struct {
	mu    sync.Mutex
	cfg   Throttle
	now   func() time.Time
	users map[string]*usage
}

type usage struct {
	hits     []time.Time // one per request counted, oldest first
	exec     []execTime  // oldest first
	execSum  time.Duration
	inflight int
}

type execTime struct {
	at time.Time
	d  time.Duration
}

func newThrottler(t Throttle, now func() time.Time) *throttler {
	return &throttler{cfg: t.withDefaults(), now: now, users: map[string]*usage{}}
}

func (t *throttler) set(cfg Throttle) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg = cfg.withDefaults()
	t.users = map[string]*usage{}
}

func (t *throttler) get() Throttle {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cfg
}

// usageOf returns key's usage with entries older than the window dropped.
func (t *throttler) usageOf(key string, now time.Time) *usage {
	u := t.users[key]
	if u == nil {
		u = &usage{}
		t.users[key] = u
	}
	cut := now.Add(-t.cfg.Window)
	i := 0
	for i < len(u.hits) && !u.hits[i].After(cut) {
		i++
	}
	u.hits = u.hits[i:]
	j := 0
	for j < len(u.exec) && !u.exec[j].at.After(cut) {
		u.execSum -= u.exec[j].d
		j++
	}
	u.exec = u.exec[j:]
	return u
}

// admit counts a request of cost inner requests for user key, or returns
// the 429 to answer. release must be called with the request's execution
// time when it is done.
func (t *throttler) admit(key string, cost int) (release func(time.Duration), _ *apiError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	u := t.usageOf(key, now)
	c := t.cfg
	if u.inflight >= c.Concurrency {
		return nil, tooMany(codeThrottleConcur, 1, "Number of concurrent requests exceeded the limit of %d.", c.Concurrency)
	}
	if len(u.hits)+cost > c.Requests {
		wait := c.Window
		if n := len(u.hits) + cost - c.Requests; cost <= c.Requests && n <= len(u.hits) {
			wait = u.hits[n-1].Add(c.Window).Sub(now)
		}
		return nil, tooMany(codeThrottleRequests, wait, "Number of requests exceeded the limit of %d over time window of %d seconds.", c.Requests, int(c.Window.Seconds()))
	}
	if u.execSum > c.ExecutionTime {
		wait := u.exec[0].at.Add(c.Window).Sub(now)
		return nil, tooMany(codeThrottleExecution, wait,
			"Combined execution time of incoming requests exceeded limit of %s milliseconds over time window of %d seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
			thousands(c.ExecutionTime.Milliseconds()), int(c.Window.Seconds()))
	}
	for range cost {
		u.hits = append(u.hits, now)
	}
	u.inflight++
	return func(d time.Duration) {
		t.mu.Lock()
		defer t.mu.Unlock()
		u.inflight--
		u.exec = append(u.exec, execTime{at: t.now(), d: d})
		u.execSum += d
	}, nil
}

// annotate adds the x-ms-ratelimit headers Dataverse sends (clients should
// not depend on them).
func (t *throttler) annotate(key string, h http.Header) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.usageOf(key, t.now())
	h.Set("x-ms-ratelimit-burst-remaining-xrm-requests", strconv.Itoa(max(0, t.cfg.Requests-len(u.hits))))
	h.Set("x-ms-ratelimit-time-remaining-xrm-requests", strconv.FormatFloat(float64(max(0, t.cfg.ExecutionTime-u.execSum))/float64(time.Millisecond), 'f', 2, 64))
}

// tooMany is a 429 with an integer-seconds Retry-After of at least 1.
func tooMany(code string, wait time.Duration, format string, args ...any) *apiError {
	e := errf(http.StatusTooManyRequests, code, format, args...)
	e.header = http.Header{}
	e.header.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	return e
}

// thousands formats n with comma separators, as Dataverse's message does.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	out := ""
	for len(s) > 3 {
		out = "," + s[len(s)-3:] + out
		s = s[:len(s)-3]
	}
	return fmt.Sprint(s, out)
}

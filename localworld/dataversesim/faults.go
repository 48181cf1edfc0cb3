package dataversesim

import (
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults inject failures into API requests at random. The random source is
// seeded, so a run with the same requests repeats.
type Faults struct {
	ErrorRate float64 // fraction of requests answered 502, 503 or 504 before they run
	ResetRate float64 // fraction of connections reset without an answer before the request runs
	// AfterRate is the fraction of requests that run, with their writes
	// committed, and whose answer is then lost: a gateway 504 or a reset
	// instead of it ("write committed, answer lost").
	AfterRate  float64
	Latency    time.Duration // added before every API request is handled
	RandomSeed uint64
}

// Fault is a scripted failure for the next Count API requests whose method
// and path match.
type Fault struct {
	// Status to answer (429, 500, 502, 503, 504, ...); 0 resets the connection.
	Status int `json:"status"`
	// Count is how many matching requests fail; 0 means 1.
	Count int `json:"count"`
	// Method, if set, matches the request method exactly.
	Method string `json:"method,omitempty"`
	// Path, if set, matches requests whose path contains it.
	Path string `json:"path,omitempty"`
	// RetryAfter is the Retry-After seconds of a scripted 429 (default 1).
	RetryAfter int `json:"retryAfter,omitempty"`
	// After lets the request run (its writes commit) and then answers with
	// Status instead of its own answer: a gateway 5xx, or (0) a reset. Only
	// 0, 500, 502, 503 and 504 make sense here (AfterStatusOK).
	After bool `json:"after,omitempty"`
}

// AfterStatusOK reports whether status may replace the answer of a request
// that ran (Fault.After): a reset or a gateway error, never a 429, which
// Dataverse sends only for requests it did not run.
func AfterStatusOK(status int) bool {
	switch status {
	case 0, 500, 502, 503, 504:
		return true
	}
	return false
}

// decision is the fault chosen for one request.
type decision struct {
	status     int // -1: none; 0: reset; else the status to answer
	retryAfter int
	after      bool // answer so only after the request ran
	latency    time.Duration
}

type faultInjector struct {
	mu       sync.Mutex
	cfg      Faults
	rng      *rand.Rand
	scripted []Fault
}

func newFaultInjector(f Faults) *faultInjector {
	return &faultInjector{cfg: f, rng: rand.New(rand.NewPCG(f.RandomSeed, 0x5eed))}
}

func (fi *faultInjector) set(f Faults) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.cfg = f
	fi.rng = rand.New(rand.NewPCG(f.RandomSeed, 0x5eed))
}

func (fi *faultInjector) get() Faults {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.cfg
}

func (fi *faultInjector) add(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.scripted = append(fi.scripted, f)
}

// pick decides the fault for r.
func (fi *faultInjector) pick(r *http.Request) decision {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	d := decision{status: -1, latency: fi.cfg.Latency}
	for i := range fi.scripted {
		f := &fi.scripted[i]
		if (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.Path) {
			f.Count--
			d.status, d.retryAfter, d.after = f.Status, f.RetryAfter, f.After
			if f.Count == 0 {
				fi.scripted = append(fi.scripted[:i], fi.scripted[i+1:]...)
			}
			return d
		}
	}
	x := fi.rng.Float64()
	switch {
	case x < fi.cfg.ResetRate:
		d.status = 0
	case x < fi.cfg.ResetRate+fi.cfg.ErrorRate:
		d.status = []int{502, 503, 504}[fi.rng.IntN(3)]
	case x < fi.cfg.ResetRate+fi.cfg.ErrorRate+fi.cfg.AfterRate:
		d.status, d.after = []int{0, 504}[fi.rng.IntN(2)], true
	}
	return d
}

// wait delays r by the configured latency.
func (d decision) wait(r *http.Request) {
	if d.latency <= 0 {
		return
	}
	t := time.NewTimer(d.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// before reports whether the request fails before it runs.
func (d decision) before() bool { return d.status >= 0 && !d.after }

// answer writes resp, or the fault in its place when the request was to
// run and then lose its answer.
func (d decision) answer(w http.ResponseWriter, resp *response) {
	if d.status >= 0 && d.after {
		d.fail(w)
		return
	}
	writeResponse(w, resp)
}

// fail answers with the fault: a reset, a throttling 429, the Web API's
// 503, or a gateway's HTML error page.
func (d decision) fail(w http.ResponseWriter) {
	switch {
	case d.status == 0:
		resetConnection(w)
	case d.status == http.StatusTooManyRequests:
		writeResponse(w, errorResponse(tooMany(codeThrottleRequests, time.Duration(max(1, d.retryAfter))*time.Second,
			"Number of requests exceeded the limit of 6000 over time window of 300 seconds.")))
	case d.status == http.StatusServiceUnavailable || d.status < 500:
		writeResponse(w, errorResponse(errf(d.status, codeNone, "The service is temporarily unavailable. Try again later.")))
	default:
		// Gateways answer with HTML, not the Web API's JSON.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(d.status)
		_, _ = w.Write([]byte("<html><body><h1>" + http.StatusText(d.status) + "</h1></body></html>"))
	}
}

// resetConnection drops the client's connection with a TCP reset.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

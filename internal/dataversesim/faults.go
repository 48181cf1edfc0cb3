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
	ErrorRate  float64       // fraction of requests answered 502, 503 or 504
	ResetRate  float64       // fraction of connections reset without an answer
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

// pick decides the fault for r: a status, 0 for a reset, or -1 for none.
func (fi *faultInjector) pick(r *http.Request) (status, retryAfter int, latency time.Duration) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	latency = fi.cfg.Latency
	for i := range fi.scripted {
		f := &fi.scripted[i]
		if (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.Path) {
			f.Count--
			status, retryAfter = f.Status, f.RetryAfter
			if f.Count == 0 {
				fi.scripted = append(fi.scripted[:i], fi.scripted[i+1:]...)
			}
			return status, retryAfter, latency
		}
	}
	x := fi.rng.Float64()
	switch {
	case x < fi.cfg.ResetRate:
		return 0, 0, latency
	case x < fi.cfg.ResetRate+fi.cfg.ErrorRate:
		return []int{502, 503, 504}[fi.rng.IntN(3)], 0, latency
	}
	return -1, 0, latency
}

// apply delays r by the configured latency and then answers it with a
// fault if one is due; it reports whether it answered.
func (fi *faultInjector) apply(w http.ResponseWriter, r *http.Request) bool {
	status, retryAfter, latency := fi.pick(r)
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch {
	case status < 0:
		return false
	case status == 0:
		resetConnection(w)
	case status == http.StatusTooManyRequests:
		writeResponse(w, errorResponse(tooMany(codeThrottleRequests, time.Duration(max(1, retryAfter))*time.Second,
			"Number of requests exceeded the limit of 6000 over time window of 300 seconds.")))
	case status == http.StatusServiceUnavailable || status < 500:
		writeResponse(w, errorResponse(errf(status, codeNone, "The service is temporarily unavailable. Try again later.")))
	default:
		// Gateways answer with HTML, not the Web API's JSON.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<html><body><h1>" + http.StatusText(status) + "</h1></body></html>"))
	}
	return true
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

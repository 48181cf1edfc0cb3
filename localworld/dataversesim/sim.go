package dataversesim

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// APIVersions are the Web API versions the simulator answers under
// /api/data/<version>/; links echo the version the client used.
var APIVersions = []string{"v9.0", "v9.1", "v9.2"}

// Options configure a Sim. The zero value is a usable empty environment
// with Dataverse's default limits that refuses every request without a
// verifiable token (set Auth.JWKSURL or Auth.InsecureAnyToken).
type Options struct {
	// Seed is the number of deterministic rows created in each of accounts,
	// contacts, appointments and leads (see Seed).
	Seed int
	// Now is the clock; nil means time.Now. Advance moves it forward.
	Now func() time.Time
	// Auth says how bearer tokens are checked.
	Auth AuthOptions
	// Throttle sets the service protection limits; zero fields take
	// Dataverse's defaults (6000 requests and 1200 s of execution time per
	// 300 s window, 52 concurrent requests, per user).
	Throttle Throttle
	// Faults injects failures at random (seeded, so runs repeat).
	Faults Faults
	// EnvironmentURL is the environment Global Discovery lists. Empty means
	// the simulator's own URL as the client reached it; set it when the
	// simulator serves discovery and the environment on different URLs,
	// as Dataverse does (globaldisco.crm.dynamics.com vs the org's host).
	EnvironmentURL string
	// Journal turns the write journal on once New has seeded the
	// environment (Journal, EnableJournal). Off, writes keep no history.
	Journal bool
}

// Sim is a simulated Dataverse environment: an http.Handler serving the Web
// API under /api/data/v9.2/, Global Discovery under
// /api/discovery/v2.0/Instances and the admin API under /_sim/. Its methods
// let tests change and inspect the state directly. It is safe for
// concurrent use.
type Sim struct {
	mu      sync.RWMutex // guards st (its journal too), blocks, minToken, denied
	st      store
	offset  atomic.Int64 // nanoseconds added to the clock by Advance
	baseNow func() time.Time
	blocks  map[string]*blockUpload
	// downloads are the chunked downloads begun, by FileContinuationToken.
	downloads map[string][]byte
	auth      *authenticator
	throttle  *throttler
	faults    *faultInjector
	minToken  int64           // delta tokens at or below this version have expired
	denied    map[string]bool // "<set>|<access>" the users' role lacks (SetPrivilege)
	requests  atomic.Int64
	admin     *http.ServeMux
	envURL    string
}

// New returns a simulator with the organization row, the seeded business
// units, users and teams (seedPrincipals) and opts.Seed rows in each seeded
// table.
func New(opts Options) *Sim {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Sim{baseNow: now, blocks: map[string]*blockUpload{}, downloads: map[string][]byte{}, envURL: strings.TrimRight(opts.EnvironmentURL, "/")}
	s.st = store{tables: newSchema(), now: s.now}
	s.auth = newAuthenticator(opts.Auth, s.now)
	s.throttle = newThrottler(opts.Throttle, s.now)
	s.faults = newFaultInjector(opts.Faults)
	s.admin = s.adminMux()
	s.mu.Lock()
	s.seedOrganization()
	s.seedPrincipals()
	s.seed(opts.Seed)
	if opts.Journal {
		s.st.enableJournal()
	}
	s.mu.Unlock()
	return s
}

// now is the simulator's clock: Options.Now plus every Advance.
func (s *Sim) now() time.Time {
	return s.baseNow().Add(time.Duration(s.offset.Load()))
}

// response is an answer built by the simulator before it is written, so
// $batch can embed it.
type response struct {
	status int
	header http.Header
	body   []byte
}

const contentTypeJSON = "application/json; odata.metadata=minimal"

func newResponse(status int) *response {
	h := http.Header{}
	h.Set("OData-Version", "4.0")
	return &response{status: status, header: h}
}

func jsonResponse(status int, body []byte) *response {
	r := newResponse(status)
	r.header.Set("Content-Type", contentTypeJSON)
	r.body = body
	return r
}

// call is one Web API request, from the wire or from inside a $batch.
type call struct {
	method string
	segs   []string // path segments after /api/data/<version>/, unescaped
	rawURL string   // the request URL as sent, for error messages
	query  url.Values
	rawQry string
	header http.Header
	body   []byte
	base   string // e.g. http://127.0.0.1:7073/api/data/v9.2/
	user   user
	batch  *batchContext // non-nil inside a $batch
}

// ServeHTTP routes a request to the admin API, Global Discovery or the Web API.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/_sim/"):
		s.admin.ServeHTTP(w, r)
	case p == "/api/discovery/v2.0/Instances" || strings.HasPrefix(p, "/api/discovery/v2.0/Instances("):
		s.front(w, r, s.serveDiscovery)
	case strings.HasPrefix(p, "/api/data/"):
		s.front(w, r, s.serveAPI)
	default:
		writeResponse(w, errorResponse(errNoHTTPResource(r.URL.String())))
	}
}

// serveAPI answers a Web API request that passed the front door.
func (s *Sim) serveAPI(r *http.Request, u user, body []byte) *response {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/data/")
	version, rest, _ := strings.Cut(rest, "/")
	if !validVersion(version) {
		return errorResponse(errNoSegment(version))
	}
	segs, err := splitPath(rest)
	if err != nil {
		return errorResponse(err)
	}
	c := &call{
		method: r.Method, segs: segs, rawURL: baseURL(r) + r.URL.RequestURI(), query: r.URL.Query(), rawQry: r.URL.RawQuery,
		header: r.Header, body: body, base: baseURL(r) + "/api/data/" + version + "/", user: u,
	}
	s.ensureCaller(u) // a user added to the environment has its systemuser row
	return s.dispatch(c)
}

func validVersion(v string) bool {
	for _, x := range APIVersions {
		if v == x {
			return true
		}
	}
	return false
}

// splitPath splits an escaped path into unescaped segments; escaped slashes
// inside a key value stay inside their segment.
func splitPath(p string) ([]string, *apiError) {
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		u, err := url.PathUnescape(part)
		if err != nil {
			return nil, errf(http.StatusBadRequest, codeQuery, "The request URI is not valid: %s", err)
		}
		parts[i] = u
	}
	return parts, nil
}

// baseURL is the scheme and host the client used to reach the simulator.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeResponse(w http.ResponseWriter, r *response) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	if len(r.body) > 0 {
		_, _ = w.Write(r.body)
	}
}

// maxBody bounds a request body: a $batch of notes at the largest upload
// limit fits.
const maxBody = 512 << 20

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, maxBody))
}

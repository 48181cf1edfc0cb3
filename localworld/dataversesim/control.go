package dataversesim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The methods below change and inspect the simulator the way a person
// working in Dynamics, or a test, would. Writes go through the same
// validation, ETag and change-tracking machinery as Web API writes, and
// into the write journal when it is on (journal.go).

// Row is a record as the Web API returns it: "@odata.etag", every column
// by its JSON name (lookups as _<name>_value holding the target id), values
// as encoding/json decodes them.
type Row map[string]any

// CreateRow creates a row in set from values (JSON names; the primary key
// to choose the id; "<nav>@odata.bind": "/accounts(<id>)" for lookups) and
// returns its id.
func (s *Sim) CreateRow(set string, values map[string]any) (string, error) {
	resp := s.control(http.MethodPost, set, values)
	if err := responseError(resp); err != nil {
		return "", err
	}
	loc := resp.header.Get("OData-EntityId")
	open := strings.LastIndexByte(loc, '(')
	return strings.TrimSuffix(loc[open+1:], ")"), nil
}

// UpdateRow changes columns of row id in set (an update, never an upsert).
func (s *Sim) UpdateRow(set, id string, values map[string]any) error {
	return responseError(s.control(http.MethodPatch, set+"("+id+")", values, "If-Match", "*"))
}

// DeleteRow deletes row id of set and the notes regarding it, each leaving
// a change-tracking tombstone.
func (s *Sim) DeleteRow(set, id string) error {
	return responseError(s.control(http.MethodDelete, set+"("+id+")", nil))
}

// GetRow returns row id of set, or false if there is none.
func (s *Sim) GetRow(set, id string) (Row, bool) {
	resp := s.control(http.MethodGet, set+"("+id+")", nil)
	if resp.status != http.StatusOK {
		return nil, false
	}
	var r Row
	if err := json.Unmarshal(resp.body, &r); err != nil {
		return nil, false
	}
	delete(r, "@odata.context")
	return r, true
}

// Count returns the number of rows in set (0 for an unknown set).
func (s *Sim) Count(set string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t, ok := s.st.tables[set]; ok {
		return len(t.ids)
	}
	return 0
}

// IDs returns the ids of the rows of set, in key order (nil for an
// unknown set).
func (s *Sim) IDs(set string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t, ok := s.st.tables[set]; ok {
		return append([]string(nil), t.ids...)
	}
	return nil
}

// Counts returns the number of rows in every set.
func (s *Sim) Counts() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]int{}
	for n, t := range s.st.tables {
		out[n] = len(t.ids)
	}
	return out
}

// SetThrottle replaces the service protection limits and forgets every
// user's usage so far.
func (s *Sim) SetThrottle(t Throttle) { s.throttle.set(t) }

// Throttle returns the limits in force, defaults filled in.
func (s *Sim) Throttle() Throttle { return s.throttle.get() }

// SetFaults replaces the random fault rates and latency.
func (s *Sim) SetFaults(f Faults) { s.faults.set(f) }

// Faults returns the random fault settings in force.
func (s *Sim) Faults() Faults { return s.faults.get() }

// FailNext scripts a fault for the next matching API requests.
func (s *Sim) FailNext(f Fault) { s.faults.add(f) }

// ExpireDeltaTokens makes every delta token issued so far fail with
// ExpiredVersionStamp (0x80044352), as when they outlive
// expirechangetrackingindays.
func (s *Sim) ExpireDeltaTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minToken = s.st.version
	s.st.version++ // tokens issued from now on are newer than every expired one
}

// Advance moves the simulator's clock forward by d: throttling windows,
// token expiry, delta-token age and modifiedon all follow it.
func (s *Sim) Advance(d time.Duration) { s.offset.Add(int64(d)) }

// Now is the simulator's current time.
func (s *Sim) Now() time.Time { return s.now() }

// Requests is the number of API requests received so far, faulted,
// refused and batched ones included (a $batch counts once).
func (s *Sim) Requests() int64 { return s.requests.Load() }

// control runs a Web API request on behalf of a person in Dynamics.
func (s *Sim) control(method, path string, values map[string]any, header ...string) *response {
	var body []byte
	if values != nil {
		var err error
		if body, err = json.Marshal(values); err != nil {
			return errorResponse(errf(http.StatusBadRequest, codePayload, "values cannot be encoded as JSON: %v", err))
		}
	}
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	segs, err := splitPath(path)
	if err != nil {
		return errorResponse(err)
	}
	c := &call{method: method, segs: segs, rawURL: path, header: h, body: bytes.TrimSpace(body), base: "/api/data/v9.2/", user: user{tenant: "control", oid: "control"}}
	return s.dispatch(c)
}

// responseError turns an error answer into a Go error.
func responseError(r *response) error {
	if r.status < 400 {
		return nil
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return fmt.Errorf("dataversesim: %d %s: %s", r.status, e.Error.Code, e.Error.Message)
}

package dataversesim

import (
	"net/http"
	"time"

	"github.com/google/uuid"
)

// front is the front door every API request passes, in the order a real
// request meets them: network faults, authentication, service protection
// limits, then the handler. The execution time of the request counts
// against the caller's budget. A fault "after" lets all of it run and then
// loses the answer, as a gateway timeout or a reset after the commit does.
func (s *Sim) front(w http.ResponseWriter, r *http.Request, handle func(*http.Request, user, []byte) *response) {
	start := time.Now()
	s.requests.Add(1)
	fault := s.faults.pick(r)
	fault.wait(r)
	if fault.before() {
		fault.fail(w)
		return
	}
	u, aerr := s.auth.authenticate(r)
	if aerr != nil {
		fault.answer(w, errorResponse(aerr))
		return
	}
	body, err := readBody(r)
	if err != nil {
		fault.answer(w, errorResponse(errf(http.StatusBadRequest, codePayload, "The request body could not be read: %v", err)))
		return
	}
	cost := 1
	if isBatch(r) {
		cost = countBatchRequests(r.Header.Get("Content-Type"), body)
	}
	release, terr := s.throttle.admit(u.key(), cost)
	if terr != nil {
		fault.answer(w, errorResponse(terr))
		return
	}
	resp := handle(r, u, body)
	release(time.Since(start))
	s.throttle.annotate(u.key(), resp.header)
	resp.header.Set("x-ms-service-request-id", uuid.NewString())
	fault.answer(w, resp)
}

package dataversesim

import (
	"net/http"
	"strings"
	"testing"
)

// TestFaultAfterCommitLosesTheAnswer: "write committed, answer lost", the
// case exactly-once uploads depend on. The write runs and stays; the
// client gets a gateway 504, or its connection reset, instead of the answer.
func TestFaultAfterCommitLosesTheAnswer(t *testing.T) {
	for _, status := range []int{504, 0} {
		s, srv := newTestServer(t, Options{Seed: 1})
		id := SeedID("accounts", 0)
		s.FailNext(Fault{Status: status, Method: "PATCH", After: true})
		req, _ := http.NewRequest("PATCH", srv.URL+"/api/data/v9.2/accounts("+id+")", strings.NewReader(`{"name":"Committed"}`))
		req.Header.Set("Authorization", "Bearer test")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("If-Match", "*")
		resp, err := srv.Client().Do(req)
		switch {
		case status == 0 && err == nil:
			resp.Body.Close()
			t.Errorf("after-commit reset: got HTTP %d, want the connection reset", resp.StatusCode)
		case status != 0 && (err != nil || resp.StatusCode != status):
			t.Errorf("after-commit %d: got %v %v, want HTTP %d", status, resp, err, status)
		}
		if err == nil && status != 0 {
			resp.Body.Close()
		}
		if row, _ := s.GetRow("accounts", id); row["name"] != "Committed" {
			t.Errorf("after-commit fault %d: the row is %v, want the write committed", status, row["name"])
		}
		if r := send(t, srv, "GET", "/api/data/v9.2/accounts("+id+")?$select=name", ""); r.status != 200 {
			t.Errorf("after the scripted fault: %d", r.status)
		}
	}
}

// TestAfterRateCommitsEveryWrite: with AfterRate 1 every request runs and
// every answer is lost.
func TestAfterRateCommitsEveryWrite(t *testing.T) {
	s, srv := newTestServer(t, Options{Faults: Faults{AfterRate: 1, RandomSeed: 7}})
	for i := range 4 {
		req, _ := http.NewRequest("POST", srv.URL+"/api/data/v9.2/accounts", strings.NewReader(`{"name":"n"}`))
		req.Header.Set("Authorization", "Bearer test")
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 504 {
				t.Errorf("create %d: HTTP %d, want 504 or a reset", i, resp.StatusCode)
			}
		}
	}
	if n := s.Count("accounts"); n != 4 {
		t.Errorf("%d accounts after 4 creates whose answers were lost, want 4", n)
	}
}

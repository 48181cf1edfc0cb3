package dataversesim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAdminAPI(t *testing.T) {
	s, srv := newTestServer(t, Options{})
	steps := []struct {
		method, path, body string
		wantStatus         int
		wantBody           string
	}{
		{"POST", "/_sim/seed", `{"rows":3,"sets":["accounts"]}`, 200, `"accounts":3`},
		{"POST", "/_sim/seed", `{"rows":3,"sets":["organizations"]}`, 400, "cannot seed"},
		{"POST", "/_sim/seed", `{"rowz":3}`, 400, "unknown field"},
		{"POST", "/_sim/tables/accounts", `{"name":"By hand","accountnumber":"H-1"}`, 201, `"id"`},
		{"POST", "/_sim/tables/accounts", `{"name":"` + strings.Repeat("x", 161) + `"}`, 400, "0x80044331"},
		{"PATCH", "/_sim/tables/accounts/" + SeedID("accounts", 0), `{"name":"Edited"}`, 204, ""},
		{"GET", "/_sim/tables/accounts/" + SeedID("accounts", 0), "", 200, `"name":"Edited"`},
		{"DELETE", "/_sim/tables/accounts/" + SeedID("accounts", 1), "", 204, ""},
		{"DELETE", "/_sim/tables/accounts/" + SeedID("accounts", 1), "", 404, "Does Not Exist"},
		{"PUT", "/_sim/throttle", `{"requests":600,"windowSeconds":30}`, 200, `"requests":600,"windowSeconds":30,"concurrency":52`},
		{"PUT", "/_sim/throttle", `{"requests":-1}`, 400, "requests"},
		{"PUT", "/_sim/faults", `{"errorRate":0.7,"resetRate":0.7}`, 400, "between 0 and 1"},
		{"POST", "/_sim/faults/next", `{"status":200}`, 400, "status"},
		{"POST", "/_sim/faults/next", `{"status":429,"after":true}`, 400, "with after"},
		{"PUT", "/_sim/faults", `{"errorRate":0.5,"afterRate":0.6}`, 400, "afterRate"},
		{"PUT", "/_sim/faults", `{"afterRate":0.25,"randomSeed":3}`, 200, `"afterRate":0.25`},
		{"PUT", "/_sim/faults", `{}`, 200, `"afterRate":0`},
		{"POST", "/_sim/faults/next", `{"status":504,"method":"PATCH","path":"accounts","after":true}`, 204, ""},
		{"PATCH", "/api/data/v9.2/accounts(" + SeedID("accounts", 2) + ")", `{"name":"Lost answer"}`, 504, "Gateway Timeout"},
		{"GET", "/_sim/tables/accounts/" + SeedID("accounts", 2), "", 200, `"name":"Lost answer"`},
		{"POST", "/_sim/changetracking/expire", "", 204, ""},
		{"POST", "/_sim/clock/advance", `{"seconds":-5}`, 400, "forward"},
		{"POST", "/_sim/clock/advance", `{"seconds":60}`, 200, `"now"`},
		{"GET", "/_sim/state", "", 200, `"accounts":3`},
	}
	for _, st := range steps {
		r := send(t, srv, st.method, st.path, st.body)
		if r.status != st.wantStatus || !strings.Contains(r.body, st.wantBody) {
			t.Errorf("%s %s: %d %s, want %d containing %q", st.method, st.path, r.status, r.body, st.wantStatus, st.wantBody)
		}
	}
	if got := s.Throttle().Requests; got != 600 {
		t.Errorf("throttle requests = %d, want 600", got)
	}
	var state struct{ Counts map[string]int }
	_ = json.Unmarshal([]byte(send(t, srv, "GET", "/_sim/state", "").body), &state)
	if state.Counts["contacts"] != 0 || state.Counts["organizations"] != 1 {
		t.Errorf("counts = %v", state.Counts)
	}
}

package dataversesim

import (
	"encoding/json"
	"testing"
)

// TestDiscoveryListsTheEnvironment: Global Discovery names the environment
// the simulator serves, its own URL unless another is configured (as in
// Azure, where discovery and the environment are different hosts).
func TestDiscoveryListsTheEnvironment(t *testing.T) {
	for _, env := range []string{"", "https://contoso.crm.dynamics.com/"} {
		_, srv := newTestServer(t, Options{EnvironmentURL: env})
		r := send(t, srv, "GET", "/api/discovery/v2.0/Instances", "")
		var body struct {
			Value []struct{ URL, APIURL string } `json:"value"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != 200 || len(body.Value) != 1 {
			t.Fatalf("Instances = %d %s", r.status, r.body)
		}
		want := srv.URL
		if env != "" {
			want = "https://contoso.crm.dynamics.com"
		}
		if got := body.Value[0]; got.URL != want || got.APIURL != want {
			t.Errorf("EnvironmentURL %q: Instances lists %+v, want Url and ApiUrl %s", env, got, want)
		}
	}
}

package chaos

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// dynamics holds the rows of one upload u1 written n times, and of the
// given others.
func dynamics(n int) Dynamics {
	d := Dynamics{"accounts": {}, "appointments": {}, "annotations": {}}
	for i := range n {
		id := string(rune('a' + i))
		d["accounts"][id] = Row{"accountnumber": "CH-1"}
		d["appointments"][id] = Row{"subject": "Chaos meeting u1"}
		d["annotations"][id] = Row{"subject": "note u1"}
	}
	return d
}

func upload(status string, mod func(*Upload)) *Upload {
	u := &Upload{ID: "u1", User: "alice", AccountNumber: "CH-1", Subject: "Chaos meeting u1", Annotations: []string{"note u1"},
		Accepted: true, Accepts: 1, AcceptedAt: time.Unix(100, 0), Final: Status{Status: status}}
	if status == "failed" || status == "parked" {
		u.Final.LastError = &struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{"reauth_required", "sign in again"}
	}
	if mod != nil {
		mod(u)
	}
	return u
}

func TestCheckUploads(t *testing.T) {
	restart := []time.Time{time.Unix(200, 0)}
	tests := []struct {
		name      string
		up        *Upload
		d         Dynamics
		restarts  []time.Time
		signedIn  bool
		violation string // "" when it must hold
		stranded  bool
	}{
		{"done once", upload("done", nil), dynamics(1), nil, true, "", false},
		{"done twice", upload("done", nil), dynamics(2), nil, true, "want one each", false},
		{"done, nothing written", upload("done", nil), dynamics(0), nil, true, "want one each", false},
		{"accepted twice", upload("done", func(u *Upload) { u.Accepts = 2 }), dynamics(1), nil, true, "202 Accepted 2 times", false},
		{"never accepted", upload("", func(u *Upload) { u.Accepted = false }), dynamics(0), nil, true, "never accepted", false},
		{"bad, failed, nothing written", upload("failed", func(u *Upload) { u.Bad = true }), dynamics(0), nil, true, "", false},
		{"bad, failed, written", upload("failed", func(u *Upload) { u.Bad = true }), dynamics(1), nil, true, "one transaction", false},
		{"bad but done", upload("done", func(u *Upload) { u.Bad = true }), dynamics(1), nil, true, "should have refused", false},
		{"valid but failed", upload("failed", nil), dynamics(0), nil, true, "the report is valid", false},
		{"failed without reason", upload("failed", func(u *Upload) { u.Bad, u.Final.LastError = true, nil }), dynamics(0), nil, true, "without a reason", false},
		{"parked, user away", upload("parked", nil), dynamics(0), nil, false, "", false},
		{"parked, user signed in", upload("parked", nil), dynamics(0), nil, true, "still parked", false},
		{"queued: lost", upload("queued", nil), dynamics(0), nil, true, "lost", false},
		{"queued, bus restarted before", upload("queued", nil), dynamics(0), []time.Time{time.Unix(50, 0)}, true, "lost", false},
		{"queued, bus restarted after", upload("queued", nil), dynamics(0), restart, true, "", true},
	}
	for _, tc := range tests {
		f, stranded, _ := CheckUploads([]*Upload{tc.up}, tc.d, tc.restarts, tc.signedIn)
		got := strings.Join(f.Violations, "; ")
		if tc.violation == "" && got != "" || tc.violation != "" && !strings.Contains(got, tc.violation) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.violation)
		}
		if (len(stranded) > 0) != tc.stranded {
			t.Errorf("%s: stranded %v, want %v", tc.name, stranded, tc.stranded)
		}
	}
}

func TestCheckMirror(t *testing.T) {
	d := Dynamics{"accounts": {"1": {"@odata.etag": `W/"5"`, "name": "A", "telephone1": "x"}, "2": {"@odata.etag": `W/"6"`, "name": "B"}}}
	row := func(etag, name string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"@odata.etag": etag, "name": name})
		return b
	}
	tests := []struct {
		name      string
		app       map[string]json.RawMessage
		violation string
	}{
		{"equal", map[string]json.RawMessage{"1": row(`W/"5"`, "A"), "2": row(`W/"6"`, "B")}, ""},
		{"stale version", map[string]json.RawMessage{"1": row(`W/"4"`, "A"), "2": row(`W/"6"`, "B")}, "@odata.etag"},
		{"stale value", map[string]json.RawMessage{"1": row(`W/"5"`, "old"), "2": row(`W/"6"`, "B")}, "name is old"},
		{"missing", map[string]json.RawMessage{"1": row(`W/"5"`, "A")}, "accounts/2 is in Dynamics, not in the mirror"},
		{"deleted in Dynamics", map[string]json.RawMessage{"1": row(`W/"5"`, "A"), "2": row(`W/"6"`, "B"), "3": row(`W/"1"`, "C")}, "accounts/3 is in the mirror"},
	}
	for _, tc := range tests {
		f := CheckMirror("alice", map[string]map[string]json.RawMessage{"accounts": tc.app}, d, []string{"accounts"})
		got := strings.Join(f.Violations, "; ")
		if tc.violation == "" && got != "" || tc.violation != "" && !strings.Contains(got, tc.violation) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.violation)
		}
	}
}

func TestCheckNoDuplicates(t *testing.T) {
	d := Dynamics{
		"accounts":     {"1": {"accountnumber": "A-1"}, "2": {"accountnumber": "A-1"}, "3": {"accountnumber": "A-2"}},
		"appointments": {"1": {"subject": "Chaos meeting u1"}, "2": {"subject": "Chaos meeting u1"}, "3": {"subject": "Weekly"}, "4": {"subject": "Weekly"}},
	}
	f := CheckNoDuplicates(d, map[string]bool{"Chaos meeting u1": true})
	got := strings.Join(f.Violations, "; ")
	if len(f.Violations) != 2 || !strings.Contains(got, `accountnumber "A-1"`) || !strings.Contains(got, `subject "Chaos meeting u1"`) {
		t.Errorf("violations %q; want the two accounts A-1 and the two uploaded meetings (not the seeded Weekly ones)", got)
	}
}

func TestCheckNoSecrets(t *testing.T) {
	logs := map[string]string{"handler": `{"msg":"refreshed","user":"u1"}`, "bus": "send id=x token=eyJhbGciOi"}
	f := CheckNoSecrets(logs, []string{"eyJ", "s3cret", ""})
	if len(f.Violations) != 1 || !strings.Contains(f.Violations[0], "bus") {
		t.Errorf("violations %q; want one, in the bus log", f.Violations)
	}
}

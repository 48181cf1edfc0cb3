package dataversesim

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestPrivilegeDenied: a table access the users' security role lacks is
// refused as Dataverse refuses it (403, 0x80040220, "Principal user ... is
// missing prv<Access><Entity> privilege"), inside a $batch too, and works
// again once granted; the simulator's own controls are not affected.
func TestPrivilegeDenied(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 2})
	missing := regexp.MustCompile(`^Principal user \(Id=[0-9a-f-]{36}, type=8\) is missing (prv\w+) privilege \(Id=[0-9a-f-]{36}\)$`)
	if err := s.SetPrivilege("accounts", AccessRead, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPrivilege("appointments", AccessCreate, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPrivilege("contacts", AccessWrite, false); err != nil {
		t.Fatal(err)
	}
	newAppointment := "/api/data/v9.2/appointments(" + uuid.NewString() + ")"
	existingContact := "/api/data/v9.2/contacts(" + s.IDs("contacts")[0] + ")"
	newContact := "/api/data/v9.2/contacts(" + uuid.NewString() + ")"
	tests := []struct {
		method, path, body string
		want               string // the privilege named, "" for allowed
	}{
		{"GET", "/api/data/v9.2/accounts?$select=name&$top=1", "", "prvReadAccount"},
		{"GET", "/api/data/v9.2/contacts?$select=fullname&$top=1", "", ""},
		{"POST", "/api/data/v9.2/appointments", `{"subject":"x"}`, "prvCreateActivity"},
		{"POST", "/api/data/v9.2/accounts", `{"name":"allowed"}`, ""},
		// A PATCH is an upsert: creating needs create, updating needs write.
		{"PATCH", newAppointment, `{"subject":"x"}`, "prvCreateActivity"},
		{"PATCH", existingContact, `{"firstname":"x"}`, "prvWriteContact"},
		{"PATCH", newContact, `{"firstname":"x"}`, ""},
	}
	for _, tc := range tests {
		r := send(t, srv, tc.method, tc.path, tc.body, "Content-Type", "application/json")
		code, msg := r.errorCode()
		if tc.want == "" {
			if r.status >= 400 {
				t.Errorf("%s %s = %d %s, want it allowed", tc.method, tc.path, r.status, r.body)
			}
			continue
		}
		m := missing.FindStringSubmatch(msg)
		if r.status != 403 || code != "0x80040220" || m == nil || m[1] != tc.want {
			t.Errorf("%s %s = %d %s %q, want 403 0x80040220 naming %s", tc.method, tc.path, r.status, code, msg, tc.want)
		}
	}
	if _, ok := s.GetRow("accounts", s.IDs("accounts")[0]); !ok {
		t.Errorf("GetRow (a control) was refused with the privilege taken away")
	}
	r := send(t, srv, "PUT", "/_sim/privileges", `{"entitySet":"accounts","access":"read","granted":true}`)
	if r.status != 204 {
		t.Fatalf("PUT /_sim/privileges = %d %s", r.status, r.body)
	}
	if r := send(t, srv, "GET", "/api/data/v9.2/accounts?$select=name&$top=1", ""); r.status != 200 {
		t.Errorf("read after the privilege was granted again = %d %s", r.status, r.body)
	}
	for _, bad := range []string{`{"entitySet":"accounts","access":"append","granted":false}`, `{"entitySet":"nothing","access":"read","granted":false}`} {
		if r := send(t, srv, "PUT", "/_sim/privileges", bad); r.status != 400 {
			t.Errorf("PUT /_sim/privileges %s = %d, want 400", bad, r.status)
		}
	}
}

// TestChangeTrackingSwitch: with change tracking turned off, the metadata
// says so and a change-tracking read is refused; on again, it works.
func TestChangeTrackingSwitch(t *testing.T) {
	_, srv := newTestServer(t, Options{Seed: 2})
	track := func() result {
		return send(t, srv, "GET", "/api/data/v9.2/contacts?$select=fullname", "", "Prefer", "odata.track-changes")
	}
	if r := send(t, srv, "PUT", "/_sim/tables/contacts/changetracking", `{"enabled":false}`); r.status != 204 {
		t.Fatalf("turn change tracking off = %d %s", r.status, r.body)
	}
	meta := send(t, srv, "GET", "/api/data/v9.2/EntityDefinitions(LogicalName='contact')?$select=ChangeTrackingEnabled", "")
	if !strings.Contains(meta.body, `"ChangeTrackingEnabled":false`) {
		t.Errorf("metadata with change tracking off = %s", meta.body)
	}
	if r := track(); r.status != 400 || !strings.Contains(r.body, "isn't enabled for change tracking") {
		t.Errorf("change-tracking read with it off = %d %s, want 400", r.status, r.body)
	}
	send(t, srv, "PUT", "/_sim/tables/contacts/changetracking", `{"enabled":true}`)
	if r := track(); r.status != 200 {
		t.Errorf("change-tracking read with it on again = %d %s", r.status, r.body)
	}
	if r := send(t, srv, "PUT", "/_sim/tables/nothing/changetracking", `{"enabled":true}`); r.status != 404 {
		t.Errorf("unknown set = %d, want 404", r.status)
	}
}

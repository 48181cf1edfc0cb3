package dataversesim

import (
	"strings"
	"testing"
	"time"
)

func TestWebAPIAnswers(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 12})
	acc := SeedID("accounts", 1)
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		header     []string
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{"unknown set", "GET", "/api/data/v9.2/Account", "", nil, 404, "0x8006088a", "Resource not found for the segment 'Account'."},
		{"unknown column", "GET", "/api/data/v9.2/accounts?$select=Name", "", nil, 400, "0x0", "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'."},
		{"$skip refused", "GET", "/api/data/v9.2/accounts?$skip=2", "", nil, 400, "0x0", "$skip"},
		{"unterminated literal", "GET", "/api/data/v9.2/contacts?$filter=lastname%20eq%20'O'Bryan'", "", nil, 400, "0x0", "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''."},
		{"type mismatch", "GET", "/api/data/v9.2/accounts?$filter=numberofemployees%20eq%20'x'", "", nil, 400, "0x0", "incompatible types"},
		{"tracking refuses $filter", "GET", "/api/data/v9.2/accounts?$filter=name%20eq%20'x'", "", []string{"Prefer", "odata.track-changes"}, 400, "0x0", `The "$filter" query parameter isn't supported when Change Tracking is enabled.`},
		{"tracking refuses $top", "GET", "/api/data/v9.2/accounts?$top=1", "", []string{"Prefer", "odata.track-changes"}, 400, "0x0", `The "$top" query parameter`},
		{"tampered skiptoken", "GET", "/api/data/v9.2/accounts?$skiptoken=%3Ccookie%20pagenumber%3D%222%22%20/%3E", "", nil, 400, "0x0", "$skiptoken"},
		{"missing row", "GET", "/api/data/v9.2/accounts(5a2b8a1e-0000-4000-8000-0000000000aa)", "", nil, 404, "0x80040217", "account With Id = 5a2b8a1e-0000-4000-8000-0000000000aa Does Not Exist"},
		{"unknown alternate key", "GET", "/api/data/v9.2/accounts(name='x')", "", nil, 400, "0x0", "alternate key"},
		{"WhoAmI by POST", "POST", "/api/data/v9.2/WhoAmI", "", nil, 404, "", "No HTTP resource was found that matches the request URI"},
		{"create-only upsert of existing", "PATCH", "/api/data/v9.2/accounts(" + acc + ")", `{"name":"x"}`, []string{"If-None-Match", "*"}, 412, "", "A record with matching key values already exists."},
		{"update-only upsert of missing", "PATCH", "/api/data/v9.2/accounts(accountnumber='none')", `{"name":"x"}`, []string{"If-Match", "*"}, 404, "0x80060891", "does not exist"},
		{"stale etag", "DELETE", "/api/data/v9.2/accounts(" + acc + ")", "", []string{"If-Match", `W/"1"`}, 412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."},
		{"stale etag on update", "PATCH", "/api/data/v9.2/accounts(" + acc + ")", `{"name":"x"}`, []string{"If-Match", `W/"1"`}, 412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."},
		{"If-Match that is no etag", "PATCH", "/api/data/v9.2/accounts(" + acc + ")", `{"name":"x"}`, []string{"If-Match", "nonsense"}, 412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."},
		{"etag on a missing row", "PATCH", "/api/data/v9.2/accounts(5a2b8a1e-0000-4000-8000-0000000000aa)", `{"name":"x"}`, []string{"If-Match", `W/"1"`}, 404, "0x80040217", "account With Id = 5a2b8a1e-0000-4000-8000-0000000000aa Does Not Exist"},
		{"etag delete of a missing row", "DELETE", "/api/data/v9.2/accounts(5a2b8a1e-0000-4000-8000-0000000000aa)", "", []string{"If-Match", `W/"1"`}, 404, "0x80040217", "Does Not Exist"},
		{"duplicate alternate key", "POST", "/api/data/v9.2/accounts", `{"accountnumber":"ACC-000002"}`, nil, 412, "0x80040237", "matching key values"},
		{"bad JSON", "POST", "/api/data/v9.2/accounts", `{"name":`, nil, 400, "0x80048d19", "Payload"},
		{"read-only body column ignored", "POST", "/api/data/v9.2/accounts", `{"name":"x","modifiedon":"2001-01-01T00:00:00Z"}`, nil, 204, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, srv, tt.method, tt.path, tt.body, tt.header...)
			code, msg := r.errorCode()
			if r.status != tt.wantStatus || code != tt.wantCode || !strings.Contains(msg, tt.wantText) {
				t.Errorf("got %d %q %q, want %d %q containing %q", r.status, code, msg, tt.wantStatus, tt.wantCode, tt.wantText)
			}
			if r.status >= 400 && r.header.Get("Content-Type") != "application/json; odata.metadata=minimal" || r.header.Get("OData-Version") != "4.0" {
				t.Errorf("headers %v", r.header)
			}
		})
	}
	if n := s.Count("accounts"); n != 13 {
		t.Errorf("accounts = %d, want 12 seeded + 1 created", n)
	}
}

func TestPagingAndCounting(t *testing.T) {
	_, srv := newTestServer(t, Options{Seed: 12})
	r := send(t, srv, "GET", "/api/data/v9.2/accounts?$select=name&$top=2", "", "Prefer", "odata.maxpagesize=5")
	if strings.Count(r.body, `"@odata.etag"`) != 5 || !strings.Contains(r.body, "@odata.nextLink") || r.header.Get("Preference-Applied") != "odata.maxpagesize=5" {
		t.Errorf("$top with maxpagesize must be ignored: %s %v", r.body, r.header)
	}
	r = send(t, srv, "GET", "/api/data/v9.2/accounts?$top=2", "")
	if strings.Count(r.body, `"@odata.etag"`) != 2 || strings.Contains(r.body, "nextLink") {
		t.Errorf("$top alone: %s", r.body)
	}
	r = send(t, srv, "GET", "/api/data/v9.2/accounts?$count=true&$select=name", "", "Prefer", `odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"`)
	if !strings.Contains(r.body, `"@odata.count":12`) || !strings.Contains(r.body, `"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded":false`) {
		t.Errorf("$count: %s", r.body)
	}
	r = send(t, srv, "GET", "/api/data/v9.2/accounts/$count", "")
	if r.body != "12" || r.header.Get("Content-Type") != "text/plain" {
		t.Errorf("/$count = %q %s", r.body, r.header.Get("Content-Type"))
	}
	r = send(t, srv, "GET", "/api/data/v9.2/accounts?$select=name", "", "Prefer", "odata.maxpagesize=9000")
	if r.header.Get("Preference-Applied") != "odata.maxpagesize=5000" {
		t.Errorf("a page size above 5000 is clamped: %v", r.header)
	}
}

func TestConditionalGetAndProperties(t *testing.T) {
	_, srv := newTestServer(t, Options{Seed: 1})
	path := "/api/data/v9.2/accounts(" + SeedID("accounts", 0) + ")"
	r := send(t, srv, "GET", path+"?$select=name", "")
	etag := r.header.Get("ETag")
	if r := send(t, srv, "GET", path+"?$select=name", "", "If-None-Match", etag); r.status != 304 {
		t.Errorf("unchanged row with its ETag: %d, want 304", r.status)
	}
	if r := send(t, srv, "GET", path+"?$expand=primarycontactid", "", "If-None-Match", etag); r.status != 200 {
		t.Errorf("with $expand: %d, want 200 (never 304)", r.status)
	}
	if r := send(t, srv, "PUT", path+"/telephone1", `{"value":"123"}`); r.status != 204 {
		t.Fatalf("PUT property: %d %s", r.status, r.body)
	}
	if r := send(t, srv, "GET", path+"/telephone1/$value", ""); r.body != "123" {
		t.Errorf("property $value = %q", r.body)
	}
	if r := send(t, srv, "GET", path+"?$select=name", "", "If-None-Match", etag); r.status != 200 {
		t.Errorf("changed row with its old ETag: %d, want 200", r.status)
	}
	if r := send(t, srv, "DELETE", path+"/primarycontactid/$ref", ""); r.status != 204 {
		t.Fatalf("DELETE $ref: %d %s", r.status, r.body)
	}
	if r := send(t, srv, "GET", path+"?$select=_primarycontactid_value", ""); !strings.Contains(r.body, `"_primarycontactid_value":null`) {
		t.Errorf("after DELETE $ref: %s", r.body)
	}
	if r := send(t, srv, "PUT", path+"/primarycontactid/$ref", `{"@odata.id":"contacts(`+SeedID("contacts", 0)+`)"}`); r.status != 204 {
		t.Fatalf("PUT $ref: %d %s", r.status, r.body)
	}
	r = send(t, srv, "GET", path+"?$select=_primarycontactid_value", "", "Prefer", `odata.include-annotations="*"`)
	if !strings.Contains(r.body, `"_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"contact"`) {
		t.Errorf("lookup annotation missing: %s", r.body)
	}
}

func TestDeltaCountAndUntouchedDelta(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 3})
	r := send(t, srv, "GET", "/api/data/v9.2/contacts?$select=lastname", "", "Prefer", "odata.track-changes")
	i := strings.Index(r.body, "$deltatoken=")
	tok := r.body[i+len("$deltatoken=") : strings.LastIndex(r.body, `"`)]
	if err := s.DeleteRow("contacts", SeedID("contacts", 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRow("contacts", SeedID("contacts", 1), map[string]any{"jobtitle": "x"}); err != nil {
		t.Fatal(err)
	}
	if r := send(t, srv, "GET", "/api/data/v9.2/contacts/$count?$deltatoken="+tok, ""); r.body != "2" {
		t.Errorf("/$count with a delta token = %q, want 2", r.body)
	}
	r = send(t, srv, "GET", "/api/data/v9.2/contacts?$select=lastname&$deltatoken="+tok, "")
	if !strings.Contains(r.body, "$metadata#contacts(lastname)/$delta") || !strings.Contains(r.body, `"reason":"deleted"`) {
		t.Errorf("delta: %s", r.body)
	}
	s.Advance(8 * 24 * time.Hour) // beyond the default 7 days
	if code, _ := send(t, srv, "GET", "/api/data/v9.2/contacts?$deltatoken="+tok, "").errorCode(); code != "0x80044352" {
		t.Errorf("an 8-day-old token: code %q, want ExpiredVersionStamp", code)
	}
}

func TestAppointmentActivityParties(t *testing.T) {
	_, srv := newTestServer(t, Options{Seed: 2})
	body := `{"subject":"Review","regardingobjectid_account_appointment@odata.bind":"/accounts(` + SeedID("accounts", 0) + `)",
		"appointment_activity_parties":[{"partyid_contact@odata.bind":"/contacts(` + SeedID("contacts", 1) + `)","participationtypemask":5},
		{"partyid_account@odata.bind":"/accounts(` + SeedID("accounts", 1) + `)","participationtypemask":6}]}`
	r := send(t, srv, "POST", "/api/data/v9.2/appointments", body, "Prefer", "return=representation")
	if r.status != 201 || strings.Contains(r.body, "appointment_activity_parties") {
		t.Fatalf("create with parties: %d %s", r.status, r.body)
	}
	id := r.body[strings.Index(r.body, `"activityid":"`)+14:][:36]
	r = send(t, srv, "GET", "/api/data/v9.2/appointments("+id+")?$select=subject&$expand=appointment_activity_parties", "")
	if !strings.Contains(r.body, `"_partyid_value":"`+SeedID("contacts", 1)+`","participationtypemask":5`) || strings.Count(r.body, `"activitypartyid":`) != 2 {
		t.Errorf("expanded parties: %s", r.body)
	}
	if r := send(t, srv, "GET", "/api/data/v9.2/appointments("+id+")/appointment_activity_parties", ""); r.status != 200 || strings.Count(r.body, `"activitypartyid":`) != 2 {
		t.Errorf("parties collection: %d %s", r.status, r.body)
	}
	bad := strings.Replace(body, `"participationtypemask":6`, `"participationtypemask":1`, 1)
	if r := send(t, srv, "POST", "/api/data/v9.2/appointments", bad); r.status != 400 {
		t.Errorf("sender mask on an appointment: %d %s", r.status, r.body)
	}
	if r := send(t, srv, "GET", "/api/data/v9.2/appointments?$select=appointment_activity_parties", ""); r.status != 400 {
		t.Errorf("$select of a collection: %d", r.status)
	}
}

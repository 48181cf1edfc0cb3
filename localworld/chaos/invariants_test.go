package chaos

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
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
		u.Final.LastError = &LastError{Code: "reauth_required", Message: "sign in again"}
	}
	if mod != nil {
		mod(u)
	}
	return u
}

func TestCheckUploads(t *testing.T) {
	restart := []time.Time{time.Unix(200, 0)}
	// A device's edit updates a row by id: it makes no account.
	edited := func(u *Upload) { u.AccountNumber, u.Edit = "", &DeviceEdit{Set: "accounts", ID: "a"} }
	edits := func(n int) Dynamics {
		d := dynamics(n)
		d["accounts"] = map[string]Row{"a": {"accountnumber": "SEEDED-1"}}
		return d
	}
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
		{"an edit done (no account made)", upload("done", edited), edits(1), nil, true, "", false},
		{"an edit done twice", upload("done", edited), edits(2), nil, true, "want one", false},
		{"an edit ended conflict, nothing written", upload("conflict", edited), edits(0), nil, true, "", false},
		{"an edit ended conflict, its meeting written", upload("conflict", edited), edits(1), nil, true, "nothing of a conflicting report is written", false},
		{"a report by key ended conflict", upload("conflict", nil), dynamics(0), nil, true, "updates no row by version", false},
	}
	for _, tc := range tests {
		f, stranded, _ := CheckUploads([]*Upload{tc.up}, tc.d, tc.restarts, tc.signedIn, nil)
		got := strings.Join(f.Violations, "; ")
		if tc.violation == "" && got != "" || tc.violation != "" && !strings.Contains(got, tc.violation) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.violation)
		}
		if (len(stranded) > 0) != tc.stranded {
			t.Errorf("%s: stranded %v, want %v", tc.name, stranded, tc.stranded)
		}
	}
}

// TestCheckUploadsOfADisconnectedUser: a report of a user who
// disconnected is written once or not at all, whatever the connector
// says (the erasure deleted its row); never in part, never twice, never
// accepted after the disconnect was answered.
func TestCheckUploadsOfADisconnectedUser(t *testing.T) {
	gone := map[string]Disconnection{"alice": {User: "alice", Pressed: time.Unix(300, 0), Answered: time.Unix(301, 0)}}
	half := dynamics(1)
	delete(half["annotations"], "a")
	tests := []struct {
		name      string
		up        *Upload
		d         Dynamics
		violation string
		outcome   string
	}{
		{"written before", upload("", nil), dynamics(1), "", OutcomeErasedWritten},
		{"cancelled", upload("", nil), dynamics(0), "", OutcomeErasedNotWritten},
		{"refused (403)", upload("", func(u *Upload) { u.Accepted, u.Accepts = false, 0 }), dynamics(0), "", OutcomeErasedRefused},
		{"half-written", upload("", nil), half, "half-written or written twice", ""},
		{"written twice", upload("", nil), dynamics(2), "half-written or written twice", ""},
		{"bad, written", upload("", func(u *Upload) { u.Bad = true }), dynamics(1), "should have refused", ""},
		{"bad, not written", upload("", func(u *Upload) { u.Bad = true }), dynamics(0), "", OutcomeErasedNotWritten},
		{"accepted after the answer", upload("", func(u *Upload) { u.AcceptSentAt = time.Unix(302, 0) }), dynamics(0), "after DELETE /api/connection was answered", OutcomeErasedNotWritten},
		{"accepted twice", upload("", func(u *Upload) { u.Accepts = 2 }), dynamics(1), "202 Accepted 2 times", OutcomeErasedWritten},
		{"someone else's is still judged", upload("queued", func(u *Upload) { u.User = "bob" }), dynamics(0), "lost", ""},
	}
	for _, tc := range tests {
		f, _, outcomes := CheckUploads([]*Upload{tc.up}, tc.d, nil, true, gone)
		got := strings.Join(f.Violations, "; ")
		if tc.violation == "" && got != "" || tc.violation != "" && !strings.Contains(got, tc.violation) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.violation)
		}
		if tc.outcome != "" && outcomes[tc.outcome] != 1 {
			t.Errorf("%s: outcomes %v, want %q", tc.name, outcomes, tc.outcome)
		}
	}
}

// TestCheckErased: the invariant fails on a leftover row, blob name or
// content, an erasure not completed, a missing audit row, or a scan that
// could not read everything; it holds when only others' data is left.
func TestCheckErased(t *testing.T) {
	const tenant, oid, other = "11111111-1111-4111-8111-111111111111", "AAAAAAAA-0000-4000-8000-00000000000A", "bbbbbbbb-0000-4000-8000-00000000000b"
	p := obs.NewPseudonyms([]byte("chaos-invariant-test-key-32-bytes!!"))
	user := Erased{Who: "alice", Kind: store.ErasureDisconnect, TenantID: tenant, UserID: oid, Needles: []string{oid}, Settled: true}
	const offTenant = "cccccccc-0000-4000-8000-00000000000c"
	org := Erased{Who: "tenant " + offTenant, Kind: store.ErasureOffboard, TenantID: offTenant, Needles: []string{offTenant}, Settled: true}
	audit := []store.ErasureRecord{
		{Kind: store.ErasureDisconnect, Tenant: p.Tenant(tenant), Subject: p.User(tenant, oid)},
		{Kind: store.ErasureOffboard, Tenant: p.Tenant(offTenant)},
	}
	clean := func() StorageScan {
		return StorageScan{
			Entities: []StoredEntity{
				{Table: "records", PartitionKey: tenant + "_" + other, RowKey: "accounts_1", JSON: `{"PartitionKey":"` + tenant + "_" + other + `","RowKey":"accounts_1","Data":"{}"}`},
				{Table: "tenants", PartitionKey: tenant, RowKey: "tenant", JSON: `{"PartitionKey":"` + tenant + `","RowKey":"tenant"}`},
			},
			Blobs: []StoredBlob{{Container: "documents", Name: tenant + "/" + other + "/u1/report", Content: []byte(`{"uploadId":"u1"}`)}},
			Audit: audit,
		}
	}
	tests := []struct {
		name      string
		mod       func(*StorageScan, *Erased)
		violation string
		kept      string
	}{
		{"nothing left", func(*StorageScan, *Erased) {}, "", ""},
		{"the approving administrator (documented)", func(s *StorageScan, _ *Erased) {
			s.Entities[1].JSON = `{"PartitionKey":"` + tenant + `","RowKey":"tenant","ConsentedByOID":"` + oid + `","ConsentedByName":"Alice"}`
		}, "", "table tenants: entity " + tenant + "/tenant (ConsentedByOID), as documented"},
		{"the administrator's tenant row holds more of them", func(s *StorageScan, _ *Erased) {
			s.Entities[1].JSON = `{"PartitionKey":"` + tenant + `","RowKey":"tenant","ConsentedByOID":"` + oid + `","OffboardingBy":"` + oid + `"}`
		}, "left behind in table tenants", ""},
		{"a row of the erasures table holding the user's keys", func(s *StorageScan, _ *Erased) {
			s.Entities = append(s.Entities, StoredEntity{Table: "erasures", PartitionKey: "$retention", RowKey: "connections",
				JSON: `{"PartitionKey":"$retention","RowKey":"connections","NextPartitionKey":"` + tenant + `","NextRowKey":"` + oid + `"}`})
		}, "left behind in table erasures", ""},
		{"an offboarded tenant's approver is not kept", func(s *StorageScan, _ *Erased) {
			s.Entities = append(s.Entities, StoredEntity{Table: "tenants", PartitionKey: offTenant, RowKey: "tenant",
				JSON: `{"PartitionKey":"` + offTenant + `","RowKey":"tenant","ConsentedByOID":"x"}`})
		}, "tenant " + offTenant + ": left behind in table tenants", ""},
		{"a leftover row", func(s *StorageScan, _ *Erased) {
			pk := tenant + "_" + strings.ToLower(oid)
			s.Entities = append(s.Entities, StoredEntity{Table: "changes", PartitionKey: pk, RowKey: "0000000001",
				JSON: `{"PartitionKey":"` + pk + `","RowKey":"0000000001","Op":"upsert"}`})
		}, "alice: left behind in table changes: entity " + tenant + "_aaaaaaaa-0000-4000-8000-00000000000a/0000000001 (PartitionKey)", ""},
		{"a resurrected upload row", func(s *StorageScan, _ *Erased) {
			s.Entities = append(s.Entities, StoredEntity{Table: "uploads", PartitionKey: "x", RowKey: "u7",
				JSON: `{"PartitionKey":"x","RowKey":"u7","Owner":"` + strings.ToUpper(oid) + `"}`})
		}, "table uploads: entity x/u7 (Owner)", ""},
		{"a blob under the user", func(s *StorageScan, _ *Erased) {
			s.Blobs = append(s.Blobs, StoredBlob{Container: "sync-overflow", Name: tenant + "/" + oid + "/ab.json"})
		}, "container sync-overflow: blob " + tenant + "/" + oid + "/ab.json (name)", ""},
		{"a blob naming the user", func(s *StorageScan, _ *Erased) {
			s.Blobs[0].Content = []byte(`{"owner":"` + oid + `"}`)
		}, "(content)", ""},
		{"not completed", func(_ *StorageScan, e *Erased) {
			e.Settled, e.Note = false, "GET /api/connection still 200 disconnecting"
		}, "did not complete: GET /api/connection still 200 disconnecting", ""},
		{"not audited", func(s *StorageScan, _ *Erased) { s.Audit = s.Audit[1:] }, `holds no disconnect erasure`, ""},
		{"audited as another kind", func(s *StorageScan, _ *Erased) { s.Audit[0].Kind = store.ErasureRetention }, `holds no disconnect erasure`, ""},
		{"scan incomplete", func(s *StorageScan, _ *Erased) { s.Errors = append(s.Errors, "list tables: EOF") }, "incomplete: list tables: EOF", ""},
		{"an offboarded tenant's row", func(s *StorageScan, _ *Erased) {
			s.Entities = append(s.Entities, StoredEntity{Table: "tenants", PartitionKey: offTenant, RowKey: "tenant", JSON: `{"PartitionKey":"` + offTenant + `"}`})
		}, "tenant " + offTenant + ": left behind in table tenants", ""},
	}
	for _, tc := range tests {
		s, u := clean(), user
		tc.mod(&s, &u)
		f, kept := CheckErased([]Erased{u, org}, s, p)
		got := strings.Join(f.Violations, "; ")
		if tc.violation == "" && got != "" || tc.violation != "" && !strings.Contains(got, tc.violation) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.violation)
		}
		if k := strings.Join(kept, "; "); tc.kept == "" && k != "" || tc.kept != "" && !strings.Contains(k, tc.kept) {
			t.Errorf("%s: kept %q, want %q", tc.name, k, tc.kept)
		}
		if f.Checked != 2 {
			t.Errorf("%s: checked %d, want 2", tc.name, f.Checked)
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

func TestCheckNoNames(t *testing.T) {
	f := CheckNoNames(`{"msg":"signed in","user":"p-1a2b"} {"msg":"refused","who":"DAVE@fabrikam.example"}`, []string{"Dave Fabrikam", "dave@fabrikam.example", ""})
	if len(f.Violations) != 1 || !strings.Contains(f.Violations[0], "dave@fabrikam.example") || f.Checked != 2 {
		t.Errorf("violations %q (checked %d); want the UPN, in any case", f.Violations, f.Checked)
	}
}

func TestCheckNoSecrets(t *testing.T) {
	logs := map[string]string{"handler": `{"msg":"refreshed","user":"u1"}`, "bus": "send id=x token=eyJhbGciOi"}
	f := CheckNoSecrets(logs, []string{"eyJ", "s3cret", ""})
	if len(f.Violations) != 1 || !strings.Contains(f.Violations[0], "bus") {
		t.Errorf("violations %q; want one, in the bus log", f.Violations)
	}
}

// TestCheckNoLostUpdates: hand-built journals of one account, edited by a
// colleague in Dynamics and by a device whose copy is version 5 (name
// "Old", telephone1 "1").
func TestCheckNoLostUpdates(t *testing.T) {
	row := RowRef{"accounts", "a1"}
	entry := func(v int64, values map[string]any) dataversesim.JournalEntry {
		return dataversesim.JournalEntry{Version: v, Values: values}
	}
	// edit is a device's edit of name to "d1-7" on top of version 5, ended
	// with status; done ones record version 7 as their write.
	edit := func(policy, status string, mod func(*Upload)) *Upload {
		u := &Upload{ID: "d1-7", User: "alice", Subject: "Device meeting d1-7", Accepted: true, Accepts: 1,
			Edit: &DeviceEdit{Device: 1, Set: "accounts", ID: "A1", IfMatch: `W/"5"`, Policy: policy,
				Base:    map[string]any{"name": "Old", "telephone1": "1"},
				Fields:  map[string]any{"name": "d1-7", "telephone1": "1"},
				Changed: map[string]any{"name": "d1-7"}},
			Final: Status{Status: status}}
		if status == "done" {
			u.Final.Records = append(u.Final.Records, Record{"customers[0]", "accounts", "a1", `W/"7"`})
		}
		if mod != nil {
			mod(u)
		}
		return u
	}
	written := func(fields ...string) func(*Upload) {
		return func(u *Upload) {
			u.Final.Conflicts = []Conflict{{Item: "customers[0]", EntitySet: "accounts", ID: "a1", IfMatch: `W/"5"`, ETag: `W/"6"`, Fields: fields, Written: true}}
		}
	}
	clash := func(fields ...string) func(*Upload) {
		return func(u *Upload) {
			u.Final.Conflicts = []Conflict{{Item: "customers[0]", EntitySet: "accounts", ID: "a1", IfMatch: `W/"5"`, ETag: `W/"6"`, Fields: append([]string{}, fields...)}}
		}
	}
	colleague := entry(6, map[string]any{"name": "c-1"})
	tests := []struct {
		name      string
		up        *Upload
		journal   Journal
		meeting   bool
		violation string // "" when it must hold
	}{
		{"written on its version", edit("merge", "done", nil),
			Journal{entry(7, map[string]any{"name": "d1-7", "telephone1": "1"})}, true, ""},
		{"merged next to a colleague's other field", edit("merge", "done", nil),
			Journal{entry(6, map[string]any{"telephone1": "c-1"}), entry(7, map[string]any{"name": "d1-7"})}, true, ""},
		{"a lost update", edit("client-wins", "done", nil),
			Journal{colleague, entry(7, map[string]any{"name": "d1-7"})}, true,
			`accounts/a1 name: d1-7 (based on W/"5", client-wins) wrote "d1-7" at version 7 over "c-1", set at version 6 by someone in Dynamics`},
		{"a lost update under merge", edit("merge", "done", nil),
			Journal{colleague, entry(7, map[string]any{"name": "d1-7"})}, true, "a lost update"},
		{"client-wins, the conflict recorded as written over", edit("client-wins", "done", written("name")),
			Journal{colleague, entry(7, map[string]any{"name": "d1-7"})}, true, ""},
		{"client-wins, recorded but not on that field", edit("client-wins", "done", written("telephone1")),
			Journal{colleague, entry(7, map[string]any{"name": "d1-7"})}, true, "a lost update"},
		{"client-wins, recorded but not written", edit("client-wins", "done", func(u *Upload) {
			written("name")(u)
			u.Final.Conflicts[0].Written = false
		}), Journal{colleague, entry(7, map[string]any{"name": "d1-7"})}, true, "a lost update"},
		{"a value it had seen", edit("client-wins", "done", nil),
			Journal{entry(4, map[string]any{"name": "Old"}), entry(7, map[string]any{"name": "d1-7"})}, true, ""},
		{"a later write resending the value it had seen", edit("client-wins", "done", nil),
			Journal{entry(6, map[string]any{"name": "Old", "telephone1": "d2-3"}), entry(7, map[string]any{"name": "d1-7"})}, true, ""},
		{"numbers by value, empty as null", edit("client-wins", "done", func(u *Upload) {
			u.Edit.Base["telephone1"], u.Edit.Fields["telephone1"], u.Edit.Fields["revenue"] = "", nil, json.Number("1.0")
		}), Journal{entry(7, map[string]any{"name": "d1-7", "telephone1": "", "revenue": float64(1)})}, true, ""},
		{"merge with a conflict written over", edit("merge", "done", written("name")),
			Journal{colleague, entry(7, map[string]any{"name": "d1-7"})}, true, "merge never writes over"},
		{"conflict, nothing written", edit("merge", "conflict", clash("name")), Journal{colleague}, false, ""},
		{"conflict, yet its value in the journal", edit("merge", "conflict", clash("name")),
			Journal{colleague, entry(7, map[string]any{"name": "d1-7"})}, false, `version 7 of the row holds its name "d1-7": written`},
		{"conflict, yet its meeting written", edit("merge", "conflict", clash("name")), Journal{colleague}, true, "its meeting"},
		{"conflict under client-wins", edit("client-wins", "conflict", clash("name")), Journal{colleague}, false, "client-wins writes the app's changes"},
		{"conflict on a field nobody changed", edit("merge", "conflict", clash("name")),
			Journal{entry(6, map[string]any{"telephone1": "c-1"})}, false, "ended conflict on name, which no write since its version"},
		{"conflict on a field changed before its version", edit("merge", "conflict", clash("name")),
			Journal{entry(4, map[string]any{"name": "Old"})}, false, "a false conflict"},
		{"conflict naming no field", edit("merge", "conflict", clash()), Journal{colleague}, false, "naming no field"},
		{"conflict without a conflict", edit("merge", "conflict", nil), Journal{colleague}, false, "without a conflict on the row"},
		{"conflict on a deleted row", edit("merge", "conflict", func(u *Upload) {
			u.Final.Conflicts = []Conflict{{EntitySet: "accounts", ID: "a1", Deleted: true, Fields: []string{}}}
		}), Journal{{Version: 6, Deleted: true}}, false, ""},
		{"conflict on a deleted row that is not", edit("merge", "conflict", func(u *Upload) {
			u.Final.Conflicts = []Conflict{{EntitySet: "accounts", ID: "a1", Deleted: true, Fields: []string{}}}
		}), Journal{colleague}, false, "no delete came after"},
		{"server-wins, the row changed", edit("server-wins", "conflict", clash()), Journal{entry(6, map[string]any{"description": "c-1"})}, false, ""},
		{"server-wins, the row did not change", edit("server-wins", "conflict", clash()), Journal{entry(5, map[string]any{"description": "c-1"})}, false, "a false conflict"},
		{"failed with a 412", edit("merge", "failed", func(u *Upload) {
			u.Final.LastError = &LastError{Code: "0x80060882", Message: "The version of the existing record doesn't match", HTTPStatus: 412}
		}), Journal{colleague}, false, "a 412"},
		{"its record names a colleague's write", edit("client-wins", "done", func(u *Upload) { u.Final.Records[0].ETag = `W/"8"` }),
			Journal{entry(7, map[string]any{"name": "d1-7"}), entry(8, map[string]any{"name": "c-2"})}, true,
			`its record names version 8, which set name to "c-2", not what it sent ("d1-7"); its own write is version 7`},
		{"its record names no write", edit("merge", "done", func(u *Upload) { u.Final.Records[0].ETag = `W/"9"` }),
			Journal{entry(7, map[string]any{"name": "d1-7"})}, true, "no write of the row has the version"},
		{"done without its change", edit("merge", "done", nil),
			Journal{entry(7, map[string]any{"telephone1": "1"})}, true, `does not set name to "d1-7"`},
		{"still queued: judged by CheckUploads", edit("merge", "queued", nil), Journal{colleague}, false, ""},
	}
	// The cases whose edit wrote over the colleague's value.
	overwrite := map[string]bool{"a lost update": true, "a lost update under merge": true, "client-wins, the conflict recorded as written over": true,
		"client-wins, recorded but not on that field": true, "client-wins, recorded but not written": true, "merge with a conflict written over": true}
	for _, tc := range tests {
		d := Dynamics{"appointments": {}}
		if tc.meeting {
			d["appointments"]["m"] = Row{"subject": tc.up.Subject}
		}
		f, over := CheckNoLostUpdates([]*Upload{tc.up}, map[RowRef]Journal{row: tc.journal}, d)
		got := strings.Join(f.Violations, "; ")
		if tc.violation == "" && got != "" || tc.violation != "" && !strings.Contains(got, tc.violation) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.violation)
		}
		if f.Checked != 1 {
			t.Errorf("%s: checked %d, want 1", tc.name, f.Checked)
		}
		if want := overwrite[tc.name]; (over == 1) != want {
			t.Errorf("%s: %d writes over an unseen value counted, want %v", tc.name, over, want)
		}
	}
}

// TestCheckNoLostUpdatesAttributes: of two devices' edits of one row, each
// write is judged as its own: the second, based on the first's version,
// overwrites nothing it had not seen; based on the old version, it must
// record the first's value as written over. An edit whose record names
// the other's write is caught, with its own write named.
func TestCheckNoLostUpdatesAttributes(t *testing.T) {
	row := RowRef{"contacts", "c1"}
	mk := func(id, ifMatch, etag, value string, written bool) *Upload {
		u := &Upload{ID: id, Subject: "m " + id, Accepted: true, Final: Status{Status: "done"},
			Edit: &DeviceEdit{Set: "contacts", ID: "c1", IfMatch: ifMatch, Policy: "client-wins",
				Base: map[string]any{"jobtitle": "Buyer"}, Fields: map[string]any{"jobtitle": value}, Changed: map[string]any{"jobtitle": value}}}
		u.Final.Records = append(u.Final.Records, Record{"customers[0]", "contacts", "c1", etag})
		if written {
			u.Final.Conflicts = []Conflict{{EntitySet: "contacts", ID: "c1", Fields: []string{"jobtitle"}, Written: true}}
		}
		return u
	}
	j := Journal{{Version: 11, Values: map[string]any{"jobtitle": "d1-1"}}, {Version: 12, Values: map[string]any{"jobtitle": "d2-1"}}}
	d := Dynamics{"appointments": {"1": {"subject": "m d1-1"}, "2": {"subject": "m d2-1"}}}
	for _, tc := range []struct {
		name      string
		second    *Upload
		violation string
	}{
		{"based on the first's write", func() *Upload {
			u := mk("d2-1", `W/"11"`, `W/"12"`, "d2-1", false)
			u.Edit.Base["jobtitle"] = "d1-1"
			return u
		}(), ""},
		{"based on the old version, recorded", mk("d2-1", `W/"10"`, `W/"12"`, "d2-1", true), ""},
		{"based on the old version, not recorded", mk("d2-1", `W/"10"`, `W/"12"`, "d2-1", false), `over "d1-1", set at version 11 by d1-1`},
		// Without a version in its record (a write not based on the app's
		// version, or an answer lost), the write holding its changes is its.
		{"no version recorded, recorded", mk("d2-1", `W/"10"`, "", "d2-1", true), ""},
		{"no version recorded, not recorded", mk("d2-1", `W/"10"`, "", "d2-1", false), `over "d1-1", set at version 11 by d1-1`},
		{"no version recorded, never written", mk("d2-1", `W/"10"`, "", "d2-9", false), "done, but none of the row's writes holds its changes"},
	} {
		f, _ := CheckNoLostUpdates([]*Upload{mk("d1-1", `W/"10"`, `W/"11"`, "d1-1", false), tc.second}, map[RowRef]Journal{row: j}, d)
		got := strings.Join(f.Violations, "; ")
		if tc.violation == "" && got != "" || tc.violation != "" && !strings.Contains(got, tc.violation) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.violation)
		}
	}
	// A delivery that found its own write committed (its answer lost)
	// records the row's version as it reads it then: after another edit's
	// write, that one's (seed 11, CHAOS_DURATION=4m CHAOS_USERS=3).
	for _, tc := range []struct {
		name      string
		first     *Upload
		violation string
	}{
		{"each names its own write", mk("d1-1", `W/"10"`, `W/"11"`, "d1-1", false), ""},
		{"the first names the second's write", mk("d1-1", `W/"10"`, `W/"12"`, "d1-1", false),
			`d1-1 (contacts/c1): its record names version 12, which set jobtitle to "d2-1", not what it sent ("d1-1"); its own write is version 11`},
	} {
		second := mk("d2-1", `W/"11"`, `W/"12"`, "d2-1", false)
		second.Edit.Base["jobtitle"] = "d1-1"
		f, _ := CheckNoLostUpdates([]*Upload{tc.first, second}, map[RowRef]Journal{row: j}, d)
		got := strings.Join(f.Violations, "; ")
		if tc.violation == "" && got != "" || tc.violation != "" && !strings.Contains(got, tc.violation) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.violation)
		}
	}
}

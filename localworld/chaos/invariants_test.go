package chaos

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
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

func TestCheckNoSecrets(t *testing.T) {
	logs := map[string]string{"handler": `{"msg":"refreshed","user":"u1"}`, "bus": "send id=x token=eyJhbGciOi"}
	f := CheckNoSecrets(logs, []string{"eyJ", "s3cret", ""})
	if len(f.Violations) != 1 || !strings.Contains(f.Violations[0], "bus") {
		t.Errorf("violations %q; want one, in the bus log", f.Violations)
	}
}

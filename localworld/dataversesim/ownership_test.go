package dataversesim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

const api = "/api/data/v9.2/"

// rows decodes the value array of a collection answer.
func rows(t *testing.T, r result) []map[string]any {
	t.Helper()
	var page struct {
		Value    []map[string]any `json:"value"`
		NextLink string           `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal([]byte(r.body), &page); err != nil || r.status != http.StatusOK {
		t.Fatalf("answer %d %s", r.status, r.body[:min(len(r.body), 400)])
	}
	return page.Value
}

// ids returns the values of column col of rs, sorted.
func ids(rs []map[string]any, col string) []string {
	var out []string
	for _, r := range rs {
		s, _ := r[col].(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// whoAmI returns the caller's UserId and BusinessUnitId.
func whoAmI(t *testing.T, srv *httptest.Server) (string, string) {
	t.Helper()
	var w struct{ UserId, BusinessUnitId string }
	r := send(t, srv, "GET", api+"WhoAmI", "")
	if err := json.Unmarshal([]byte(r.body), &w); err != nil || r.status != http.StatusOK {
		t.Fatalf("WhoAmI = %d %s", r.status, r.body)
	}
	return w.UserId, w.BusinessUnitId
}

// TestPrincipalsSeeded: New seeds the business unit tree (the root WhoAmI
// names and one child), a default team per unit, the seeded users and
// teams; they read through the Web API like any table, without change
// tracking, and are not among the seeded sets.
func TestPrincipalsSeeded(t *testing.T) {
	s, srv := newTestServer(t, Options{})
	root, child := BusinessUnitID.String(), ChildBusinessUnitID.String()
	units := rows(t, send(t, srv, "GET", api+"businessunits?$select=name,_parentbusinessunitid_value", ""))
	if got := ids(units, "businessunitid"); !slices.Equal(got, sorted(root, child)) {
		t.Fatalf("business units %v, want the root and the child", got)
	}
	for _, u := range units {
		parent, _ := u["_parentbusinessunitid_value"].(string)
		if (u["businessunitid"] == root) != (parent == "") || (u["businessunitid"] == child && parent != root) {
			t.Errorf("business unit %v: the child's parent must be the root, the root has none", u)
		}
	}
	users := rows(t, send(t, srv, "GET", api+"systemusers?$select=fullname,_businessunitid_value,isdisabled&$filter=isdisabled%20eq%20true", ""))
	if len(users) != 1 || users[0]["systemuserid"] != SeedUserID(3) || users[0]["fullname"] != "Drew Former" {
		t.Errorf("disabled users = %v, want Drew Former", users)
	}
	r := send(t, srv, "GET", api+"systemusers("+SeedUserID(2)+")?$select=fullname,domainname,internalemailaddress,_businessunitid_value", "")
	if !strings.Contains(r.body, `"fullname":"Casey Field"`) || !strings.Contains(r.body, `"_businessunitid_value":"`+child+`"`) {
		t.Errorf("seeded user 2 = %s", r.body)
	}
	teams := rows(t, send(t, srv, "GET", api+"teams?$select=name,teamtype,isdefault,_businessunitid_value", ""))
	if got := ids(teams, "teamid"); !slices.Equal(got, sorted(DefaultTeamID(BusinessUnitID), DefaultTeamID(ChildBusinessUnitID), SeedTeamID(0), SeedTeamID(1))) {
		t.Errorf("teams %v", got)
	}
	for _, tm := range teams {
		if tm["teamid"] == DefaultTeamID(ChildBusinessUnitID) && (tm["isdefault"] != true || tm["name"] != "Field Operations" || tm["_businessunitid_value"] != child) {
			t.Errorf("the child unit's default team = %v", tm)
		}
		if tm["teamid"] == SeedTeamID(0) && (tm["isdefault"] != false || tm["name"] != "Key Accounts" || tm["teamtype"] != float64(0)) {
			t.Errorf("seeded team 0 = %v", tm)
		}
	}
	if r := send(t, srv, "GET", api+"teams?$select=name", "", "Prefer", "odata.track-changes"); r.status != 400 || !strings.Contains(r.body, "isn't enabled for change tracking") {
		t.Errorf("change tracking on teams = %d %s, want 400", r.status, r.body)
	}
	if slices.Contains(SeededSets, "systemusers") || s.Seed(1, "teams") == nil {
		t.Errorf("the principals must not be seeded sets")
	}
	meta := send(t, srv, "GET", api+"EntityDefinitions(LogicalName='account')?$expand=Attributes", "")
	var def struct {
		OwnershipType string
		Attributes    []struct {
			LogicalName, AttributeType string
			Targets                    []string
		}
	}
	_ = json.Unmarshal([]byte(meta.body), &def)
	owner := slices.IndexFunc(def.Attributes, func(a struct {
		LogicalName, AttributeType string
		Targets                    []string
	}) bool {
		return a.LogicalName == "ownerid"
	})
	if def.OwnershipType != "UserOwned" || owner < 0 || def.Attributes[owner].AttributeType != "Owner" || !slices.Equal(def.Attributes[owner].Targets, []string{"systemuser", "team"}) {
		t.Errorf("account metadata: OwnershipType %q, ownerid %v", def.OwnershipType, def.Attributes[max(owner, 0)])
	}
}

// TestSeededOwnership: seeded row i of every set is owned by SeedOwner(i),
// with owninguser or owningteam and owningbusinessunit (the owner's unit)
// to match and the lookuplogicalname annotation when asked for; the other
// seeded columns keep their values; rows filter on the owner columns.
func TestSeededOwnership(t *testing.T) {
	_, srv := newTestServer(t, Options{Seed: 7})
	unitOf := map[string]string{SeedUserID(0): BusinessUnitID.String(), SeedUserID(1): BusinessUnitID.String(), SeedUserID(2): ChildBusinessUnitID.String(),
		SeedTeamID(0): BusinessUnitID.String(), SeedTeamID(1): ChildBusinessUnitID.String()}
	for _, set := range SeededSets {
		pk := map[string]string{"accounts": "accountid", "contacts": "contactid", "appointments": "activityid", "leads": "leadid"}[set]
		rs := rows(t, send(t, srv, "GET", api+set+"?$select=_ownerid_value,_owninguser_value,_owningteam_value,_owningbusinessunit_value", "",
			"Prefer", `odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"`))
		if len(rs) != 7 {
			t.Fatalf("%s: %d rows", set, len(rs))
		}
		for i := range 7 {
			ownerSet, owner := SeedOwner(i)
			j := slices.IndexFunc(rs, func(r map[string]any) bool { return r[pk] == SeedID(set, i) })
			r := rs[j]
			user, team := any(nil), any(nil)
			logical := "systemuser"
			if ownerSet == "teams" {
				team, logical = owner, "team"
			} else {
				user = owner
			}
			if r["_ownerid_value"] != owner || r["_owninguser_value"] != user || r["_owningteam_value"] != team ||
				r["_owningbusinessunit_value"] != unitOf[owner] || r["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] != logical {
				t.Errorf("%s row %d = %v, want owned by %s %s", set, i, r, ownerSet, owner)
			}
		}
	}
	r := send(t, srv, "GET", api+"accounts("+SeedID("accounts", 3)+")?$select=name,accountnumber,address1_city", "")
	if !strings.Contains(r.body, `"name":"Account 00003","accountnumber":"ACC-000003","address1_city":"Osaka"`) {
		t.Errorf("seeded values changed: %s", r.body)
	}
	mine := rows(t, send(t, srv, "GET", api+"accounts?$select=name&$filter=_ownerid_value%20eq%20"+SeedUserID(1)+"%20and%20statecode%20eq%200", ""))
	if got := ids(mine, "accountid"); !slices.Equal(got, sorted(SeedID("accounts", 1), SeedID("accounts", 6))) {
		t.Errorf("accounts of user 1 = %v, want rows 1 and 6", got)
	}
	field := rows(t, send(t, srv, "GET", api+"contacts?$select=lastname&$filter=_owningbusinessunit_value%20eq%20"+ChildBusinessUnitID.String(), ""))
	if got := ids(field, "contactid"); !slices.Equal(got, sorted(SeedID("contacts", 2), SeedID("contacts", 4))) {
		t.Errorf("contacts of the child unit = %v, want rows 2 (user 2) and 4 (team 1)", got)
	}
}

// TestNewRowOwner: a row created through the Web API without an owner is
// owned by the caller (whose systemuser row the simulator made on its first
// request); one created by a control method by DefaultOwnerID; an owner in
// the body wins, a user or a team, and cannot be null.
func TestNewRowOwner(t *testing.T) {
	s, srv := newTestServer(t, Options{})
	me, unit := whoAmI(t, srv)
	if me != UserID("00000000-0000-0000-0000-000000000000", insecureUser("test").oid) || unit != BusinessUnitID.String() {
		t.Errorf("WhoAmI = %s %s", me, unit)
	}
	if r := send(t, srv, "GET", api+"systemusers("+me+")?$select=fullname,isdisabled,_businessunitid_value", ""); r.status != 200 || !strings.Contains(r.body, `"_businessunitid_value":"`+unit+`"`) {
		t.Errorf("the caller's user = %d %s", r.status, r.body)
	}
	r := send(t, srv, "POST", api+"leads", `{"lastname":"Mine"}`, "Prefer", "return=representation")
	if !strings.Contains(r.body, `"_ownerid_value":"`+me+`"`) || !strings.Contains(r.body, `"_owninguser_value":"`+me+`"`) || !strings.Contains(r.body, `"_owningteam_value":null`) ||
		!strings.Contains(r.body, `"_owningbusinessunit_value":"`+unit+`"`) {
		t.Errorf("a lead created by the caller: %s", r.body)
	}
	id, err := s.CreateRow("accounts", map[string]any{"name": "By Dynamics"})
	if err != nil {
		t.Fatal(err)
	}
	if row, _ := s.GetRow("accounts", id); row["_ownerid_value"] != DefaultOwnerID || row["_owningbusinessunit_value"] != BusinessUnitID.String() {
		t.Errorf("a row created by CreateRow: %v, want owned by DefaultOwnerID", row)
	}
	r = send(t, srv, "POST", api+"contacts", `{"lastname":"Team's","ownerid@odata.bind":"/teams(`+SeedTeamID(1)+`)"}`, "Prefer", "return=representation")
	if !strings.Contains(r.body, `"_ownerid_value":"`+SeedTeamID(1)+`"`) || !strings.Contains(r.body, `"_owninguser_value":null`) ||
		!strings.Contains(r.body, `"_owningteam_value":"`+SeedTeamID(1)+`"`) || !strings.Contains(r.body, `"_owningbusinessunit_value":"`+ChildBusinessUnitID.String()+`"`) {
		t.Errorf("a contact created for team 1: %s", r.body)
	}
	for _, bad := range []struct{ name, body, want string }{
		{"null bind", `{"lastname":"x","ownerid@odata.bind":null}`, "ownerid cannot be null"},
		{"null navigation", `{"lastname":"x","ownerid":null}`, "ownerid cannot be null"},
		{"not a principal", `{"lastname":"x","ownerid@odata.bind":"/accounts(` + id + `)"}`, "systemusers or teams"},
		{"the lookup column", `{"lastname":"x","_ownerid_value":"` + me + `"}`, "Invalid property"},
		{"the owning user", `{"lastname":"x","owninguser@odata.bind":"/systemusers(` + me + `)"}`, "undeclared property"},
	} {
		if r := send(t, srv, "POST", api+"contacts", bad.body); r.status != 400 || !strings.Contains(r.body, bad.want) {
			t.Errorf("%s: %d %s, want 400 containing %q", bad.name, r.status, r.body, bad.want)
		}
	}
	if r := send(t, srv, "POST", api+"contacts", `{"lastname":"x","ownerid@odata.bind":"/systemusers(5a2b8a1e-0000-4000-8000-0000000000aa)"}`); r.status != 404 {
		t.Errorf("an unknown owner: %d %s, want 404", r.status, r.body)
	}
}

// TestAssign: reassigning (AssignRow, a PATCH of ownerid@odata.bind, a PUT
// of ownerid/$ref) changes the owner columns and the row's version, so the
// next delta read lists the row; the owner cannot be cleared. Deactivating
// is an update of statecode, listed the same way.
func TestAssign(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 3})
	acc := SeedID("accounts", 0)
	tok := deltaToken(t, send(t, srv, "GET", api+"accounts?$select=name,_ownerid_value,_owningteam_value,_owningbusinessunit_value,statecode", "", "Prefer", "odata.track-changes").body)
	before := send(t, srv, "GET", api+"accounts("+acc+")", "").header.Get("ETag")
	if err := s.AssignRow("accounts", acc, "teams", SeedTeamID(1)); err != nil {
		t.Fatal(err)
	}
	row, _ := s.GetRow("accounts", acc)
	if row["_ownerid_value"] != SeedTeamID(1) || row["_owninguser_value"] != nil || row["_owningteam_value"] != SeedTeamID(1) ||
		row["_owningbusinessunit_value"] != ChildBusinessUnitID.String() || row["@odata.etag"] == before {
		t.Errorf("after AssignRow to team 1: %v (ETag before %s)", row, before)
	}
	if err := s.UpdateRow("accounts", SeedID("accounts", 1), map[string]any{"statecode": 1}); err != nil {
		t.Fatal(err)
	}
	delta := rows(t, send(t, srv, "GET", api+"accounts?$select=name,_ownerid_value,_owningteam_value,_owningbusinessunit_value,statecode&$deltatoken="+tok, ""))
	if got := ids(delta, "accountid"); !slices.Equal(got, sorted(acc, SeedID("accounts", 1))) {
		t.Errorf("delta after the assignment and the deactivation = %v", delta)
	}
	for _, r := range delta {
		if r["accountid"] == acc && r["_owningteam_value"] != SeedTeamID(1) {
			t.Errorf("the delta shows %v, want the new owner", r)
		}
	}

	path := api + "accounts(" + acc + ")"
	if r := send(t, srv, "PATCH", path, `{"ownerid@odata.bind":"/systemusers(`+SeedUserID(1)+`)"}`, "If-Match", "*"); r.status != 204 {
		t.Fatalf("PATCH ownerid@odata.bind = %d %s", r.status, r.body)
	}
	if row, _ := s.GetRow("accounts", acc); row["_owninguser_value"] != SeedUserID(1) || row["_owningteam_value"] != nil || row["_owningbusinessunit_value"] != BusinessUnitID.String() {
		t.Errorf("after PATCH to user 1: %v", row)
	}
	if r := send(t, srv, "PUT", path+"/ownerid/$ref", `{"@odata.id":"teams(`+SeedTeamID(0)+`)"}`); r.status != 204 {
		t.Fatalf("PUT ownerid/$ref = %d %s", r.status, r.body)
	}
	if row, _ := s.GetRow("accounts", acc); row["_ownerid_value"] != SeedTeamID(0) || row["_owningteam_value"] != SeedTeamID(0) {
		t.Errorf("after PUT ownerid/$ref to team 0: %v", row)
	}
	if r := send(t, srv, "DELETE", path+"/ownerid/$ref", ""); r.status != 400 || !strings.Contains(r.body, "ownerid cannot be null") {
		t.Errorf("DELETE ownerid/$ref = %d %s, want 400", r.status, r.body)
	}
	if r := send(t, srv, "PATCH", path, `{"name":"Renamed"}`); r.status != 204 {
		t.Fatal(r.body)
	}
	if row, _ := s.GetRow("accounts", acc); row["_ownerid_value"] != SeedTeamID(0) {
		t.Errorf("an update without ownerid changed the owner: %v", row)
	}
	for _, bad := range [][2]string{{"accounts", SeedID("accounts", 2)}, {"teams", acc}} {
		if err := s.AssignRow("accounts", acc, bad[0], bad[1]); err == nil {
			t.Errorf("AssignRow to %s %s succeeded", bad[0], bad[1])
		}
	}
	if err := s.AssignRow("organizations", OrganizationID.String(), "teams", SeedTeamID(0)); err == nil {
		t.Errorf("AssignRow of the organization (not user-owned) succeeded")
	}
}

// TestTeamMembership: systemusers(<id>)/teammembership_association lists
// the user's teams (its business unit's default team, the teams it was
// added to), paged and selected like any collection, and
// teams(<id>)/teammembership_association the team's users; moving a user to
// another unit moves it between default teams, and WhoAmI follows.
func TestTeamMembership(t *testing.T) {
	s, srv := newTestServer(t, Options{})
	me, _ := whoAmI(t, srv)
	teamsOf := func(user string) []string {
		t.Helper()
		return ids(rows(t, send(t, srv, "GET", api+"systemusers("+user+")/teammembership_association?$select=teamid", "")), "teamid")
	}
	if got := teamsOf(me); !slices.Equal(got, []string{DefaultTeamID(BusinessUnitID)}) {
		t.Errorf("a new caller's teams = %v, want the root unit's default team", got)
	}
	if got := teamsOf(SeedUserID(1)); !slices.Equal(got, sorted(DefaultTeamID(BusinessUnitID), SeedTeamID(0), SeedTeamID(1))) {
		t.Errorf("user 1's teams = %v", got)
	}
	if err := s.AddTeamMember(SeedTeamID(1), me); err != nil {
		t.Fatal(err)
	}
	r := send(t, srv, "GET", api+"systemusers("+me+")/teammembership_association?$select=teamid,name", "", "Prefer", "odata.maxpagesize=1")
	var page struct {
		Context  string           `json:"@odata.context"`
		Value    []map[string]any `json:"value"`
		NextLink string           `json:"@odata.nextLink"`
	}
	_ = json.Unmarshal([]byte(r.body), &page)
	if len(page.Value) != 1 || !strings.Contains(page.NextLink, "/systemusers("+me+")/teammembership_association?") || !strings.HasSuffix(page.Context, "$metadata#teams(teamid,name)") {
		t.Fatalf("first page = %s", r.body)
	}
	next := rows(t, send(t, srv, "GET", strings.TrimPrefix(page.NextLink, srv.URL), "", "Prefer", "odata.maxpagesize=1"))
	if got := sorted(page.Value[0]["teamid"].(string), next[0]["teamid"].(string)); !slices.Equal(got, sorted(DefaultTeamID(BusinessUnitID), SeedTeamID(1))) {
		t.Errorf("two pages = %v", got)
	}
	members := ids(rows(t, send(t, srv, "GET", api+"teams("+SeedTeamID(1)+")/teammembership_association?$select=fullname", "")), "systemuserid")
	if !slices.Equal(members, sorted(SeedUserID(1), SeedUserID(2), me)) || !slices.Equal(s.TeamMembers(SeedTeamID(1)), members) {
		t.Errorf("team 1's members = %v, TeamMembers %v", members, s.TeamMembers(SeedTeamID(1)))
	}
	if err := s.RemoveTeamMember(SeedTeamID(1), me); err != nil {
		t.Fatal(err)
	}
	if got := teamsOf(me); !slices.Equal(got, []string{DefaultTeamID(BusinessUnitID)}) {
		t.Errorf("after RemoveTeamMember: %v", got)
	}
	if err := s.UpdateRow("systemusers", me, map[string]any{"businessunitid@odata.bind": "/businessunits(" + ChildBusinessUnitID.String() + ")"}); err != nil {
		t.Fatal(err)
	}
	if got := teamsOf(me); !slices.Equal(got, []string{DefaultTeamID(ChildBusinessUnitID)}) {
		t.Errorf("after the move to the child unit: %v", got)
	}
	if _, unit := whoAmI(t, srv); unit != ChildBusinessUnitID.String() {
		t.Errorf("WhoAmI BusinessUnitId = %s after the move, want the child unit", unit)
	}
	id, err := s.CreateRow("leads", map[string]any{"lastname": "x", "ownerid@odata.bind": "/systemusers(" + me + ")"})
	if err != nil {
		t.Fatal(err)
	}
	if row, _ := s.GetRow("leads", id); row["_owningbusinessunit_value"] != ChildBusinessUnitID.String() {
		t.Errorf("a lead owned by the moved caller: %v", row)
	}

	for _, bad := range []struct {
		name       string
		team, user string
	}{
		{"a default team", DefaultTeamID(BusinessUnitID), me},
		{"an unknown team", SeedID("teams", 99), me},
		{"an unknown user", SeedTeamID(0), SeedID("systemusers", 99)},
	} {
		if err := s.AddTeamMember(bad.team, bad.user); err == nil {
			t.Errorf("AddTeamMember to %s succeeded", bad.name)
		}
	}
	for _, bad := range []struct {
		method, path, header string
		status               int
	}{
		{"GET", api + "systemusers(" + me + ")/teammembership_association", "odata.track-changes", 400},
		{"POST", api + "teams(" + SeedTeamID(0) + ")/teammembership_association/$ref", "", 501},
		{"GET", api + "accounts(" + SeedID("accounts", 0) + ")/teammembership_association", "", 404},
	} {
		r := send(t, srv, bad.method, bad.path, `{"@odata.id":"systemusers(`+me+`)"}`, "Prefer", bad.header)
		if r.status != bad.status {
			t.Errorf("%s %s = %d %s, want %d", bad.method, bad.path, r.status, r.body, bad.status)
		}
	}
	if err := s.DeleteRow("teams", SeedTeamID(0)); err != nil {
		t.Fatal(err)
	}
	if got := teamsOf(SeedUserID(0)); !slices.Equal(got, []string{DefaultTeamID(BusinessUnitID)}) {
		t.Errorf("user 0's teams after team 0 was deleted: %v", got)
	}
}

// TestAdminOwnership: the admin API reassigns rows, creates users, makes a
// caller's user and changes team membership.
func TestAdminOwnership(t *testing.T) {
	s, srv := newTestServer(t, Options{Seed: 1})
	tenant, oid := "2b1c3d4e-0000-4000-8000-000000000001", "2b1c3d4e-0000-4000-8000-0000000000aa"
	caller := UserID(tenant, oid)
	acc := SeedID("accounts", 0)
	steps := []struct {
		method, path, body string
		wantStatus         int
		wantBody           string
	}{
		{"POST", "/_sim/callers", `{"tenant":"` + tenant + `","oid":"` + oid + `"}`, 200, `"id":"` + caller + `"`},
		{"POST", "/_sim/callers", `{"tenant":"` + tenant + `"}`, 400, "oid are required"},
		{"PUT", "/_sim/teams/" + SeedTeamID(0) + "/members/" + caller, "", 204, ""},
		{"GET", "/_sim/teams/" + SeedTeamID(0) + "/members", "", 200, caller},
		{"PUT", "/_sim/teams/" + DefaultTeamID(BusinessUnitID) + "/members/" + caller, "", 400, "default team"},
		{"PUT", "/_sim/teams/" + SeedID("teams", 99) + "/members/" + caller, "", 404, "Does Not Exist"},
		{"GET", "/_sim/teams/" + SeedID("teams", 99) + "/members", "", 404, "no team"},
		{"POST", "/_sim/tables/accounts/" + acc + "/assign", `{"ownerSet":"teams","ownerId":"` + SeedTeamID(0) + `"}`, 204, ""},
		{"GET", "/_sim/tables/accounts/" + acc, "", 200, `"_owningteam_value":"` + SeedTeamID(0) + `"`},
		{"POST", "/_sim/tables/accounts/" + acc + "/assign", `{"ownerSet":"accounts","ownerId":"` + acc + `"}`, 400, "user (systemusers) or a team"},
		{"POST", "/_sim/users", `{"fullname":"Mary Ann Field","businessUnitId":"` + ChildBusinessUnitID.String() + `"}`, 201, `"id"`},
		{"POST", "/_sim/users", `{"fullname":"Nobody","businessUnitId":"` + SeedID("businessunits", 99) + `"}`, 400, "Does Not Exist"},
		{"DELETE", "/_sim/teams/" + SeedTeamID(0) + "/members/" + caller, "", 204, ""},
		{"GET", "/_sim/state", "", 200, `"teams":4`},
	}
	for _, st := range steps {
		r := send(t, srv, st.method, st.path, st.body)
		if r.status != st.wantStatus || !strings.Contains(r.body, st.wantBody) {
			t.Errorf("%s %s: %d %s, want %d containing %q", st.method, st.path, r.status, r.body, st.wantStatus, st.wantBody)
		}
	}
	if slices.Contains(s.TeamMembers(SeedTeamID(0)), caller) {
		t.Errorf("the caller is still in team 0 after the DELETE")
	}
	r := send(t, srv, "GET", api+"systemusers?$select=firstname,lastname,fullname&$filter=fullname%20eq%20'Mary%20Ann%20Field'", "")
	if u := rows(t, r); len(u) != 1 || u[0]["firstname"] != "Mary Ann" || u[0]["lastname"] != "Field" {
		t.Errorf("the created user: %s", r.body)
	}
}

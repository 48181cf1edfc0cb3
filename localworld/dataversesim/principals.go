package dataversesim

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// The principals that own rows (docs/reference/dataverse-webapi.md §6.4):
// business units, users (systemusers) and teams, with teammembership_association
// between users and teams. New seeds a business unit tree, users and teams
// (seedPrincipals); every caller of the Web API gets a user of its own the
// first time the simulator sees it (ensureCaller).

// ChildBusinessUnitID is the seeded business unit under the root
// (BusinessUnitID): "Field Operations".
var ChildBusinessUnitID = uuid.NewSHA1(seedNamespace, []byte("businessunits/1"))

// How many users and teams New seeds besides the business units' default
// teams: SeedUserID(0 .. SeedUsers-1), SeedTeamID(0 .. SeedTeams-1).
const (
	SeedUsers = 4
	SeedTeams = 2
)

// SeedUserID is the systemuserid of seeded user i:
//
//	0 Avery Admin   root unit     DefaultOwnerID; member of team 0
//	1 Blake Seller  root unit     member of teams 0 and 1
//	2 Casey Field   child unit    member of team 1
//	3 Drew Former   root unit     disabled (isdisabled), owns nothing
func SeedUserID(i int) string { return SeedID("systemusers", i) }

// SeedTeamID is the teamid of seeded owner team i: 0 "Key Accounts" in the
// root unit, 1 "Field Sales" in the child unit.
func SeedTeamID(i int) string { return SeedID("teams", i) }

// DefaultTeamID is the teamid of the default team of a seeded business unit
// (BusinessUnitID or ChildBusinessUnitID): named like the unit, isdefault
// true, its members are the unit's users, whoever they are.
func DefaultTeamID(businessUnitID uuid.UUID) string {
	return uuid.NewSHA1(seedNamespace, []byte("teams/default/"+businessUnitID.String())).String()
}

// DefaultOwnerID is the user that owns rows created by the control methods
// (CreateRow, AttachFile, the admin API) when their values name no owner:
// seeded user 0, Avery Admin, in the root business unit.
var DefaultOwnerID = SeedUserID(0)

// SeedOwner is the owner Seed gives seeded row i of every set: by i%5,
// seeded users 0, 1 and 2, then seeded teams 0 and 1. It returns the
// owner's entity set (systemusers or teams) and id.
func SeedOwner(i int) (set, id string) {
	if k := i % 5; k < 3 {
		return "systemusers", SeedUserID(k)
	}
	return "teams", SeedTeamID(i%5 - 3)
}

var seedUsers = [SeedUsers]struct {
	first, last string
	unit        uuid.UUID
	disabled    bool
}{
	{"Avery", "Admin", BusinessUnitID, false},
	{"Blake", "Seller", BusinessUnitID, false},
	{"Casey", "Field", ChildBusinessUnitID, false},
	{"Drew", "Former", BusinessUnitID, true},
}

var seedTeams = [SeedTeams]struct {
	name    string
	unit    uuid.UUID
	members []int // seeded users
}{
	{"Key Accounts", BusinessUnitID, []int{0, 1}},
	{"Field Sales", ChildBusinessUnitID, []int{1, 2}},
}

// seedPrincipals creates the business units, their default teams, the
// seeded users and teams and the teams' members; the caller holds the lock.
func (s *Sim) seedPrincipals() {
	st := &s.st
	st.members = map[string]map[string]bool{}
	ref := func(set, id string) lookupValue { return lookupValue{id: id, set: set} }
	units, users, teams := st.tables["businessunits"], st.tables["systemusers"], st.tables["teams"]
	put := func(t *table, id string, values map[string]any) {
		vals := make([]any, len(t.attrs))
		vals[t.pk] = id
		for k, v := range values {
			vals[t.byJSON[k]] = v
		}
		st.insert(t, vals)
	}
	put(units, BusinessUnitID.String(), map[string]any{"name": "Simulated Organization"})
	put(units, ChildBusinessUnitID.String(), map[string]any{"name": "Field Operations",
		"_parentbusinessunitid_value": ref("businessunits", BusinessUnitID.String())})
	for _, bu := range []uuid.UUID{BusinessUnitID, ChildBusinessUnitID} {
		name := units.rows[bu.String()].vals[units.byJSON["name"]]
		put(teams, DefaultTeamID(bu), map[string]any{"name": name, "teamtype": int64(0), "isdefault": true,
			"_businessunitid_value": ref("businessunits", bu.String())})
	}
	for i, u := range seedUsers {
		login := strings.ToLower(u.first) + "@sim.example"
		put(users, SeedUserID(i), map[string]any{"firstname": u.first, "lastname": u.last, "domainname": login,
			"internalemailaddress": login, "isdisabled": u.disabled, "_businessunitid_value": ref("businessunits", u.unit.String())})
	}
	for i, tm := range seedTeams {
		put(teams, SeedTeamID(i), map[string]any{"name": tm.name, "teamtype": int64(0), "isdefault": false,
			"_businessunitid_value": ref("businessunits", tm.unit.String())})
		st.members[SeedTeamID(i)] = map[string]bool{}
		for _, m := range tm.members {
			st.members[SeedTeamID(i)][SeedUserID(m)] = true
		}
	}
}

// isMember reports whether user is a member of team: added to it, or in the
// business unit whose default team it is.
func (st *store) isMember(team, user string) bool {
	if st.members[team][user] {
		return true
	}
	teams, users := st.tables["teams"], st.tables["systemusers"]
	tr, ur := teams.rows[team], users.rows[user]
	if tr == nil || ur == nil {
		return false
	}
	if isDefault, _ := tr.vals[teams.byJSON["isdefault"]].(bool); !isDefault {
		return false
	}
	tu, ok1 := tr.vals[teams.byJSON["_businessunitid_value"]].(lookupValue)
	uu, ok2 := ur.vals[users.byJSON["_businessunitid_value"]].(lookupValue)
	return ok1 && ok2 && tu.id == uu.id
}

// ensureCaller makes sure the calling user has its systemuser row, created
// in the root business unit the first time the simulator sees it, as a user
// added to the environment would have, and returns its id.
func (s *Sim) ensureCaller(u user) string {
	id := UserID(u.tenant, u.oid)
	s.mu.RLock()
	known := s.st.tables["systemusers"].rows[id] != nil
	s.mu.RUnlock()
	if known {
		return id
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.tables["systemusers"]
	if t.rows[id] != nil {
		return id
	}
	vals := make([]any, len(t.attrs))
	vals[t.pk] = id
	vals[t.byJSON["firstname"]] = "User"
	vals[t.byJSON["lastname"]] = id[:8]
	vals[t.byJSON["isdisabled"]] = false
	vals[t.byJSON["_businessunitid_value"]] = lookupValue{id: BusinessUnitID.String(), set: "businessunits"}
	if oid, ok := canonicalID(u.oid); ok {
		vals[t.byJSON["azureactivedirectoryobjectid"]] = oid
	}
	s.st.insert(t, vals)
	return id
}

// EnsureCaller creates the systemuser row of the caller with Entra tenant
// and object id oid, as the simulator does on the caller's first request,
// and returns its id (UserID(tenant, oid)), so a test can put the caller in
// a team before it calls.
func (s *Sim) EnsureCaller(tenant, oid string) string {
	return s.ensureCaller(user{tenant: tenant, oid: oid})
}

// businessUnitOf is the business unit of user id, the root when it has no
// row; the caller holds the lock.
func (s *Sim) businessUnitOf(id string) string {
	t := s.st.tables["systemusers"]
	if r := t.rows[id]; r != nil {
		if bu, ok := r.vals[t.byJSON["_businessunitid_value"]].(lookupValue); ok {
			return bu.id
		}
	}
	return BusinessUnitID.String()
}

// ownerFor is the owner of a row c creates without naming one: the calling
// user, or DefaultOwnerID for the simulator's controls (c nil or the
// control user).
func ownerFor(c *call) lookupValue {
	if c == nil || c.user.tenant == "control" {
		return lookupValue{id: DefaultOwnerID, set: "systemusers"}
	}
	return lookupValue{id: UserID(c.user.tenant, c.user.oid), set: "systemusers"}
}

// AssignRow makes a user or a team the owner of row id of set, as
// reassigning it in Dynamics does: a PATCH of ownerid@odata.bind to
// /systemusers(<id>) or /teams(<id>). owninguser or owningteam and
// owningbusinessunit follow, and the row gets a new version, so the next
// delta read lists it.
func (s *Sim) AssignRow(set, id, ownerSet, ownerID string) error {
	if ownerSet != "systemusers" && ownerSet != "teams" {
		return fmt.Errorf("dataversesim: an owner is a user (systemusers) or a team (teams), not %q", ownerSet)
	}
	return s.UpdateRow(set, id, map[string]any{"ownerid@odata.bind": "/" + ownerSet + "(" + ownerID + ")"})
}

// CreateUser adds a user, as an administrator adding a person to the
// environment does, in business unit businessUnitID (the root when empty),
// and returns its systemuserid. fullname is split at its last space into
// firstname and lastname; fullname is computed from them.
func (s *Sim) CreateUser(fullname, businessUnitID string) (string, error) {
	if businessUnitID == "" {
		businessUnitID = BusinessUnitID.String()
	}
	name := strings.TrimSpace(fullname)
	first, last := "", name
	if i := strings.LastIndexByte(name, ' '); i >= 0 {
		first, last = strings.TrimSpace(name[:i]), name[i+1:]
	}
	return s.CreateRow("systemusers", map[string]any{"firstname": first, "lastname": last, "isdisabled": false,
		"businessunitid@odata.bind": "/businessunits(" + businessUnitID + ")"})
}

// AddTeamMember adds user userID to team teamID, as an administrator
// managing the team's members in Dynamics does. Neither row changes (the
// membership lives in the teammembership intersect table), so no delta read
// lists it. A business unit's default team cannot be changed: its members
// are the unit's users.
func (s *Sim) AddTeamMember(teamID, userID string) error {
	return asError(s.teamMember(teamID, userID, true))
}

// RemoveTeamMember takes user userID out of team teamID (no error when it
// was not a member).
func (s *Sim) RemoveTeamMember(teamID, userID string) error {
	return asError(s.teamMember(teamID, userID, false))
}

func (s *Sim) teamMember(teamID, userID string, add bool) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	teams, users := s.st.tables["teams"], s.st.tables["systemusers"]
	team, _ := canonicalID(teamID)
	user, _ := canonicalID(userID)
	tr := teams.rows[team]
	switch {
	case tr == nil:
		return errNoRow(teams, teamID)
	case users.rows[user] == nil:
		return errNoRow(users, userID)
	}
	if isDefault, _ := tr.vals[teams.byJSON["isdefault"]].(bool); isDefault {
		return errf(http.StatusBadRequest, codeQuery, "Team %s is the default team of its business unit: its members are the unit's users and cannot be added or removed.", team)
	}
	if add {
		if s.st.members[team] == nil {
			s.st.members[team] = map[string]bool{}
		}
		s.st.members[team][user] = true
	} else {
		delete(s.st.members[team], user)
	}
	return nil
}

// TeamMembers returns the ids of the users in team teamID, sorted: those
// added to it, or for a default team the users of its business unit.
func (s *Sim) TeamMembers(teamID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	team, _ := canonicalID(teamID)
	var out []string
	for _, id := range s.st.tables["systemusers"].ids {
		if s.st.isMember(team, id) {
			out = append(out, id)
		}
	}
	return out
}

// readRelated answers GET <set>(<key>)/<relation>, e.g.
// systemusers(<id>)/teammembership_association?$select=teamid: the related
// rows, queried and paged like any collection.
func (s *Sim) readRelated(c *call, t *table, r *row, rel *relation) *response {
	target := s.st.tables[rel.target]
	if e := s.checkAccess(c, target, AccessRead); e != nil {
		return errorResponse(e)
	}
	from := r.id
	return s.readRows(c, target, t.set+"("+r.id+")/"+rel.name, func(x *row) bool { return rel.related(&s.st, from, x.id) })
}

// asError turns an answer's error into the control methods' Go error.
func asError(e *apiError) error {
	if e == nil {
		return nil
	}
	return fmt.Errorf("dataversesim: %d %s: %s", e.status, e.code, e.message)
}

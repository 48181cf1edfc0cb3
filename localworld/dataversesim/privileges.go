package dataversesim

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// Accesses a security role grants on a table
// (docs/reference/dataverse-webapi.md §7: PrivilegeDenied). Append and
// AppendTo are not simulated.
const (
	AccessRead   = "read"
	AccessCreate = "create"
	AccessWrite  = "write"
	AccessDelete = "delete"
)

// privilegeEntity is the name a table's privileges carry (prvRead<name>):
// activities share the Activity privileges, notes are Note.
var privilegeEntity = map[string]string{"account": "Account", "contact": "Contact", "appointment": "Activity",
	"lead": "Lead", "annotation": "Note", "organization": "Organization", "systemuser": "User", "team": "Team",
	"businessunit": "BusinessUnit"}

// SetPrivilege grants or takes away access (AccessRead, ...) on the table
// of set from every user's security role, as an administrator editing the
// role in Dynamics would. Without it a request answers 403 PrivilegeDenied
// (0x80040220) naming the privilege, like Dataverse. The simulator's own
// controls (CreateRow, ...) are not affected.
func (s *Sim) SetPrivilege(set, access string, granted bool) error {
	switch access {
	case AccessRead, AccessCreate, AccessWrite, AccessDelete:
	default:
		return fmt.Errorf("dataversesim: access %q is not read, create, write or delete", access)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.tables[set]; !ok {
		return fmt.Errorf("dataversesim: no entity set %q", set)
	}
	if s.denied == nil {
		s.denied = map[string]bool{}
	}
	if granted {
		delete(s.denied, set+"|"+access)
	} else {
		s.denied[set+"|"+access] = true
	}
	return nil
}

// SetChangeTracking turns change tracking of the table of set on or off, as
// an administrator does in Power Apps (Table properties, Track changes).
// Off, a change-tracking read or delta link answers 400 ("isn't enabled for
// change tracking") and the table's metadata says ChangeTrackingEnabled
// false.
func (s *Sim) SetChangeTracking(set string, enabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.tables[set]
	if !ok {
		return fmt.Errorf("dataversesim: no entity set %q", set)
	}
	t.tracked = enabled
	return nil
}

// accessOf is the access a request on a table needs.
func accessOf(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return AccessRead
	case http.MethodPost:
		return AccessCreate
	case http.MethodDelete:
		return AccessDelete
	}
	return AccessWrite
}

// checkPrivilege refuses c on t when the users' role lacks the access it
// needs. A PATCH of a row is an upsert: it needs create or write depending
// on whether the row exists, so patch checks it itself (checkAccess). The
// caller holds s.mu.
func (s *Sim) checkPrivilege(c *call, t *table) *apiError {
	if c.method == http.MethodPatch && len(c.segs) == 1 {
		return nil
	}
	return s.checkAccess(c, t, accessOf(c.method))
}

// checkAccess refuses c on t when the users' role lacks access.
func (s *Sim) checkAccess(c *call, t *table, access string) *apiError {
	if c.user.tenant == "control" || !s.denied[t.set+"|"+access] {
		return nil
	}
	name := privilegeEntity[t.logical]
	if name == "" {
		name = strings.ToUpper(t.logical[:1]) + t.logical[1:]
	}
	prv := "prv" + strings.ToUpper(access[:1]) + access[1:] + name
	return errf(http.StatusForbidden, codePrivilegeDenied, "Principal user (Id=%s, type=8) is missing %s privilege (Id=%s)",
		UserID(c.user.tenant, c.user.oid), prv, uuid.NewSHA1(OrganizationID, []byte(prv)))
}

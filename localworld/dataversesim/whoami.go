package dataversesim

import (
	"fmt"
	"net/http"

	"github.com/google/uuid"
)

// UserID is the systemuserid the simulator gives the caller with Entra
// object id oid in tenant tid: the same in every run.
func UserID(tid, oid string) string {
	return uuid.NewSHA1(OrganizationID, []byte(tid+"/"+oid)).String()
}

// whoAmI answers GET WhoAmI for the calling user
// (docs/reference/dataverse-webapi.md §1.4): BusinessUnitId is the business
// unit of the caller's systemuser row.
func (s *Sim) whoAmI(c *call) *response {
	id := UserID(c.user.tenant, c.user.oid)
	var bu string
	s.locked(c, false, func() *response { bu = s.businessUnitOf(id); return nil })
	body := fmt.Sprintf(`{"@odata.context":"%s$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse","BusinessUnitId":"%s","UserId":"%s","OrganizationId":"%s"}`,
		c.base, bu, id, OrganizationID)
	return jsonResponse(http.StatusOK, []byte(body))
}

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
// (docs/reference/dataverse-webapi.md §1.4).
func (s *Sim) whoAmI(c *call) *response {
	body := fmt.Sprintf(`{"@odata.context":"%s$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse","BusinessUnitId":"%s","UserId":"%s","OrganizationId":"%s"}`,
		c.base, BusinessUnitID, UserID(c.user.tenant, c.user.oid), OrganizationID)
	return jsonResponse(http.StatusOK, []byte(body))
}

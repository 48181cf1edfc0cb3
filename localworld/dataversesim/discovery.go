package dataversesim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// serveDiscovery answers Global Discovery's Instances: the one simulated
// environment, whose ApiUrl is this simulator
// (docs/reference/dataverse-webapi.md §8).
func (s *Sim) serveDiscovery(r *http.Request, u user, _ []byte) *response {
	if r.Method != http.MethodGet {
		return errorResponse(errNoHTTPResource(r.URL.String()))
	}
	base := baseURL(r)
	env := base
	if s.envURL != "" {
		env = s.envURL
	}
	inst := map[string]any{
		"Id": OrganizationID, "UniqueName": "simorg", "UrlName": "simorg", "FriendlyName": "Simulated Organization",
		"State": 0, "Version": "9.2.0.0", "Url": env, "ApiUrl": env, "LastUpdated": "2026-01-01T00:00:00Z",
		"Region": "NA", "OrganizationType": 0, "TenantId": u.tenant, "EnvironmentId": EnvironmentID,
		"StatusMessage": 0, "TrialExpirationDate": nil, "Purpose": "", "SchemaType": "Standard",
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/discovery/v2.0/Instances")
	ctx := base + "/api/discovery/v2.0/$metadata#Instances"
	var body any = map[string]any{"@odata.context": ctx, "value": []any{inst}}
	if rest != "" {
		key := strings.Trim(rest, "()")
		if key != OrganizationID.String() && key != "UniqueName='simorg'" {
			return errorResponse(errNoSegment("Instances" + rest))
		}
		inst["@odata.context"] = ctx + "/$entity"
		body = inst
	}
	b, _ := json.Marshal(body)
	return jsonResponse(http.StatusOK, b)
}

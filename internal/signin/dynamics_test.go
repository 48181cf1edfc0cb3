package signin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
)

// The answers below are the JSON of docs/reference/dataverse-webapi.md §1.4
// and §8.
const (
	instancesJSON = `{"@odata.context":"https://globaldisco.crm.dynamics.com/api/discovery/v2.0/$metadata#Instances","value":[{"ApiUrl":"https://contoso.api.crm.dynamics.com","DatacenterId":"00000000-0000-0000-0000-000000000000","DatacenterName":null,"EnvironmentId":"5c9b1c6e-0000-4000-8000-000000000001","FriendlyName":"Contoso","Id":"4faf1f34-f06d-e511-80d0-00155db07cb1","IsUserSysAdmin":false,"LastUpdated":"2026-11-01T10:00:00Z","OrganizationType":0,"Purpose":"","Region":"EMEA","SchemaType":"Standard","State":0,"StatusMessage":0,"TenantId":"11111111-1111-4111-8111-111111111111","TrialExpirationDate":null,"UniqueName":"orgcontoso","UrlName":"contoso","Version":"9.2.25013.00180","Url":"https://contoso.crm.dynamics.com"}]}`
	whoAmIJSON    = `{"@odata.context":"https://contoso.api.crm.dynamics.com/api/data/v9.0/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse","BusinessUnitId":"ded5a64f-f06d-e511-80d0-00155db07cb1","UserId":"d96e9f55-f06d-e511-80d0-00155db07cb1","OrganizationId":"4faf1f34-f06d-e511-80d0-00155db07cb1"}`
)

func TestDataverseDynamics(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		switch r.URL.Path {
		case "/api/discovery/v2.0/Instances":
			_, _ = w.Write([]byte(instancesJSON))
		case "/api/data/v9.2/WhoAmI":
			switch {
			case r.Header.Get("OData-Version") != "4.0" || r.Method != http.MethodGet:
				w.WriteHeader(http.StatusBadRequest)
			case r.Header.Get("Authorization") == "Bearer expired":
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":{"code":"0x8005F101","message":"The requested resource requires authentication."}}`))
			case r.Header.Get("Authorization") == "Bearer busy":
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}`))
			default:
				_, _ = w.Write([]byte(whoAmIJSON))
			}
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	d := DataverseDynamics{}
	ctx := context.Background()
	list, err := d.Instances(ctx, srv.URL+"/", "tok")
	if err != nil || len(list) != 1 || list[0].OrgURL() != "https://contoso.api.crm.dynamics.com" || list[0].UniqueName != "orgcontoso" {
		t.Fatalf("Instances = %+v, %v", list, err)
	}
	who, err := d.WhoAmI(ctx, srv.URL, "tok")
	if err != nil || who.UserID != "d96e9f55-f06d-e511-80d0-00155db07cb1" {
		t.Fatalf("WhoAmI = %+v, %v", who, err)
	}
	if auth[0] != "Bearer tok" {
		t.Errorf("Authorization = %q", auth[0])
	}
	if _, err := d.WhoAmI(ctx, srv.URL, "expired"); apperr.KindOf(err) != apperr.Unauthorized {
		t.Errorf("WhoAmI with an expired token = %v, want unauthorized", err)
	}
	if _, err := d.WhoAmI(ctx, srv.URL, "busy"); apperr.KindOf(err) != apperr.Throttled {
		t.Errorf("WhoAmI when throttled = %v, want throttled", err)
	}
}

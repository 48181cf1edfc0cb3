package app_test

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// dynamicsFake is a minimal stand-in for Dataverse and Global Discovery,
// answering in the JSON of dataverse-webapi.md §1.4 and §8. Like the
// Dataverse simulator of issue 3, it accepts only RS256 tokens signed by a
// key of the Entra simulator's JWKS, with aud = its own base URL, and takes
// the user from oid. After the merge the test can use that simulator
// instead: only newDynamicsFake's two call sites change.
type dynamicsFake struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int // path -> count
}

func (f *dynamicsFake) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func newDynamicsFake(t *testing.T, entraURL, orgURL string) *dynamicsFake {
	t.Helper()
	f := &dynamicsFake{calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oid, ok := f.verify(t, entraURL, r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+entraURL+`/common/oauth2/authorize", resource_id="`+f.URL+`"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": "0x80072243", "message": "The user is not authenticated."}})
			return
		}
		f.mu.Lock()
		f.calls[r.URL.Path]++
		f.mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/discovery/v2.0/Instances":
			writeJSON(w, http.StatusOK, map[string]any{
				"@odata.context": f.URL + "/api/discovery/v2.0/$metadata#Instances",
				"value": []map[string]any{{"Id": "4faf1f34-f06d-e511-80d0-00155db07cb1", "UniqueName": "orgfabrikam", "UrlName": "fabrikam",
					"FriendlyName": "Fabrikam (test)", "State": 0, "Version": "9.2.25013.00180", "Url": orgURL, "ApiUrl": orgURL,
					"LastUpdated": "2026-11-01T10:00:00Z", "Region": "EMEA", "TenantId": "22222222-2222-4222-8222-222222222222",
					"EnvironmentId": "5c9b1c6e-0000-4000-8000-000000000001", "Purpose": "", "TrialExpirationDate": nil}},
			})
		case r.Method == http.MethodGet && (r.URL.Path == "/api/data/v9.2/WhoAmI" || r.URL.Path == "/api/data/v9.2/WhoAmI()"):
			writeJSON(w, http.StatusOK, map[string]any{
				"@odata.context": f.URL + "/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
				"BusinessUnitId": "ded5a64f-f06d-e511-80d0-00155db07cb1", "UserId": dataverseUserID(oid),
				"OrganizationId": "4faf1f34-f06d-e511-80d0-00155db07cb1"})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": "", "message": "No HTTP resource was found that matches the request URI '" + f.URL + r.URL.Path + "'."}})
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// dataverseUserID is the systemuserid the fake gives an Entra user.
func dataverseUserID(oid string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("systemuser/"+oid)).String()
}

func (f *dynamicsFake) verify(t *testing.T, entraURL string, r *http.Request) (string, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		return jwksKey(entraURL, tok.Header["kid"])
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(f.URL), jwt.WithExpirationRequired())
	if err != nil {
		t.Logf("dynamics fake %s refused a token: %v", f.URL, err)
		return "", false
	}
	oid, _ := claims["oid"].(string)
	return oid, oid != ""
}

func jwksKey(entraURL string, kid any) (*rsa.PublicKey, error) {
	resp, err := http.Get(entraURL + "/common/discovery/v2.0/keys")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		Keys []struct{ Kid, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	for _, k := range doc.Keys {
		if k.Kid == kid {
			n, _ := base64.RawURLEncoding.DecodeString(k.N)
			e, _ := base64.RawURLEncoding.DecodeString(k.E)
			return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
		}
	}
	return nil, jwt.ErrTokenUnverifiable
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

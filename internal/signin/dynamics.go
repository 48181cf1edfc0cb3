package signin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pitcher/connector/internal/apperr"
)

// Dynamics is what sign-in needs of Dynamics 365: the environments a user
// can reach (Global Discovery, dataverse-webapi.md §8) and the user's id in
// one of them (WhoAmI, §1.4). The Dataverse client (issue 3) can take this
// role; HTTPDynamics is a minimal stand-in until then.
type Dynamics interface {
	Instances(ctx context.Context, discoveryURL, accessToken string) ([]Instance, error)
	WhoAmI(ctx context.Context, orgURL, accessToken string) (WhoAmI, error)
}

// Instance is one environment listed by Global Discovery.
type Instance struct {
	ID           string `json:"Id"`
	UniqueName   string `json:"UniqueName"`
	UrlName      string `json:"UrlName"`
	FriendlyName string `json:"FriendlyName"`
	State        int    `json:"State"`
	Version      string `json:"Version"`
	URL          string `json:"Url"`
	APIURL       string `json:"ApiUrl"`
	Region       string `json:"Region"`
	TenantID     string `json:"TenantId"`
}

// OrgURL is the environment's Web API base (ApiUrl, else Url).
func (i Instance) OrgURL() string {
	if i.APIURL != "" {
		return strings.TrimRight(i.APIURL, "/")
	}
	return strings.TrimRight(i.URL, "/")
}

// WhoAmI is the answer of the WhoAmI function.
type WhoAmI struct {
	BusinessUnitID string `json:"BusinessUnitId"`
	UserID         string `json:"UserId"`
	OrganizationID string `json:"OrganizationId"`
}

// HTTPDynamics calls Global Discovery and WhoAmI over HTTP.
type HTTPDynamics struct {
	Client *http.Client
}

var _ Dynamics = HTTPDynamics{}

// Instances lists the environments the token's user can reach.
func (d HTTPDynamics) Instances(ctx context.Context, discoveryURL, accessToken string) ([]Instance, error) {
	var body struct {
		Value []Instance `json:"value"`
	}
	if err := d.get(ctx, strings.TrimRight(discoveryURL, "/")+"/api/discovery/v2.0/Instances", accessToken, &body); err != nil {
		return nil, fmt.Errorf("global discovery: %w", err)
	}
	return body.Value, nil
}

// WhoAmI returns the token's user in the environment at orgURL.
func (d HTTPDynamics) WhoAmI(ctx context.Context, orgURL, accessToken string) (WhoAmI, error) {
	var w WhoAmI
	if err := d.get(ctx, strings.TrimRight(orgURL, "/")+"/api/data/v9.2/WhoAmI", accessToken, &w); err != nil {
		return WhoAmI{}, fmt.Errorf("WhoAmI at %s: %w", orgURL, err)
	}
	if w.UserID == "" {
		return WhoAmI{}, fmt.Errorf("WhoAmI at %s answered without a UserId", orgURL)
	}
	return w, nil
}

func (d HTTPDynamics) get(ctx context.Context, u, accessToken string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	resp, err := d.Client.Do(req)
	if err != nil {
		return apperr.Wrap(apperr.Transient, err, "Dynamics is unreachable")
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return apperr.Wrap(apperr.Transient, err, "Dynamics answer was cut off")
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		kind := apperr.Permanent
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			kind = apperr.Unauthorized
		case resp.StatusCode == http.StatusForbidden:
			kind = apperr.Forbidden
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			kind = apperr.Transient
		}
		return apperr.E(kind, "Dynamics answered HTTP %d %s %s", resp.StatusCode, e.Error.Code, e.Error.Message)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return apperr.Wrap(apperr.Permanent, err, "Dynamics answered with JSON of an unexpected shape")
	}
	return nil
}

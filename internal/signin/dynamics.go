package signin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
)

// Dynamics is what sign-in needs of Dynamics 365: the environments a user can
// reach (Global Discovery, docs/reference/dataverse-webapi.md §8) and the
// user's id in one of them (WhoAmI, same file §1.4). DataverseDynamics
// answers them with the Dataverse client.
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

// DataverseDynamics answers sign-in's two questions with the Dataverse
// client, using the access token sign-in has just obtained. Sign-in runs in
// a browser request, so it retries little and does not wait out a long
// Retry-After: a throttled Dataverse is reported to the user instead.
type DataverseDynamics struct {
	// Options configure the clients; nil means SignInRetry with the shared
	// connection pool.
	Options *dataverse.Options
}

// SignInRetry is DataverseDynamics' default retry policy.
var SignInRetry = dataverse.RetryPolicy{MaxAttempts: 2, BaseDelay: 200 * time.Millisecond, MaxDelay: time.Second, MaxRetryAfter: 2 * time.Second}

var _ Dynamics = DataverseDynamics{}

func (d DataverseDynamics) options() *dataverse.Options {
	if d.Options != nil {
		return d.Options
	}
	return &dataverse.Options{Retry: SignInRetry}
}

// Instances lists the environments the token's user can reach.
func (d DataverseDynamics) Instances(ctx context.Context, discoveryURL, accessToken string) ([]Instance, error) {
	disco, err := dataverse.NewDiscovery(discoveryURL, dataverse.StaticToken(accessToken), d.options())
	if err != nil {
		return nil, apperr.Wrap(apperr.Permanent, err, "the Global Discovery URL is not usable")
	}
	list, err := disco.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("global discovery: %w", dataverse.AsAppError(err))
	}
	out := make([]Instance, len(list))
	for i, in := range list {
		out[i] = Instance{ID: in.ID, UniqueName: in.UniqueName, UrlName: in.URLName, FriendlyName: in.FriendlyName,
			State: in.State, Version: in.Version, URL: in.URL, APIURL: in.APIURL, Region: in.Region, TenantID: in.TenantID}
	}
	return out, nil
}

// WhoAmI returns the token's user in the environment at orgURL.
func (d DataverseDynamics) WhoAmI(ctx context.Context, orgURL, accessToken string) (WhoAmI, error) {
	c, err := dataverse.New(orgURL, dataverse.StaticToken(accessToken), d.options())
	if err != nil {
		return WhoAmI{}, apperr.Wrap(apperr.Permanent, err, "the Dynamics environment URL "+orgURL+" is not usable")
	}
	w, err := c.WhoAmI(ctx)
	if err != nil {
		return WhoAmI{}, fmt.Errorf("WhoAmI at %s: %w", orgURL, dataverse.AsAppError(err))
	}
	if w.UserID == "" {
		return WhoAmI{}, apperr.E(apperr.Permanent, "WhoAmI at %s answered without a UserId", orgURL)
	}
	return WhoAmI{BusinessUnitID: w.BusinessUnitID, UserID: w.UserID, OrganizationID: w.OrganizationID}, nil
}

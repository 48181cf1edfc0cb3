package dataverse

import (
	"context"
	"fmt"
	"strings"
)

// GlobalDiscoveryURL is the commercial cloud's Global Discovery service.
const GlobalDiscoveryURL = "https://globaldisco.crm.dynamics.com"

// Instance is an environment a user can reach
// (docs/reference/dataverse-webapi.md §8).
type Instance struct {
	ID            string `json:"Id"`
	UniqueName    string `json:"UniqueName"`
	URLName       string `json:"UrlName"`
	FriendlyName  string `json:"FriendlyName"`
	State         int    `json:"State"`
	Version       string `json:"Version"`
	URL           string `json:"Url"`
	APIURL        string `json:"ApiUrl"` // the environment URL for New
	Region        string `json:"Region"`
	TenantID      string `json:"TenantId"`
	EnvironmentID string `json:"EnvironmentId"`
}

// Discovery is a Global Discovery client. Its tokens are for the discovery
// service (scope GlobalDiscoveryURL+"/.default"), not for an environment.
type Discovery struct {
	c *Client
}

// NewDiscovery returns a Global Discovery client for baseURL
// (GlobalDiscoveryURL, or a simulator's URL).
func NewDiscovery(baseURL string, tokens TokenSource, opts *Options) (*Discovery, error) {
	c, err := New(strings.TrimSuffix(baseURL, "/")+"/api/data/"+DefaultAPIVersion, tokens, opts)
	if err != nil {
		return nil, err
	}
	return &Discovery{c: c}, nil
}

// Instances lists the environments the token's user can reach.
func (d *Discovery) Instances(ctx context.Context) ([]Instance, error) {
	var out struct {
		Value []Instance `json:"value"`
	}
	if err := d.c.getJSON(ctx, "/api/discovery/v2.0/Instances", &out); err != nil {
		return nil, err
	}
	if out.Value == nil {
		return nil, fmt.Errorf("dataverse: Instances answered without a value array")
	}
	return out.Value, nil
}

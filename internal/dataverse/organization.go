package dataverse

import (
	"context"
	"fmt"
)

// OrganizationSettings are the organization columns that limit the connector.
type OrganizationSettings struct {
	OrganizationID string `json:"organizationid"`
	// MaxUploadFileSize is the largest Base64 documentbody, in bytes.
	MaxUploadFileSize int64 `json:"maxuploadfilesize"`
	// ExpireChangeTrackingInDays is how long a delta token stays usable.
	ExpireChangeTrackingInDays int `json:"expirechangetrackingindays"`
}

// OrganizationSettings reads the organization row's limits.
func (c *Client) OrganizationSettings(ctx context.Context) (*OrganizationSettings, error) {
	var out struct {
		Value []OrganizationSettings `json:"value"`
	}
	if err := c.getJSON(ctx, "organizations?$select=maxuploadfilesize,expirechangetrackingindays", &out); err != nil {
		return nil, err
	}
	if len(out.Value) != 1 {
		return nil, fmt.Errorf("dataverse: organizations answered %d rows, want 1", len(out.Value))
	}
	return &out.Value[0], nil
}

package dataverse

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// WhoAmI identifies the caller in the environment.
type WhoAmI struct {
	UserID         string `json:"UserId"`
	BusinessUnitID string `json:"BusinessUnitId"`
	OrganizationID string `json:"OrganizationId"`
}

// WhoAmI asks Dataverse who the token belongs to: the cheapest check that
// the URL, the token and the user's access all work.
func (c *Client) WhoAmI(ctx context.Context) (*WhoAmI, error) {
	var w WhoAmI
	if err := c.getJSON(ctx, "WhoAmI", &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// getJSON GETs path and decodes the answer into out.
func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.send(ctx, Request{Method: http.MethodGet, Path: path}, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("dataverse: GET %s: decode answer: %w", path, err)
	}
	return nil
}

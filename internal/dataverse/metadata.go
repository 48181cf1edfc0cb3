package dataverse

import (
	"context"
	"fmt"
	"net/url"
)

// EntityDefinition is the metadata the connector needs about a table.
type EntityDefinition struct {
	LogicalName                    string `json:"LogicalName"`
	EntitySetName                  string `json:"EntitySetName"`
	PrimaryIDAttribute             string `json:"PrimaryIdAttribute"`
	PrimaryNameAttribute           string `json:"PrimaryNameAttribute"`
	ChangeTrackingEnabled          bool   `json:"ChangeTrackingEnabled"`
	IsOptimisticConcurrencyEnabled bool   `json:"IsOptimisticConcurrencyEnabled"`
}

const definitionColumns = "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,ChangeTrackingEnabled,IsOptimisticConcurrencyEnabled"

// EntityDefinition reads the metadata of the table with logicalName
// ("account"); IsNotFound if there is none.
func (c *Client) EntityDefinition(ctx context.Context, logicalName string) (*EntityDefinition, error) {
	var d EntityDefinition
	path := "EntityDefinitions(LogicalName=" + escapeKey(Literal(logicalName)) + ")?$select=" + definitionColumns
	if err := c.getJSON(ctx, path, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// EntityDefinitions lists the tables, only those with change tracking
// enabled when trackedOnly is set.
func (c *Client) EntityDefinitions(ctx context.Context, trackedOnly bool) ([]EntityDefinition, error) {
	path := "EntityDefinitions?$select=" + definitionColumns
	if trackedOnly {
		path += "&$filter=" + url.PathEscape("ChangeTrackingEnabled eq true")
	}
	var out struct {
		Value []EntityDefinition `json:"value"`
	}
	if err := c.getJSON(ctx, path, &out); err != nil {
		return nil, err
	}
	if out.Value == nil {
		return nil, fmt.Errorf("dataverse: EntityDefinitions answered without a value array")
	}
	return out.Value, nil
}

// Package store keeps the connector's state in Azure Table Storage.
package store

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/identity"
)

// NewServiceClient returns a Table service client for the storage settings:
// key-based from a connection string (Azurite locally), identity-based
// otherwise. It does not contact the service.
func NewServiceClient(s config.Storage) (*aztables.ServiceClient, error) {
	if s.ConnectionString != "" {
		c, err := aztables.NewServiceClientFromConnectionString(s.ConnectionString, nil)
		if err != nil {
			return nil, fmt.Errorf("store: table client from connection string: %w", err)
		}
		return c, nil
	}
	cred, err := identity.Credential(s.ClientID)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	c, err := aztables.NewServiceClient(s.TableServiceURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("store: table client for %s: %w", s.TableServiceURL, err)
	}
	return c, nil
}

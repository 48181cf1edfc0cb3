package app

import (
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/store"
)

// Clients turns connection settings into Azure SDK clients: key-based from
// a connection string (Azurite and the Service Bus fake locally),
// identity-based otherwise. Every identity-based client of the process
// shares one credential per managed identity, made on first use, so tokens
// for Storage and Service Bus are fetched and cached once. The zero value
// is ready; it is safe for concurrent use. No other package makes clients
// from settings.
type Clients struct {
	mu    sync.Mutex
	creds map[string]azcore.TokenCredential
}

// credential returns the credential of the user-assigned managed identity
// clientID, or, for "", the default chain (on a developer machine, their
// Azure CLI login).
func (c *Clients) credential(clientID string) (azcore.TokenCredential, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cred, ok := c.creds[clientID]; ok {
		return cred, nil
	}
	var cred azcore.TokenCredential
	var err error
	if clientID != "" {
		cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)})
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("Azure credential (managed identity %q): %w", clientID, err)
	}
	if c.creds == nil {
		c.creds = map[string]azcore.TokenCredential{}
	}
	c.creds[clientID] = cred
	return cred, nil
}

// Tables returns the Table service client of s; nil options mean the SDK's
// defaults. It contacts nothing.
func (c *Clients) Tables(s config.Storage, o *azcore.ClientOptions) (*aztables.ServiceClient, error) {
	opts := store.ClientOptions(o)
	if s.ConnectionString != "" {
		t, err := aztables.NewServiceClientFromConnectionString(s.ConnectionString, opts)
		if err != nil {
			return nil, fmt.Errorf("table client from connection string: %w", err)
		}
		return t, nil
	}
	cred, err := c.credential(s.ClientID)
	if err != nil {
		return nil, err
	}
	t, err := aztables.NewServiceClient(s.TableServiceURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("table client for %s: %w", s.TableServiceURL, err)
	}
	return t, nil
}

// Blobs returns the Blob service client of s; nil options mean the SDK's
// defaults. It contacts nothing.
func (c *Clients) Blobs(s config.Storage, o *azcore.ClientOptions) (*azblob.Client, error) {
	opts := &azblob.ClientOptions{}
	if o != nil {
		opts.ClientOptions = *o
	}
	if s.ConnectionString != "" {
		b, err := azblob.NewClientFromConnectionString(s.ConnectionString, opts)
		if err != nil {
			return nil, fmt.Errorf("blob client from connection string: %w", err)
		}
		return b, nil
	}
	cred, err := c.credential(s.ClientID)
	if err != nil {
		return nil, err
	}
	b, err := azblob.NewClient(s.BlobServiceURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("blob client for %s: %w", s.BlobServiceURL, err)
	}
	return b, nil
}

// ServiceBus returns the Service Bus client of s; nil options mean the
// SDK's defaults. It contacts nothing (the AMQP connection opens on first
// use).
func (c *Clients) ServiceBus(s config.ServiceBus, o *azservicebus.ClientOptions) (*azservicebus.Client, error) {
	if s.ConnectionString != "" {
		sb, err := azservicebus.NewClientFromConnectionString(s.ConnectionString, o)
		if err != nil {
			return nil, fmt.Errorf("Service Bus client from connection string: %w", err)
		}
		return sb, nil
	}
	if s.Namespace == "" {
		return nil, fmt.Errorf("no Service Bus connection string or namespace configured")
	}
	cred, err := c.credential(s.ClientID)
	if err != nil {
		return nil, err
	}
	sb, err := azservicebus.NewClient(s.Namespace, cred, o)
	if err != nil {
		return nil, fmt.Errorf("Service Bus client for %s: %w", s.Namespace, err)
	}
	return sb, nil
}

package funchost

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// sbConnection is how a Service Bus trigger reaches its namespace, read as
// the host reads it: the setting its binding's connection names (a
// connection string), or else <connection>__fullyQualifiedNamespace with an
// identity (<connection>__clientId, or the developer's own credentials).
type sbConnection struct {
	connectionString string
	namespace        string // the host name, also taken from a connection string's Endpoint
	clientID         string
}

func newSBConnection(settings Settings, name string) sbConnection {
	if cs := settings[name]; cs != "" {
		c := sbConnection{connectionString: cs}
		for _, part := range strings.Split(cs, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.EqualFold(k, "Endpoint") {
				c.namespace = strings.Trim(strings.TrimPrefix(v, "sb://"), "/")
			}
		}
		return c
	}
	return sbConnection{namespace: settings[name+"__fullyQualifiedNamespace"], clientID: settings[name+"__clientId"]}
}

// String describes the connection without its secrets.
func (c sbConnection) String() string {
	if c.connectionString != "" {
		return c.namespace + " (connection string)"
	}
	return c.namespace + " (identity)"
}

// client returns a client of the namespace; it contacts nothing.
func (c sbConnection) client() (*azservicebus.Client, error) {
	if c.connectionString != "" {
		return azservicebus.NewClientFromConnectionString(c.connectionString, nil)
	}
	var cred azcore.TokenCredential
	var err error
	if c.clientID != "" {
		cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(c.clientID)})
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("credential for %s: %w", c.namespace, err)
	}
	return azservicebus.NewClient(c.namespace, cred, nil)
}

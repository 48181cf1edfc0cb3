// Package identity chooses the Azure credential for identity-based
// connections to Storage and Service Bus.
package identity

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Credential returns the user-assigned managed identity clientID when it is
// set (as in Azure, where <prefix>__clientId names it), and otherwise the
// default chain, which on a developer machine uses their Azure CLI login.
func Credential(clientID string) (azcore.TokenCredential, error) {
	if clientID != "" {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)})
		if err != nil {
			return nil, fmt.Errorf("managed identity %s: %w", clientID, err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("default Azure credential: %w", err)
	}
	return cred, nil
}

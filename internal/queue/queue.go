// Package queue carries the connector's work over Service Bus: the versioned
// JSON messages of the sync-jobs and uploads queues, and a sender that makes
// redelivery and resending harmless (MessageIds derived from the work, so the
// queues' duplicate detection drops a second copy), schedules delayed
// retries and batches large fan-outs.
//
// Receiving is not here: queue-triggered functions get their messages from
// the Functions host (funchost locally), and operators use cmd/connectorctl.
package queue

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/identity"
)

// NewClient returns a Service Bus client for the settings: from the
// connection string when there is one (the local fake), otherwise for the
// fully qualified namespace with the managed identity (or, on a developer
// machine, the default credential chain). It does not contact the service.
func NewClient(s config.ServiceBus) (*azservicebus.Client, error) {
	return NewClientWithOptions(s, nil)
}

// NewClientWithOptions is NewClient with the client's options (nil: the
// SDK's defaults), e.g. fewer retries for a probe that must fail fast.
func NewClientWithOptions(s config.ServiceBus, opts *azservicebus.ClientOptions) (*azservicebus.Client, error) {
	if s.ConnectionString != "" {
		c, err := azservicebus.NewClientFromConnectionString(s.ConnectionString, opts)
		if err != nil {
			return nil, fmt.Errorf("queue: Service Bus client from connection string: %w", err)
		}
		return c, nil
	}
	if s.Namespace == "" {
		return nil, fmt.Errorf("queue: no Service Bus connection string or namespace configured")
	}
	cred, err := identity.Credential(s.ClientID)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	c, err := azservicebus.NewClient(s.Namespace, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("queue: Service Bus client for %s: %w", s.Namespace, err)
	}
	return c, nil
}

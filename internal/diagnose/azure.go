package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// AzureStorage probes the app's storage account with the real SDK clients.
type AzureStorage struct {
	DB    *store.DB
	Blobs *azblob.Client
	// Account names the account in messages (its endpoint, never a key).
	Account string
}

var _ Storage = (*AzureStorage)(nil)

// ProbeTable lists at most one entity of table.
func (s *AzureStorage) ProbeTable(ctx context.Context, table string) error {
	top := int32(1)
	p := s.DB.Table(table).NewListEntitiesPager(&aztables.ListEntitiesOptions{Top: &top})
	_, err := p.NextPage(ctx)
	var re *azcore.ResponseError
	if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode == "TableNotFound") {
		return fmt.Errorf("table %s: %w", s.DB.TableName(table), ErrMissing)
	}
	return err
}

// ProbeContainer reads container's properties.
func (s *AzureStorage) ProbeContainer(ctx context.Context, container string) error {
	_, err := s.Blobs.ServiceClient().NewContainerClient(container).GetProperties(ctx, nil)
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		return fmt.Errorf("container %s: %w", container, ErrMissing)
	}
	return err
}

// Where names the account.
func (s *AzureStorage) Where() string { return s.Account }

// ServiceBusQueues probes queues with the real azservicebus client: peeks
// only, which neither lock nor settle a message.
type ServiceBusQueues struct {
	Client    *azservicebus.Client
	Namespace string
}

var _ Queues = (*ServiceBusQueues)(nil)

// Peek peeks at the oldest message of q.
func (s *ServiceBusQueues) Peek(ctx context.Context, q string) error {
	r, err := s.Client.NewReceiverForQueue(q, nil)
	if err != nil {
		return err
	}
	defer r.Close(context.WithoutCancel(ctx))
	_, err = r.PeekMessages(ctx, 1, nil)
	var se *azservicebus.Error
	if errors.As(err, &se) && se.Code == azservicebus.CodeNotFound {
		return fmt.Errorf("queue %s: %w", q, ErrMissing)
	}
	return err
}

// DeadLetters counts the messages of q's dead-letter queue, up to max.
func (s *ServiceBusQueues) DeadLetters(ctx context.Context, q string, max int) (int, error) {
	msgs, err := queue.NewDeadLetters(s.Client, q).List(ctx, max)
	return len(msgs), err
}

// Where names the namespace.
func (s *ServiceBusQueues) Where() string { return s.Namespace }

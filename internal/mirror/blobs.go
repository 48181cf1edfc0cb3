package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// Blobs stores the rows too large for a table entity. Names are
// content-addressed, so writing one twice is harmless and a name, once
// referenced, never changes meaning.
type Blobs interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
}

// OverflowContainer is the blob container of large rows.
const OverflowContainer = "sync-overflow"

// blobName is where data of user in tenant is stored: under the user's
// prefix (so a user's data can be removed by prefix), by its SHA-256.
func blobName(tenant, user string, data []byte) string {
	sum := sha256.Sum256(data)
	return tenant + "/" + user + "/" + hex.EncodeToString(sum[:]) + ".json"
}

// AzureBlobs is Blobs in an Azure Storage container, created on first use.
type AzureBlobs struct {
	client    *azblob.Client
	container string
}

var _ Blobs = (*AzureBlobs)(nil)

// NewAzureBlobs returns the overflow container of the account client
// reaches. It contacts nothing.
func NewAzureBlobs(client *azblob.Client) *AzureBlobs {
	return &AzureBlobs{client: client, container: OverflowContainer}
}

// Put writes data under name, creating the container if it is missing.
func (b *AzureBlobs) Put(ctx context.Context, name string, data []byte) error {
	_, err := b.client.UploadBuffer(ctx, b.container, name, data, nil)
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		if _, cerr := b.client.CreateContainer(ctx, b.container, nil); cerr != nil && !bloberror.HasCode(cerr, bloberror.ContainerAlreadyExists) {
			return fmt.Errorf("mirror: create container %s: %w", b.container, cerr)
		}
		_, err = b.client.UploadBuffer(ctx, b.container, name, data, nil)
	}
	if err != nil {
		return fmt.Errorf("mirror: put blob %s: %w", name, err)
	}
	return nil
}

// Get reads the blob name.
func (b *AzureBlobs) Get(ctx context.Context, name string) ([]byte, error) {
	resp, err := b.client.DownloadStream(ctx, b.container, name, nil)
	if err != nil {
		return nil, fmt.Errorf("mirror: get blob %s: %w", name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("mirror: read blob %s: %w", name, err)
	}
	return data, nil
}

package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/localworld/testenv"
)

// TestClientsShareCredentials: Storage and Service Bus under one managed
// identity share one credential (its tokens are fetched and cached once);
// another identity gets its own.
func TestClientsShareCredentials(t *testing.T) {
	const mi, other = "6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f", "0d9e8f7a-6b5c-4d3e-8f21-a0b1c2d3e4f5"
	var c Clients
	storage := config.Storage{TableServiceURL: "https://pitcherconn.table.core.windows.net", BlobServiceURL: "https://pitcherconn.blob.core.windows.net", ClientID: mi}
	if _, err := c.Tables(storage, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Blobs(storage, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServiceBus(config.ServiceBus{Namespace: "pitcher-sb.servicebus.windows.net", ClientID: mi}, nil); err != nil {
		t.Fatal(err)
	}
	if len(c.creds) != 1 {
		t.Errorf("credentials after three clients of one identity = %d, want 1", len(c.creds))
	}
	if _, err := c.ServiceBus(config.ServiceBus{Namespace: "pitcher-sb.servicebus.windows.net", ClientID: other}, nil); err != nil {
		t.Fatal(err)
	}
	if len(c.creds) != 2 {
		t.Errorf("credentials after a second identity = %d, want 2", len(c.creds))
	}
}

func TestClientsRefuseUnusableSettings(t *testing.T) {
	var c Clients
	for _, tc := range []struct {
		name string
		sb   config.ServiceBus
		want string
	}{
		{"nothing", config.ServiceBus{}, "no Service Bus connection string or namespace"},
		{"bad connection string", config.ServiceBus{ConnectionString: "Endpoint=nope"}, "connection string"},
	} {
		if _, err := c.ServiceBus(tc.sb, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ServiceBus = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestClientsReachAzurite: clients made from a connection string work
// against the real emulator.
func TestClientsReachAzurite(t *testing.T) {
	s := config.Storage{ConnectionString: testenv.Storage(t)}
	var c Clients
	tables, err := c.Tables(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := c.Blobs(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := tables.NewListTablesPager(nil).NextPage(ctx); err != nil {
		t.Errorf("listing tables through the client: %v", err)
	}
	if _, err := blobs.NewListContainersPager(nil).NextPage(ctx); err != nil {
		t.Errorf("listing containers through the client: %v", err)
	}
	if len(c.creds) != 0 {
		t.Errorf("a connection string made %d credentials, want none", len(c.creds))
	}
}

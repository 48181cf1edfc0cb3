package testworld

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/queue"
)

// What the data-lifecycle tests need of a World: the app's disconnect
// (DELETE /api/connection), the operator's lifecycle messages, and a view
// of everything the connector keeps in Storage and Service Bus.

// Connection is the body of GET /api/connection (and of a 202 to DELETE).
type Connection struct {
	Status                string     `json:"status"`
	OrgURL                string     `json:"orgUrl"`
	ConnectedAt           *time.Time `json:"connectedAt"`
	Reason                string     `json:"reason"`
	DisconnectRequestedAt *time.Time `json:"disconnectRequestedAt"`
}

// Disconnect is the app's "Disconnect Dynamics" for upn: DELETE
// /api/connection with a device token of upn. It returns the status, the
// headers and the body (decoded when it is a connection).
func (w *World) Disconnect(t testing.TB, upn string) (int, http.Header, Connection) {
	t.Helper()
	status, h, b := w.API(t, http.MethodDelete, "/api/connection", w.DeviceToken(t, upn), nil)
	var c Connection
	if status == http.StatusAccepted {
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("DELETE /api/connection = 202 %s: %v", b, err)
		}
	}
	return status, h, c
}

// ConnectionStatus is GET /api/connection with a device token of upn: the
// status and, when it is 200, the connection.
func (w *World) ConnectionStatus(t testing.TB, upn string) (int, Connection) {
	t.Helper()
	status, _, b := w.API(t, http.MethodGet, "/api/connection", w.DeviceToken(t, upn), nil)
	var c Connection
	if status == http.StatusOK {
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("GET /api/connection = 200 %s: %v", b, err)
		}
	}
	return status, c
}

// WaitDisconnected polls GET /api/connection for upn, as the app does
// after a 202, until it answers 404 (the erasure is complete). Every other
// answer on the way must be 200 "disconnecting".
func (w *World) WaitDisconnected(t testing.TB, upn string, timeout time.Duration) {
	t.Helper()
	token := w.DeviceToken(t, upn)
	w.WaitFor(t, "GET /api/connection of "+upn+" to answer 404", timeout, func() bool {
		status, _, b := w.API(t, http.MethodGet, "/api/connection", token, nil)
		if status == http.StatusNotFound {
			return true
		}
		var c Connection
		if status != http.StatusOK || json.Unmarshal(b, &c) != nil || c.Status != "disconnecting" {
			t.Fatalf("GET /api/connection while %s disconnects = %d %s, want 200 disconnecting or 404", upn, status, b)
		}
		return false
	})
}

// SendLifecycle puts m on this World's lifecycle queue, as an operator
// does to offboard a tenant.
func (w *World) SendLifecycle(t testing.TB, m queue.Lifecycle) {
	t.Helper()
	send(t, w, w.LifecycleQueue, m)
}

// StoredEntity is one entity of one of this World's tables, as Table
// Storage returns it (every property, as JSON).
type StoredEntity struct {
	Table, PartitionKey, RowKey string
	JSON                        string
}

// Props decodes the entity's properties.
func (e StoredEntity) Props() map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(e.JSON), &m)
	return m
}

// StoredBlob is one blob of the Storage account with its metadata and
// content.
type StoredBlob struct {
	Container, Name string
	Metadata        map[string]string
	Content         []byte
}

// StorageScan is everything the connector keeps in Storage: every entity
// of every table with this World's prefix (Table names without it) and
// every blob of every container of the account. Errors are what could not
// be read (the scan is then incomplete).
type StorageScan struct {
	Entities []StoredEntity
	Blobs    []StoredBlob
	Errors   []string
}

// ScanStorage reads every entity of every table of this World and every
// blob of every container of the account, with its content, except the
// blobs of other Worlds: those whose name begins with a GUID that is not
// one of this World's tenants (per-tenant blobs are named
// "<tenant>/<user>/…"; other Worlds' seeded users share this World's UPNs
// and names, never its ids). It fails the test when anything cannot be
// read.
func (w *World) ScanStorage(t testing.TB) StorageScan {
	t.Helper()
	mine := map[string]bool{}
	for _, u := range w.users {
		mine[strings.ToLower(u.TenantID)] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := w.Scan(ctx, func(name string) bool {
		first, _, _ := strings.Cut(name, "/")
		_, err := uuid.Parse(first)
		return err != nil || mine[strings.ToLower(first)]
	})
	if len(s.Errors) > 0 {
		t.Fatalf("the storage scan is incomplete:\n%s", strings.Join(s.Errors, "\n"))
	}
	return s
}

// Scan reads every entity of every table of this World and every blob
// (name, metadata, content) of every container of the account that ours
// accepts by name (nil: every blob); what cannot be read is in Errors.
func (w *World) Scan(ctx context.Context, ours func(name string) bool) StorageScan {
	var s StorageScan
	fail := func(format string, args ...any) { s.Errors = append(s.Errors, fmt.Sprintf(format, args...)) }
	svc, err := aztables.NewServiceClientFromConnectionString(w.Storage, nil)
	if err != nil {
		fail("tables: %v", err)
		return s
	}
	prefix := w.DB.TableName("")
	tables := svc.NewListTablesPager(nil)
	for tables.More() {
		page, err := tables.NextPage(ctx)
		if err != nil {
			fail("list tables: %v", err)
			break
		}
		for _, tp := range page.Tables {
			name := *tp.Name
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			pager := svc.NewClient(name).NewListEntitiesPager(nil)
			for pager.More() {
				ep, err := pager.NextPage(ctx)
				if err != nil {
					fail("list the entities of %s: %v", name, err)
					break
				}
				for _, raw := range ep.Entities {
					var keys struct{ PartitionKey, RowKey string }
					if err := json.Unmarshal(raw, &keys); err != nil {
						fail("an entity of %s: %v", name, err)
					}
					s.Entities = append(s.Entities, StoredEntity{Table: strings.TrimPrefix(name, prefix), PartitionKey: keys.PartitionKey, RowKey: keys.RowKey, JSON: string(raw)})
				}
			}
		}
	}
	blobs, err := azblob.NewClientFromConnectionString(w.Storage, nil)
	if err != nil {
		fail("blobs: %v", err)
		return s
	}
	containers := blobs.NewListContainersPager(nil)
	for containers.More() {
		page, err := containers.NextPage(ctx)
		if err != nil {
			fail("list containers: %v", err)
			break
		}
		for _, c := range page.ContainerItems {
			cc := blobs.ServiceClient().NewContainerClient(*c.Name)
			pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{Metadata: true}})
			for pager.More() {
				bp, err := pager.NextPage(ctx)
				if err != nil {
					fail("list the blobs of %s: %v", *c.Name, err)
					break
				}
				for _, b := range bp.Segment.BlobItems {
					if ours != nil && !ours(*b.Name) {
						continue
					}
					sb := StoredBlob{Container: *c.Name, Name: *b.Name, Metadata: map[string]string{}}
					for k, v := range b.Metadata {
						if v != nil {
							sb.Metadata[k] = *v
						}
					}
					resp, err := cc.NewBlobClient(*b.Name).DownloadStream(ctx, nil)
					if bloberror.HasCode(err, bloberror.BlobNotFound) {
						continue // deleted meanwhile (another World's, or a late cleanup)
					}
					if err != nil {
						fail("read blob %s/%s: %v", *c.Name, *b.Name, err)
						continue
					}
					sb.Content, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						fail("read blob %s/%s: %v", *c.Name, *b.Name, err)
					}
					s.Blobs = append(s.Blobs, sb)
				}
			}
		}
	}
	return s
}

// Find lists where any of terms occurs (case-insensitively) in a table
// entity (keys, properties, values) or a blob (container, name, metadata,
// content), one "table pk/rk: term" or "blob container/name: term" line
// per finding.
func (s StorageScan) Find(terms ...string) []string {
	var out []string
	match := func(where, text string) {
		text = strings.ToLower(text)
		for _, term := range terms {
			if term != "" && strings.Contains(text, strings.ToLower(term)) {
				out = append(out, where+": "+term)
			}
		}
	}
	for _, e := range s.Entities {
		match(fmt.Sprintf("table %s %s/%s", e.Table, e.PartitionKey, e.RowKey), e.Table+"\n"+e.JSON)
	}
	for _, b := range s.Blobs {
		meta := make([]string, 0, len(b.Metadata))
		for k, v := range b.Metadata {
			meta = append(meta, k+"="+v)
		}
		match("blob "+b.Container+"/"+b.Name, b.Container+"\n"+b.Name+"\n"+strings.Join(meta, "\n")+"\n"+string(b.Content))
	}
	sort.Strings(out)
	return out
}

// In returns the entities of table (a name without the World's prefix).
func (s StorageScan) In(table string) []StoredEntity {
	var out []StoredEntity
	for _, e := range s.Entities {
		if e.Table == table {
			out = append(out, e)
		}
	}
	return out
}

// Partition returns the entities of table in partition pk.
func (s StorageScan) Partition(table, pk string) []StoredEntity {
	var out []StoredEntity
	for _, e := range s.In(table) {
		if e.PartitionKey == pk {
			out = append(out, e)
		}
	}
	return out
}

// Keys returns "table pk/rk" of every entity and "blob container/name" of
// every blob.
func (s StorageScan) Keys() map[string]bool {
	out := map[string]bool{}
	for _, e := range s.Entities {
		out["table "+e.Table+" "+e.PartitionKey+"/"+e.RowKey] = true
	}
	for _, b := range s.Blobs {
		out["blob "+b.Container+"/"+b.Name] = true
	}
	return out
}

// QueuedMessage is a message waiting in one of this World's queues (active
// or scheduled) or in its dead-letter queue.
type QueuedMessage struct {
	Queue      string
	DeadLetter bool
	MessageID  string
	Body       string
}

// PeekQueues returns, without receiving them, the messages of this World's
// sync, uploads and lifecycle queues and their dead-letter queues.
func (w *World) PeekQueues(t testing.TB) []QueuedMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := azservicebus.NewClientFromConnectionString(w.ServiceBus.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	var out []QueuedMessage
	for _, q := range []string{w.SyncQueue, w.UploadQueue, w.LifecycleQueue} {
		for _, dl := range []bool{false, true} {
			var opts *azservicebus.ReceiverOptions
			if dl {
				opts = &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter}
			}
			r, err := client.NewReceiverForQueue(q, opts)
			if err != nil {
				t.Fatal(err)
			}
			for {
				msgs, err := r.PeekMessages(ctx, 100, nil)
				if err != nil {
					t.Fatalf("peek %s (dead letters %v): %v", q, dl, err)
				}
				for _, m := range msgs {
					out = append(out, QueuedMessage{Queue: q, DeadLetter: dl, MessageID: m.MessageID, Body: string(m.Body)})
				}
				if len(msgs) < 100 {
					break
				}
			}
			_ = r.Close(ctx)
		}
	}
	return out
}

package testworld

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// SendSyncJob puts a sync job for u on this World's sync queue, as the
// scheduler or a sign-in would.
func (w *World) SendSyncJob(t testing.TB, u User, slot time.Time) queue.SyncJob {
	t.Helper()
	job := queue.NewSyncJob(u.TenantID, u.OID, queue.ReasonManual, slot)
	send(t, w, w.SyncQueue, job)
	return job
}

// send puts m on queue q of this World's Service Bus, as the connector's
// own sender does.
func send[M queue.Message](t testing.TB, w *World, q string, m M) {
	t.Helper()
	client, err := azservicebus.NewClientFromConnectionString(w.ServiceBus.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	s, err := queue.NewSender[M](client, q)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// SyncStates returns u's sync state by entity set.
func (w *World) SyncStates(t testing.TB, u User) map[string]store.SetState {
	t.Helper()
	st, err := store.NewSyncStates(w.DB).Sets(context.Background(), u.TenantID, u.OID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// WaitSynced waits until every set of sets has succeeded for u after since.
func (w *World) WaitSynced(t testing.TB, u User, since time.Time, timeout time.Duration, sets ...string) map[string]store.SetState {
	t.Helper()
	var st map[string]store.SetState
	w.WaitFor(t, fmt.Sprintf("a sync of %v for %s", sets, u.UPN), timeout, func() bool {
		st = w.SyncStates(t, u)
		for _, s := range sets {
			if !st[s].LastSuccess.After(since) {
				return false
			}
		}
		return true
	})
	return st
}

// WaitIdle waits until no sync holds u's lease: a job sent then starts at
// once instead of being put off until the lease expires. (WaitSynced
// returns when the sets asked for are done, which may be before the sync
// has finished its other sets, its notes among them.)
func (w *World) WaitIdle(t testing.TB, u User, timeout time.Duration) {
	t.Helper()
	states := store.NewSyncStates(w.DB)
	w.WaitFor(t, "no sync of "+u.UPN+" running", timeout, func() bool {
		l, err := states.Lease(context.Background(), u.TenantID, u.OID)
		return errors.Is(err, store.ErrNotFound) || err == nil && (l.Owner == "" || time.Now().After(l.Until))
	})
}

// Change is one entry of the Changes API.
type Change struct {
	EntitySet string          `json:"entitySet"`
	ID        string          `json:"id"`
	Op        string          `json:"op"`
	Data      json.RawMessage `json:"data"`
}

// Changes reads the Changes API with token from cursor to the end, limit
// changes per call, and returns them with the final cursor.
func (w *World) Changes(t testing.TB, token, cursor string, limit int) ([]Change, string) {
	t.Helper()
	var all []Change
	for {
		status, _, body := w.API(t, http.MethodGet, "/api/changes?cursor="+cursor+"&limit="+strconv.Itoa(limit), token, nil)
		if status != http.StatusOK {
			t.Fatalf("GET /api/changes?cursor=%s = %d %s", cursor, status, body)
		}
		var page struct {
			Changes []Change `json:"changes"`
			Cursor  string   `json:"cursor"`
			More    bool     `json:"more"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("GET /api/changes: %v in %s", err, body)
		}
		all, cursor = append(all, page.Changes...), page.Cursor
		if !page.More {
			return all, cursor
		}
	}
}

// Replay applies changes in order, as the app does to its local database,
// and returns the rows by entity set and id.
func Replay(changes []Change) map[string]map[string]json.RawMessage {
	out := map[string]map[string]json.RawMessage{}
	for _, c := range changes {
		if out[c.EntitySet] == nil {
			out[c.EntitySet] = map[string]json.RawMessage{}
		}
		if c.Op == "delete" {
			delete(out[c.EntitySet], c.ID)
			continue
		}
		out[c.EntitySet][c.ID] = c.Data
	}
	return out
}

package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testworld"
)

// The campaign's erasures: a user who presses "Disconnect Dynamics" while
// their reports are sent and a sync of theirs runs, and tenants an
// operator offboards. Once the system has quiesced, nothing of them may be
// left in Storage (CheckErased).

// disconnectRun is one user's "Disconnect Dynamics": the app sends DELETE
// /api/connection until it is answered 202 or 204 (as it would on a 5xx
// or no answer), then polls GET /api/connection until 404.
type disconnectRun struct {
	user testworld.User

	mu       sync.Mutex
	pressed  time.Time   // the first DELETE was sent
	answered time.Time   // the first 202 or 204
	answers  map[int]int // DELETE answers by status (0: no answer)
	last     string      // the last answer that was not 202 or 204
	syncHeld bool        // a sync held the user's lease when the DELETE was sent
	settled  time.Time   // GET /api/connection answered 404
	note     string      // how it settled, or what GET answered last
}

func (d *disconnectRun) snapshot() Disconnection {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Disconnection{User: d.user.UPN, Pressed: d.pressed, Answered: d.answered}
}

// offboardRun is one tenant offboarded by an operator: a tenant made for
// it (seedTenant), since the main tenants' users are the campaign's.
type offboardRun struct {
	tenant  string
	users   []string // object ids of its users
	sent    time.Time
	resent  int
	settled time.Time
	note    string
}

// connected returns the users who did not disconnect.
func (c *campaign) connected() []testworld.User {
	var out []testworld.User
	for _, u := range c.users {
		if c.disconnects[u.UPN] == nil {
			out = append(out, u)
		}
	}
	return out
}

// disconnect starts user e.User's disconnection: a sync of theirs is
// started, and once it holds their sync lease (or e.For passed) they press
// the button, while their uploads run. It returns at once; the DELETEs go
// on in the background until one is answered 202 or 204.
func (c *campaign) disconnect(e Event) error {
	u := c.users[e.User]
	if c.disconnects[u.UPN] != nil {
		return fmt.Errorf("%s disconnected already", u.UPN)
	}
	d := &disconnectRun{user: u, answers: map[int]int{}}
	c.disconnects[u.UPN] = d
	c.erasing.Go(func() { d.run(c, e.For) })
	return nil
}

func (d *disconnectRun) run(c *campaign, wait time.Duration) {
	u := d.user
	if err := sendMessage(c.w.ServiceBus.ConnectionString, c.w.SyncQueue, queue.NewSyncJob(u.TenantID, u.OID, queue.ReasonManual, time.Now())); err != nil {
		d.mu.Lock()
		d.last = "the sync job before the disconnect: " + err.Error()
		d.mu.Unlock()
	}
	states := store.NewSyncStates(c.w.DB)
	held := false
	for until := time.Now().Add(wait); !held && time.Now().Before(until); {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		l, err := states.Lease(ctx, u.TenantID, u.OID)
		cancel()
		held = err == nil && l.Owner != "" && l.Until.After(time.Now())
		if !held {
			time.Sleep(20 * time.Millisecond)
		}
	}
	pressed := time.Now()
	d.mu.Lock()
	d.pressed, d.syncHeld = pressed, held
	d.mu.Unlock()
	c.ledger.erase(u.UPN, pressed)
	limit := c.s.duration + c.s.quiesce
	for pause := 250 * time.Millisecond; ; pause = min(2*pause, 4*time.Second) {
		status, out, err := c.c.api(http.MethodDelete, "/api/connection", u.UPN, nil)
		if err != nil {
			status, out = 0, []byte(err.Error())
		}
		d.mu.Lock()
		d.answers[status]++
		if status == http.StatusAccepted || status == http.StatusNoContent {
			d.answered = time.Now()
			if status == http.StatusNoContent {
				d.settled, d.note = d.answered, fmt.Sprintf("DELETE /api/connection = 204 after %s", d.answered.Sub(pressed).Round(time.Millisecond))
			}
			d.mu.Unlock()
			return
		}
		d.last = fmt.Sprintf("%d %.200s", status, out)
		d.mu.Unlock()
		if time.Since(pressed) > limit {
			return
		}
		time.Sleep(pause)
	}
}

// offboard makes a tenant with two users and their data in every table
// and container the connector keeps (its approval, connections, mirror,
// change log, sync state, uploads, a sign-in in progress, blobs), then
// sends the lifecycle offboard-tenant message an operator would send.
func (c *campaign) offboard() error {
	o := &offboardRun{tenant: uuid.NewString(), users: []string{uuid.NewString(), uuid.NewString()}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.seedTenant(ctx, o); err != nil {
		return fmt.Errorf("the tenant to offboard: %w", err)
	}
	c.offboards = append(c.offboards, o)
	if err := sendMessage(c.w.ServiceBus.ConnectionString, c.w.LifecycleQueue, queue.OffboardTenant(o.tenant)); err != nil {
		return fmt.Errorf("send offboard-tenant (sent again while healing): %w", err)
	}
	o.sent = time.Now()
	return nil
}

// seedTenant writes o's tenant as the connector would have: approved by
// its first user, one user's grant gone (reauth_required, so no sync of
// theirs is scheduled), the other's sign-in not finished (pending).
func (c *campaign) seedTenant(ctx context.Context, o *offboardRun) error {
	db, now := c.w.DB, time.Now().UTC()
	t := o.tenant
	tenants := store.NewTenants(db)
	if err := tenants.RecordConsentedBy(ctx, t, "Offboarded admin", o.users[0]); err != nil {
		return err
	}
	if err := tenants.RecordConsent(ctx, t, "https://chaos.example/user_impersonation", now); err != nil {
		return err
	}
	conns, uploads := store.NewConnections(db), store.NewUploads(db)
	for i, oid := range o.users {
		status, reason := store.StatusReauthRequired, "invalid_grant AADSTS700082 (made by the chaos campaign)"
		if i == 1 {
			status, reason = store.StatusPending, ""
		}
		if _, err := conns.Put(ctx, store.Connection{TenantID: t, UserID: oid, Status: status, StatusReason: reason, StatusChangedAt: now,
			RefreshToken: []byte("not a sealed token of " + oid), KeyID: "world-1", OrgURL: c.w.DataverseURL, DataverseUserID: uuid.NewString(),
			UserName: fmt.Sprintf("Offboarded user %d", i), ConnectedAt: now}); err != nil {
			return err
		}
		pk := store.UserPartition(t, oid)
		rows := map[string][]map[string]any{
			mirror.RecordsTable:  {{"PartitionKey": pk, "RowKey": "accounts_" + uuid.NewString(), "Data": `{"name":"Offboarded account","ownerid":"` + oid + `"}`}},
			mirror.ChangesTable:  {{"PartitionKey": pk, "RowKey": "00000000000000000001", "Op": "upsert", "EntitySet": "accounts"}},
			store.SyncStateTable: {{"PartitionKey": pk, "RowKey": "accounts", "Mode": store.ModeChangeTracking}},
		}
		for table, ents := range rows {
			for _, ent := range ents {
				b, _ := json.Marshal(ent)
				if _, err := db.Table(table).UpsertEntity(ctx, b, nil); err != nil {
					return fmt.Errorf("%s: %w", table, err)
				}
			}
		}
		report := []byte(`{"uploadId":"offboard-` + oid + `","meeting":{"subject":"Offboarded meeting"}}`)
		sum := sha256.Sum256(report)
		hash := hex.EncodeToString(sum[:])
		for _, st := range []string{store.UploadQueued, store.UploadDone} {
			id := "offboard-" + st
			if _, err := uploads.Insert(ctx, store.Upload{TenantID: t, UserID: oid, UploadID: id, Status: st, ContentHash: hash,
				CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			if err := c.putBlob(ctx, "documents", t+"/"+oid+"/"+id+"/"+hash+".json", report); err != nil {
				return err
			}
		}
		if err := c.putBlob(ctx, mirror.OverflowContainer, t+"/"+oid+"/"+hash+".json", report); err != nil {
			return err
		}
	}
	return store.NewAuthFlows(db).Create(ctx, uuid.NewString(), store.AuthFlow{Kind: "login", Secret: []byte("sealed"), KeyID: "world-1",
		Tenant: t, ReturnTo: c.w.URL + "/done", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
}

func (c *campaign) putBlob(ctx context.Context, containerName, name string, data []byte) error {
	client, err := azblob.NewClientFromConnectionString(c.w.Storage, nil)
	if err != nil {
		return err
	}
	if _, err := client.CreateContainer(ctx, containerName, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("container %s: %w", containerName, err)
	}
	_, err = client.UploadBuffer(ctx, containerName, name, data, nil)
	return err
}

// sendMessage sends m to queue q with a client of its own (a restart of
// the fake leaves none behind).
func sendMessage[M queue.Message](conn, q string, m M) error {
	client, err := azservicebus.NewClientFromConnectionString(conn, nil)
	if err != nil {
		return err
	}
	defer client.Close(context.Background())
	s, err := queue.NewSender[M](client, q)
	if err != nil {
		return err
	}
	defer s.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Send(ctx, m)
}

// settleErasures waits, until deadline, for every erasure to complete: a
// disconnected user's GET /api/connection answers 404 (the app polls it
// after a 202), an offboarded tenant's row and connections are gone. As
// an operator would, it resubmits the lifecycle queue's dead letters every
// 5 s. The Service Bus fake loses scheduled messages when it restarts
// (Azure Service Bus does not): an erasure whose continuation a restart
// may have lost is continued by the Retention function (the product's
// own safety net, daily in Azure) and an offboarding's message is sent
// again, after 30 s; both are reported.
func (c *campaign) settleErasures(deadline time.Time) {
	if len(c.disconnects)+len(c.offboards) == 0 {
		return
	}
	start := time.Now()
	done := make(chan struct{})
	go func() { c.erasing.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		c.settleNotes = append(c.settleNotes, "a DELETE /api/connection was still not answered 202 or 204 at the deadline")
	}
	bus, err := azservicebus.NewClientFromConnectionString(c.w.ServiceBus.ConnectionString, nil)
	if err != nil {
		c.t.Fatalf("settling the erasures: %v", err)
	}
	defer bus.Close(context.Background())
	dlq := queue.NewDeadLetters(bus, c.w.LifecycleQueue)
	conns, tenants := store.NewConnections(c.w.DB), store.NewTenants(c.w.DB)
	resubmitted, retention := 0, 0
	var lastResubmit, lastNudge time.Time
	for {
		left, needRetention := 0, false
		nudge := time.Since(start) > 30*time.Second && time.Since(lastNudge) > 30*time.Second
		if nudge {
			lastNudge = time.Now()
		}
		for _, upn := range sortedKeys(c.disconnects) {
			d := c.disconnects[upn]
			d.mu.Lock()
			settled, pressed := !d.settled.IsZero(), d.pressed
			d.mu.Unlock()
			if settled {
				continue
			}
			status, out, err := c.c.api(http.MethodGet, "/api/connection", upn, nil)
			var note string
			switch {
			case err != nil:
				note = "GET /api/connection: " + err.Error()
			case status == http.StatusNotFound:
				note = fmt.Sprintf("GET /api/connection = 404 when looked at while healing (%s after the first DELETE)", time.Since(pressed).Round(time.Second))
			case status == http.StatusOK:
				var v struct{ Status string }
				_ = json.Unmarshal(out, &v)
				note = "GET /api/connection = 200 " + v.Status
				if v.Status != "disconnecting" {
					note += ": the user is connected again, though they never signed in after the disconnect"
				}
			default:
				note = fmt.Sprintf("GET /api/connection = %d %.200s", status, out)
			}
			d.mu.Lock()
			d.note = note
			if err == nil && status == http.StatusNotFound {
				d.settled = time.Now()
			} else {
				left++
				needRetention = needRetention || restartedAfter(c.busRestarts, pressed)
			}
			d.mu.Unlock()
		}
		for _, o := range c.offboards {
			if !o.settled.IsZero() {
				continue
			}
			if o.sent.IsZero() {
				if err := sendMessage(c.w.ServiceBus.ConnectionString, c.w.LifecycleQueue, queue.OffboardTenant(o.tenant)); err == nil {
					o.sent = time.Now()
					o.resent++
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, terr := tenants.Get(ctx, o.tenant)
			list, lerr := conns.List(ctx, o.tenant)
			cancel()
			if errors.Is(terr, store.ErrNotFound) && lerr == nil && len(list) == 0 {
				o.settled = time.Now()
				o.note = fmt.Sprintf("its row and connections gone when looked at while healing (%s after the message)", o.settled.Sub(o.sent).Round(time.Second))
				continue
			}
			left++
			o.note = fmt.Sprintf("tenant row: %v; connections: %d (%v)", orFound(terr), len(list), lerr)
			if nudge && restartedAfter(c.busRestarts, o.sent) {
				if err := sendMessage(c.w.ServiceBus.ConnectionString, c.w.LifecycleQueue, queue.OffboardTenant(o.tenant)); err == nil {
					o.resent++
				}
			}
		}
		if left == 0 || time.Now().After(deadline) {
			break
		}
		if time.Since(lastResubmit) > 5*time.Second {
			lastResubmit = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if dead, err := dlq.List(ctx, 100); err == nil && len(dead) > 0 {
				var seqs []int64
				for _, m := range dead {
					seqs = append(seqs, m.SequenceNumber)
				}
				if out, err := dlq.Resubmit(ctx, seqs); err == nil {
					resubmitted += len(out)
				}
			}
			cancel()
		}
		if nudge && needRetention {
			if err := c.c.admin(http.MethodPost, c.w.URL+"/admin/functions/Retention", map[string]string{"input": ""}); err == nil {
				retention++
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if resubmitted > 0 {
		c.settleNotes = append(c.settleNotes, fmt.Sprintf("%d dead-lettered lifecycle message(s) resubmitted", resubmitted))
	}
	if retention > 0 {
		c.settleNotes = append(c.settleNotes, fmt.Sprintf("the Retention function run %d time(s) to continue an erasure whose scheduled continuation a restart of the Service Bus fake may have lost", retention))
	}
	say("   erasures settled in %s (%d disconnect(s), %d offboarding(s))", time.Since(start).Round(time.Second), len(c.disconnects), len(c.offboards))
}

func orFound(err error) string {
	switch {
	case err == nil:
		return "still there"
	case errors.Is(err, store.ErrNotFound):
		return "gone"
	}
	return err.Error()
}

// erased lists the campaign's erasures for CheckErased.
func (c *campaign) erased() []Erased {
	var out []Erased
	for _, upn := range sortedKeys(c.disconnects) {
		d := c.disconnects[upn]
		d.mu.Lock()
		out = append(out, Erased{Who: upn, Kind: store.ErasureDisconnect, TenantID: d.user.TenantID, UserID: d.user.OID,
			Needles: []string{d.user.OID}, Settled: !d.settled.IsZero(), Note: d.note})
		d.mu.Unlock()
	}
	for _, o := range c.offboards {
		note := o.note
		if o.sent.IsZero() {
			note = "the offboard-tenant message could never be sent"
		}
		out = append(out, Erased{Who: "tenant " + o.tenant, Kind: store.ErasureOffboard, TenantID: o.tenant,
			Needles: append([]string{o.tenant}, o.users...), Settled: !o.settled.IsZero(), Note: note})
	}
	return out
}

// scanStorage reads every entity of every table of the world (its prefix)
// and every blob of every container of the campaign's own Azurite, with
// its metadata and content, and the erasure audit.
func (c *campaign) scanStorage() StorageScan {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	all := c.w.Scan(ctx, nil)
	s := StorageScan{Entities: all.Entities, Blobs: all.Blobs, Errors: all.Errors}
	var err error
	if s.Audit, err = store.NewErasures(c.w.DB).List(ctx, time.Time{}); err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("the audit table: %v", err))
	}
	return s
}

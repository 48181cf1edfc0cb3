package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pitcher/connector/internal/store"
)

// faultState is the simulator's random faults, composed from the windows
// open now.
type faultState struct {
	errorRate, resetRate, afterRate float64
	latency                         time.Duration
	ends                            map[Kind]time.Duration
}

// run executes the plan while the users upload and the editor edits.
func (c *campaign) run() {
	plan := Plan(c.s.seed, c.s.duration, len(c.users), c.s.exclude)
	c.devices = newDevices(c, plan)
	say("\n== %d faults planned over %s; users upload, an editor works in Dynamics, two devices of %s and a colleague edit %d shared rows",
		len(plan), c.s.duration, c.devices.upn, len(c.devices.rows))
	// The journal holds every write from here on: the devices' edits are
	// judged by it (CheckNoLostUpdates).
	c.w.Dataverse.EnableJournal()
	ctx, stop := context.WithCancel(context.Background())
	var actors sync.WaitGroup
	for i, u := range c.users {
		actors.Go(func() { c.ledger.uploader(ctx, c.c, c.s.seed, i, u.UPN) })
	}
	actors.Go(func() { editor(ctx, c.c, c.s.seed, c.s.rows, c.edits, &c.editsMu) })
	for n := range 2 {
		actors.Go(func() { c.device(ctx, c.devices, n) })
	}
	actors.Go(func() { c.colleague(ctx, c.devices) })
	actors.Go(func() { c.refresher(ctx, c.devices) })

	fs := &faultState{ends: map[Kind]time.Duration{}}
	type resign struct {
		upn string
		at  time.Duration
	}
	var resigns []resign
	rng := rand.New(rand.NewPCG(c.s.seed, 0x5ee))
	start := time.Now()
	c.began = start
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	next := 0
	for now := time.Duration(0); now < c.s.duration; now = time.Since(start) {
		<-tick.C
		for ; next < len(plan) && plan[next].At <= now; next++ {
			e := plan[next]
			err := c.inject(e, fs, now, rng)
			if err != nil {
				c.failed[e.Kind] = append(c.failed[e.Kind], err.Error())
				continue
			}
			c.injected[e.Kind]++
			if e.Kind == RevokeGrant {
				resigns = append(resigns, resign{c.users[e.User].UPN, now + e.For})
			}
		}
		for k, end := range fs.ends {
			if now >= end {
				delete(fs.ends, k)
				c.closeWindow(k, fs)
			}
		}
		kept := resigns[:0]
		for _, r := range resigns {
			if c.disconnects[r.upn] != nil {
				continue // they disconnected meanwhile: they do not sign in again
			}
			if r.at > now || c.c.signIn(r.upn) != nil {
				kept = append(kept, r) // not yet, or refused under faults: later
			}
		}
		resigns = kept
	}
	stop()
	actors.Wait()
	say("   done: %d reports sent by the users (%d of them the devices' edits), edits in Dynamics %v", len(c.ledger.uploads), c.devices.sentTotal(), c.edits)
}

// inject applies one fault.
func (c *campaign) inject(e Event, fs *faultState, now time.Duration, rng *rand.Rand) error {
	sim := c.w.DataverseURL + "/_sim/"
	switch e.Kind {
	case ThrottleStorm:
		fs.ends[e.Kind] = now + e.For
		return c.c.admin(http.MethodPut, sim+"throttle", map[string]any{"requests": e.Count, "windowSeconds": 5})
	case Burst429:
		return c.c.admin(http.MethodPost, sim+"faults/next", map[string]any{"status": 429, "count": e.Count, "retryAfter": 1 + rng.IntN(3)})
	case ServerErrors, Resets, LostAnswers, Latency:
		switch e.Kind {
		case ServerErrors:
			fs.errorRate = e.Rate
		case Resets:
			fs.resetRate = e.Rate
		case LostAnswers:
			fs.afterRate = e.Rate
		case Latency:
			fs.latency = e.Delay
		}
		fs.ends[e.Kind] = now + e.For
		return c.applyFaults(fs, rng)
	case TokenExpiry:
		return c.c.admin(http.MethodPost, sim+"faults/next", map[string]any{"status": 401, "count": e.Count})
	case KeyRotation:
		return c.c.admin(http.MethodPost, c.w.EntraURL+"/_sim/keys/rotate", nil)
	case DeltaExpiry:
		return c.c.admin(http.MethodPost, sim+"changetracking/expire", nil)
	case RevokeGrant:
		return c.c.admin(http.MethodPost, c.w.EntraURL+"/_sim/users/"+c.users[e.User].UPN+"/revoke", nil)
	case KillHandler:
		return c.w.Host.KillHandler()
	case RestartStore:
		return c.restartStore()
	case RestartBus:
		began := time.Now()
		if err := c.bus.Restart(); err != nil {
			return err
		}
		c.notes = append(c.notes, fmt.Sprintf("Service Bus fake restart %d took %s", c.bus.Runs()-1, time.Since(began).Round(time.Millisecond)))
		c.busRestarts = append(c.busRestarts, time.Now())
		return nil
	case TimerFired:
		return c.c.admin(http.MethodPost, c.w.URL+"/admin/functions/SyncScheduler", map[string]string{"input": ""})
	case Disconnect:
		return c.disconnect(e)
	case Offboard:
		return c.offboard()
	}
	return fmt.Errorf("unknown kind %s", e.Kind)
}

// restartStore cuts every connection to Azurite, stops it in order (it
// writes its database), starts it again on the same data and lets
// connections through. A row written just before, and the connection of
// every user who did not disconnect, must still be there.
func (c *campaign) restartStore() error {
	ctx := context.Background()
	canary := c.w.DB.Table("chaoscanary")
	n := c.azurite.Runs()
	key := fmt.Sprintf("before-restart-%d", n)
	if _, err := canary.CreateTable(ctx, nil); err != nil && !strings.Contains(err.Error(), "TableAlreadyExists") {
		return fmt.Errorf("canary table: %w", err)
	}
	entity, _ := json.Marshal(map[string]string{"PartitionKey": "canary", "RowKey": key})
	if _, err := canary.UpsertEntity(ctx, entity, nil); err != nil {
		return fmt.Errorf("canary row: %w", err)
	}
	began := time.Now()
	for _, p := range c.proxies {
		p.Down()
	}
	err := c.azurite.Restart()
	for _, p := range c.proxies {
		p.Up()
	}
	if err != nil {
		return err
	}
	c.notes = append(c.notes, fmt.Sprintf("Azurite restart %d took %s", n, time.Since(began).Round(time.Millisecond)))
	if _, err := canary.GetEntity(ctx, "canary", key, nil); err != nil {
		c.storeLost = append(c.storeLost, fmt.Sprintf("after restart %d: the row written just before: %v", n, err))
	}
	for _, u := range c.connected() {
		if _, err := store.NewConnections(c.w.DB).Get(ctx, u.TenantID, u.OID); err != nil {
			c.storeLost = append(c.storeLost, fmt.Sprintf("after restart %d: the connection of %s: %v", n, u.UPN, err))
		}
	}
	return nil
}

func (c *campaign) applyFaults(fs *faultState, rng *rand.Rand) error {
	return c.c.admin(http.MethodPut, c.w.DataverseURL+"/_sim/faults", map[string]any{"errorRate": fs.errorRate, "resetRate": fs.resetRate,
		"afterRate": fs.afterRate, "latencyMs": fs.latency.Milliseconds(), "randomSeed": rng.Uint64()})
}

// closeWindow ends the window of kind k.
func (c *campaign) closeWindow(k Kind, fs *faultState) {
	var err error
	switch k {
	case ThrottleStorm:
		err = c.c.admin(http.MethodPut, c.w.DataverseURL+"/_sim/throttle", map[string]any{})
	case ServerErrors:
		fs.errorRate = 0
	case Resets:
		fs.resetRate = 0
	case LostAnswers:
		fs.afterRate = 0
	case Latency:
		fs.latency = 0
	}
	if k != ThrottleStorm {
		err = c.applyFaults(fs, rand.New(rand.NewPCG(c.s.seed, uint64(len(fs.ends)))))
	}
	if err != nil {
		c.failed[k] = append(c.failed[k], "closing the window: "+err.Error())
	}
}

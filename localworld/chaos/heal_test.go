package chaos

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// heal removes every fault, signs in whoever needs to, resends what was
// never accepted, resubmits what was dead-lettered (as an operator
// would), waits until every upload has finished (done, failed, or a
// device's edit ended conflict), syncs everyone once
// more, and waits for the erasures to complete. A user who disconnected
// is left alone: they do not sign in again, their reports are not sent
// again nor waited for (their rows are erased), they are not synced.
func (c *campaign) heal() {
	t := c.t
	say("\n== Healing: faults off, users signed in again, unaccepted reports sent again, dead letters resubmitted")
	start := time.Now()
	must := func(err error) {
		if err != nil {
			t.Fatalf("healing: %v", err)
		}
	}
	must(c.c.admin(http.MethodPut, c.w.DataverseURL+"/_sim/faults", map[string]any{}))
	must(c.c.admin(http.MethodPut, c.w.DataverseURL+"/_sim/throttle", map[string]any{}))
	deadline := time.Now().Add(c.s.quiesce)

	for _, u := range c.connected() {
		for {
			conn, err := store.NewConnections(c.w.DB).Get(context.Background(), u.TenantID, u.OID)
			if err == nil && conn.Status == store.StatusActive {
				break
			}
			if err := c.c.signIn(u.UPN); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("healing: %s cannot sign in again: %v", u.UPN, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	rng := rand.New(rand.NewPCG(c.s.seed, 0x4ea1))
	for _, u := range c.ledger.unaccepted() {
		if c.disconnects[u.User] != nil {
			continue
		}
		c.ledger.deliver(ctx, c.c, rng, u, c.ledger.bodies[u.ID])
	}

	bus, err := azservicebus.NewClientFromConnectionString(c.w.ServiceBus.ConnectionString, nil)
	must(err)
	defer bus.Close(context.Background())
	dlq := queue.NewDeadLetters(bus, c.w.UploadQueue)
	resubmitted := 0
	var pending []*Upload
	for _, u := range c.ledger.uploads {
		if c.disconnects[u.User] == nil {
			pending = append(pending, u)
		}
	}
	lastResubmit := time.Time{}
	var graceFrom time.Time
	signedIn := map[string]time.Time{}
	for len(pending) > 0 && time.Now().Before(deadline) {
		var still []*Upload
		excusable := 0
		for _, u := range pending {
			status, out, err := c.c.api(http.MethodGet, "/api/uploads/"+u.ID, u.User, nil)
			var st Status
			if err == nil && status == http.StatusOK && json.Unmarshal(out, &st) == nil {
				u.Final = st
			}
			if u.Final.Status == "parked" && time.Since(signedIn[u.User]) > 10*time.Second {
				// The app shows the user why; they sign in, which resumes it.
				signedIn[u.User] = time.Now()
				if err := c.c.signIn(u.User); err != nil {
					c.ledger.problem("healing: %s cannot sign in again for a parked upload: %v", u.User, err)
				}
			}
			if u.Final.Status != "done" && u.Final.Status != "failed" && u.Final.Status != "conflict" {
				still = append(still, u)
				if u.Final.Status != "parked" && restartedAfter(c.busRestarts, u.AcceptedAt) {
					excusable++
				}
			}
		}
		pending = still
		if len(pending) > 0 && len(pending) == excusable {
			// Only uploads the fake may have lost are left: give them 30 s.
			if graceFrom.IsZero() {
				graceFrom = time.Now()
			} else if time.Since(graceFrom) > 30*time.Second {
				break
			}
		}
		if time.Since(lastResubmit) > 5*time.Second {
			lastResubmit = time.Now()
			if dead, err := dlq.List(ctx, 100); err == nil && len(dead) > 0 {
				var seqs []int64
				for _, d := range dead {
					seqs = append(seqs, d.SequenceNumber)
				}
				if done, err := dlq.Resubmit(ctx, seqs); err == nil {
					resubmitted += len(done)
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	say("   uploads settled in %s (%d dead letters resubmitted, %d not finished)", time.Since(start).Round(time.Second), resubmitted, len(pending))

	syncStart := time.Now()
	for _, u := range c.connected() {
		c.w.SendSyncJob(t, u, syncStart)
	}
	if late := c.waitSynced(syncStart, time.Until(deadline)+time.Minute); len(late) > 0 {
		c.ledger.problem("the final sync of %v did not finish before the quiesce deadline", late)
	}
	say("   final sync of every user still connected done")
	c.settleErasures(later(deadline, time.Now().Add(2*time.Minute)))
	say("   quiesced in %s", time.Since(start).Round(time.Second))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

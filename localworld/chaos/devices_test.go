package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// The rows the devices share: this many seeded accounts and as many
// seeded contacts. Few, so that their edits collide often.
const sharedPerSet = 4

// devices is two devices of one signed-in user editing the same few rows
// while a colleague edits them in Dynamics. Each device keeps its own
// copy of the user's rows, read from GET /api/changes with its own cursor
// (from time to time: it goes offline and comes back), and edits a shared
// row by sending a report whose customers[0] is that row by id, with
// ifMatch its copy's version and the copy's writable synced columns with
// one or two of them changed to a value unique to the edit. Every 8-15 s
// the user's mirror is refreshed by a manual sync job (as an operator's
// `connectorctl` or support would send one), so copies move on and edits
// meet rows at every distance from their version.
type devices struct {
	upn  string
	user int // the user's index among c.users
	rows []RowRef
	// carried are the columns of each set a report carries: those reports
	// may write (UPLOAD_CONFIG) that the sync reads (SYNC_CONFIG);
	// editable those of them the devices change (not alternate keys).
	carried, editable map[string][]string

	mu         sync.Mutex
	sent       [2]int // edits made, by device
	noCopy     [2]int // edits skipped: the device had no copy of the row yet
	reads      [2]int // complete reads of /api/changes
	gone       [2]int // 410s: the device dropped its copy
	readFailed [2]int // reads cut short by an error (resumed later)
	colleague  int    // the colleague's edits of shared rows
	colFailed  []string
	syncs      int // manual sync jobs sent for the user
	syncFailed int
}

// newDevices picks the devices' user (one the plan never disconnects:
// their reports must stay judgeable) and the shared rows, from the seed.
func newDevices(c *campaign, plan []Event) *devices {
	ds := &devices{carried: map[string][]string{}, editable: map[string][]string{}}
	out := map[int]bool{}
	for _, e := range plan {
		if e.Kind == Disconnect {
			out[e.User] = true
		}
	}
	for i, u := range c.users {
		if !out[i] {
			ds.upn, ds.user = u.UPN, i
			break
		}
	}
	rng := rand.New(rand.NewPCG(c.s.seed, 0xde71ce))
	for _, set := range []string{"accounts", "contacts"} {
		for _, i := range rng.Perm(c.s.rows)[:sharedPerSet] {
			ds.rows = append(ds.rows, RowRef{set, dataversesim.SeedID(set, i)})
		}
		es, _ := uploadConfig().EntitySet(set)
		var keys []string
		for _, k := range es.Keys {
			keys = append(keys, k...)
		}
		for _, col := range es.Fields {
			if slices.Contains(syncSelect[set], col) {
				ds.carried[set] = append(ds.carried[set], col)
				if !slices.Contains(keys, col) {
					ds.editable[set] = append(ds.editable[set], col)
				}
			}
		}
	}
	return ds
}

// deviceCopy is what one device holds: its copy of the shared rows as
// /api/changes gave them, and its cursor.
type deviceCopy struct {
	cursor string
	rows   map[RowRef]map[string]any
}

// device is device n (0 or 1) of the user: it reads /api/changes now and
// then, and edits a shared row every half second to two seconds.
func (c *campaign) device(ctx context.Context, ds *devices, n int) {
	rng := rand.New(rand.NewPCG(c.s.seed, 0xde0+uint64(n)))
	cp := &deviceCopy{rows: map[RowRef]map[string]any{}}
	var nextRead time.Time
	for k := 0; ctx.Err() == nil && !c.ledger.isErased(ds.upn); k++ {
		if time.Now().After(nextRead) {
			ds.read(c, n, cp)
			nextRead = time.Now().Add(time.Duration(4000+rng.IntN(8000)) * time.Millisecond)
		}
		row := ds.rows[rng.IntN(len(ds.rows))]
		if copied, ok := cp.rows[row]; ok {
			u, body := ds.edit(c.ledger, rng, n, k, row, copied)
			c.ledger.deliver(ctx, c.c, rng, u, body)
			if rng.IntN(4) == 0 && !c.ledger.isErased(ds.upn) {
				c.ledger.send(c.c, u, body)
			}
		} else {
			ds.mu.Lock()
			ds.noCopy[n]++
			ds.mu.Unlock()
		}
		wait(ctx, time.Duration(500+rng.IntN(1500))*time.Millisecond)
	}
}

// read brings device n's copy up to date from /api/changes: every page
// from its cursor; on 410 it drops its copy and reads from the start. An
// error (faults) ends the read where it got to; the next one resumes.
func (ds *devices) read(c *campaign, n int, cp *deviceCopy) {
	shared := map[RowRef]bool{}
	for _, r := range ds.rows {
		shared[r] = true
	}
	count := func(p *int) {
		ds.mu.Lock()
		*p++
		ds.mu.Unlock()
	}
	for pages := 0; pages < 100; pages++ {
		status, out, err := c.c.api(http.MethodGet, "/api/changes?limit=1000&cursor="+url.QueryEscape(cp.cursor), ds.upn, nil)
		if err == nil && status == http.StatusGone {
			cp.cursor, cp.rows = "", map[RowRef]map[string]any{}
			count(&ds.gone[n])
			continue
		}
		var page struct {
			Changes []struct {
				EntitySet string          `json:"entitySet"`
				ID        string          `json:"id"`
				Op        string          `json:"op"`
				Data      json.RawMessage `json:"data"`
			} `json:"changes"`
			Cursor string `json:"cursor"`
			More   bool   `json:"more"`
		}
		if err != nil || status != http.StatusOK || json.Unmarshal(out, &page) != nil {
			count(&ds.readFailed[n])
			return
		}
		for _, ch := range page.Changes {
			r := RowRef{ch.EntitySet, strings.ToLower(ch.ID)}
			if !shared[r] {
				continue
			}
			var data map[string]any
			if ch.Op == "delete" || json.Unmarshal(ch.Data, &data) != nil {
				delete(cp.rows, r)
				continue
			}
			cp.rows[r] = data
		}
		cp.cursor = page.Cursor
		if !page.More {
			count(&ds.reads[n])
			return
		}
	}
}

// edit builds edit k of device n: a report updating row as its copy has
// it, with one or two editable columns changed to "d<n+1>-<k>", a meeting
// regarding the row and half the time a note; it registers it in the
// ledger.
func (ds *devices) edit(l *ledger, rng *rand.Rand, n, k int, row RowRef, copied map[string]any) (*Upload, []byte) {
	id := fmt.Sprintf("chaos-d%d-%04d", n+1, k)
	value := fmt.Sprintf("d%d-%d", n+1, k)
	e := &DeviceEdit{Device: n + 1, Set: row.Set, ID: row.ID, Policy: conflictPolicies[row.Set],
		Base: map[string]any{}, Fields: map[string]any{}, Changed: map[string]any{}}
	e.IfMatch, _ = copied["@odata.etag"].(string)
	for _, col := range ds.carried[row.Set] {
		if v, ok := copied[col]; ok {
			e.Base[col], e.Fields[col] = v, v
		}
	}
	cols := ds.editable[row.Set]
	for _, i := range rng.Perm(len(cols))[:min(1+rng.IntN(2), len(cols))] {
		e.Changed[cols[i]], e.Fields[cols[i]] = value, value
	}
	u := &Upload{ID: id, User: ds.upn, Subject: "Chaos device meeting " + id, Edit: e}
	start := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(2*k+n) * time.Hour)
	report := map[string]any{
		"uploadId": id,
		"meeting": map[string]any{"subject": u.Subject, "start": start.Format(time.RFC3339), "end": start.Add(30 * time.Minute).Format(time.RFC3339),
			"regarding": map[string]any{"customer": 0}},
		"customers": []any{map[string]any{"entitySet": row.Set, "id": row.ID, "ifMatch": e.IfMatch, "fields": e.Fields}},
	}
	if rng.IntN(2) == 0 {
		s := "Chaos device note " + id
		u.Annotations = append(u.Annotations, s)
		report["notes"] = []any{map[string]any{"subject": s, "text": "Changed " + strings.Join(sortedKeys(e.Changed), ", ")}}
	}
	body, _ := json.Marshal(report)
	l.mu.Lock()
	l.uploads = append(l.uploads, u)
	l.bodies[id] = body
	l.mu.Unlock()
	ds.mu.Lock()
	ds.sent[n]++
	ds.mu.Unlock()
	return u, body
}

// colleague is a person in Dynamics editing the shared rows' editable
// columns (the ones the devices change) through the simulator's admin
// API, each to a value unique to the edit ("c-<n>"), every second to
// three, so that both sides change the same field.
func (c *campaign) colleague(ctx context.Context, ds *devices) {
	rng := rand.New(rand.NewPCG(c.s.seed, 0xc011))
	for n := 0; ctx.Err() == nil; n++ {
		row := ds.rows[rng.IntN(len(ds.rows))]
		cols := ds.editable[row.Set]
		err := c.c.admin(http.MethodPatch, c.w.DataverseURL+"/_sim/tables/"+row.Set+"/"+row.ID, map[string]any{cols[rng.IntN(len(cols))]: fmt.Sprintf("c-%d", n)})
		ds.mu.Lock()
		if err != nil {
			ds.colFailed = append(ds.colFailed, err.Error())
		} else {
			ds.colleague++
		}
		ds.mu.Unlock()
		wait(ctx, time.Duration(1000+rng.IntN(2000))*time.Millisecond)
	}
}

// refresher sends a manual sync job for the devices' user every 8-15 s,
// so that their mirror, and so the devices' copies, move on within a
// short campaign (SYNC_INTERVAL is a minute at least).
func (c *campaign) refresher(ctx context.Context, ds *devices) {
	rng := rand.New(rand.NewPCG(c.s.seed, 0x5c))
	u := c.users[ds.user]
	for wait(ctx, time.Duration(8000+rng.IntN(7000))*time.Millisecond) {
		err := sendMessage(c.w.ServiceBus.ConnectionString, c.w.SyncQueue, queue.NewSyncJob(u.TenantID, u.OID, queue.ReasonManual, time.Now()))
		ds.mu.Lock()
		if err != nil {
			ds.syncFailed++
		} else {
			ds.syncs++
		}
		ds.mu.Unlock()
	}
}

// sentTotal is how many edits the devices made.
func (ds *devices) sentTotal() int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.sent[0] + ds.sent[1]
}

// journals reads the write journal of every shared row.
func (ds *devices) journals(sim *dataversesim.Sim) map[RowRef]Journal {
	out := map[RowRef]Journal{}
	for _, r := range ds.rows {
		out[r] = sim.Journal(r.Set, r.ID)
	}
	return out
}

// report prints what the devices did and how their edits ended, and
// returns the invariants about them: no update lost without a recorded
// conflict, and that the edits collided at all (a campaign of a minute or
// more whose edits never collide proves nothing).
func (ds *devices) report(c *campaign, d Dynamics) []Finding {
	journals := ds.journals(c.w.Dataverse)
	lost, overwrites := CheckNoLostUpdates(c.ledger.uploads, journals, d)
	writes := 0
	for _, j := range journals {
		writes += len(j)
	}

	type tally struct{ edits, accepted, done, afterChange, conflict, clashing, writtenOver, fieldsOver, other int }
	by := map[string]*tally{"accounts": {}, "contacts": {}}
	for _, u := range c.ledger.uploads {
		e := u.Edit
		if e == nil {
			continue
		}
		t := by[e.Set]
		t.edits++
		if !u.Accepted {
			continue
		}
		t.accepted++
		switch u.Final.Status {
		case "done":
			t.done++
			b, _ := etagVersion(e.IfMatch)
			row := RowRef{e.Set, strings.ToLower(e.ID)}
			v, ok := recordVersion(u.Final, row)
			if !ok {
				v, ok = ownWrite(u, journals[row])
			}
			if ok {
				for _, j := range journals[row] {
					if j.Version > b && j.Version < v {
						t.afterChange++ // written on a row that changed since its copy
						break
					}
				}
			}
			for _, cf := range u.Final.Conflicts {
				if cf.Written {
					t.writtenOver++
					t.fieldsOver += len(cf.Fields)
				}
			}
		case "conflict":
			t.conflict++
			for _, cf := range u.Final.Conflicts {
				if len(cf.Fields) > 0 {
					t.clashing++
					break
				}
			}
		default:
			t.other++
		}
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	say("\n== Two devices of %s editing %d shared rows (%d accounts: %s, %d contacts: %s); columns %v",
		ds.upn, len(ds.rows), sharedPerSet, conflictPolicies["accounts"], sharedPerSet, conflictPolicies["contacts"], ds.editable)
	say("   device edits sent %d (device 1: %d, device 2: %d; %d skipped, no copy yet); /api/changes read through %d times, %d cut short, %d answered 410",
		ds.sent[0]+ds.sent[1], ds.sent[0], ds.sent[1], ds.noCopy[0]+ds.noCopy[1], ds.reads[0]+ds.reads[1], ds.readFailed[0]+ds.readFailed[1], ds.gone[0]+ds.gone[1])
	say("   colleague edits of the shared rows' columns in Dynamics %d (%d failed); manual sync jobs for the user %d (%d failed); the editor: %v",
		ds.colleague, len(ds.colFailed), ds.syncs, ds.syncFailed, c.edits)
	collisions := 0
	for _, set := range []string{"accounts", "contacts"} {
		t := by[set]
		say("   %-8s (%s): %d edits, %d accepted: %d done (%d on a row changed since the device's copy), %d conflict (%d on a field changed on both sides),",
			set, conflictPolicies[set], t.edits, t.accepted, t.done, t.afterChange, t.conflict, t.clashing)
		say("   %-8s  %d done writing over changes made in Dynamics (%d fields, conflicts written: true), %d not finished otherwise", "", t.writtenOver, t.fieldsOver, t.other)
		collisions += t.conflict + t.writtenOver
	}
	say("   Dynamics' journal of the shared rows: %d writes; %d of them by an edit over a value changed in Dynamics since its copy (each must be a conflict written over)",
		writes, overwrites)
	collided := Finding{Invariant: "the devices' edits collided (conflicts, merge, or written over under client-wins)", Checked: by["accounts"].edits + by["contacts"].edits}
	if collisions == 0 && c.s.duration >= time.Minute {
		collided.violate("%d device edits over %s of faults and not one conflict: the scenario proves nothing (more edits or fewer shared rows)", collided.Checked, c.s.duration)
	}
	return []Finding{lost, collided}
}

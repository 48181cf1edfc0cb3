package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/dataversesim"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/testworld"
)

// The seeded users, in the order CHAOS_USERS takes them.
var seedUsers = []string{"alice@contoso.example", "dave@fabrikam.example", "bob@contoso.example", "admin@contoso.example", "admin@fabrikam.example"}

// syncedSets are what the campaign's SYNC_CONFIG syncs (small pages, so a
// fault lands between pages often).
var syncedSets = []string{"accounts", "contacts", "appointments"}

const syncConfig = `SYNC_CONFIG={"entitySets":[` +
	`{"name":"accounts","select":["name","accountnumber","modifiedon"],"pageSize":100},` +
	`{"name":"contacts","select":["fullname","emailaddress1"],"pageSize":100},` +
	`{"name":"appointments","select":["subject","scheduledstart"],"pageSize":100}]}`

// settings of a campaign, from the environment (scripts/chaos.sh).
type settings struct {
	seed     uint64
	duration time.Duration
	users    int
	rows     int
	exclude  map[Kind]bool
	quiesce  time.Duration
}

func loadSettings(t *testing.T) settings {
	seedText := os.Getenv("CHAOS_SEED")
	if seedText == "" {
		t.Skip("CHAOS_SEED is not set; run `make chaos` (or `make chaos-ci`)")
	}
	s := settings{duration: 5 * time.Minute, users: 3, rows: 300, quiesce: 4 * time.Minute}
	var problems []string
	var err error
	if s.seed, err = strconv.ParseUint(seedText, 10, 64); err != nil {
		problems = append(problems, fmt.Sprintf("CHAOS_SEED=%q: must be a whole number (e.g. 42)", seedText))
	}
	if v := os.Getenv("CHAOS_DURATION"); v != "" {
		if s.duration, err = time.ParseDuration(v); err != nil || s.duration < 10*time.Second {
			problems = append(problems, fmt.Sprintf("CHAOS_DURATION=%q: must be a duration of 10s or more (e.g. 60s, 5m)", v))
		}
	}
	if v := os.Getenv("CHAOS_USERS"); v != "" {
		if s.users, err = strconv.Atoi(v); err != nil || s.users < 1 || s.users > len(seedUsers) {
			problems = append(problems, fmt.Sprintf("CHAOS_USERS=%q: must be 1 to %d (the simulator's seeded users)", v, len(seedUsers)))
		}
	}
	if v := os.Getenv("CHAOS_ROWS"); v != "" {
		if s.rows, err = strconv.Atoi(v); err != nil || s.rows < 10 || s.rows > 100000 {
			problems = append(problems, fmt.Sprintf("CHAOS_ROWS=%q: must be 10 to 100000 (rows per seeded set)", v))
		}
	}
	if v := os.Getenv("CHAOS_QUIESCE"); v != "" {
		if s.quiesce, err = time.ParseDuration(v); err != nil || s.quiesce < 30*time.Second {
			problems = append(problems, fmt.Sprintf("CHAOS_QUIESCE=%q: must be a duration of 30s or more", v))
		}
	}
	if s.exclude, err = ParseKinds(os.Getenv("CHAOS_EXCLUDE")); err != nil {
		problems = append(problems, "CHAOS_EXCLUDE: "+err.Error())
	}
	if len(problems) > 0 {
		t.Fatalf("bad campaign settings:\n  %s", strings.Join(problems, "\n  "))
	}
	return s
}

// campaign is one run: the world, the services it restarts, the people
// in it, and what happened.
type campaign struct {
	t       *testing.T
	s       settings
	w       *testworld.World
	c       *client
	azurite *Service
	proxies []*Proxy // in front of Azurite
	bus     *Service
	users   []testworld.User
	ledger  *ledger

	injected    map[Kind]int
	failed      map[Kind][]string
	busRestarts []time.Time
	storeLost   []string // connection rows missing after an Azurite restart
	notes       []string // what restarts took
	editsMu     sync.Mutex
	edits       map[string]int
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// TestChaos is `make chaos`: see the package documentation and
// docs/decisions.md ("Chaos campaign").
func TestChaos(t *testing.T) {
	s := loadSettings(t)
	c := &campaign{t: t, s: s, ledger: newLedger(), injected: map[Kind]int{}, failed: map[Kind][]string{}, edits: map[string]int{}}
	say("== chaos: seed %d, %s of faults, %d users, %d rows per set (reproduce: CHAOS_SEED=%d CHAOS_DURATION=%s CHAOS_USERS=%d make chaos)",
		s.seed, s.duration, s.users, s.rows, s.seed, s.duration, s.users)
	c.startWorld()
	c.run()
	c.heal()
	c.check()
}

// startWorld starts Azurite (on disk) and the Service Bus fake on free
// ports, then the world on them, connects the users and waits for their
// first sync.
func (c *campaign) startWorld() {
	t := c.t
	root := testworld.RepoRoot(t)
	dir := t.TempDir()
	ports, err := FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	blob, qport, table, sb, sbAdmin := ports[0], ports[1], ports[2], ports[3], ports[4]
	inner := ports[5:8] // Azurite's own ports, behind the proxies on blob, qport and table
	c.azurite = &Service{Name: "Azurite", Ports: inner, Log: filepath.Join(dir, "azurite.log"),
		Args: []string{filepath.Join(root, "node_modules", ".bin", "azurite"), "--silent", "--skipApiVersionCheck", "--disableTelemetry",
			"--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
			"--blobPort", strconv.Itoa(inner[0]), "--queuePort", strconv.Itoa(inner[1]), "--tablePort", strconv.Itoa(inner[2]),
			"--location", filepath.Join(dir, "azurite")}}
	for i, public := range []int{blob, qport, table} {
		p, err := NewProxy(public, inner[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		c.proxies = append(c.proxies, p)
	}
	c.bus = &Service{Name: "the Service Bus fake", Ports: []int{sb, sbAdmin}, Log: filepath.Join(dir, "servicebus.log"),
		Args: []string{"node", filepath.Join(root, "tools", "servicebus-fake", "main.js"), "--port", strconv.Itoa(sb), "--admin-port", strconv.Itoa(sbAdmin), "--log"}}
	for _, svc := range []*Service{c.azurite, c.bus} {
		if err := svc.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Stop() })
	}
	t.Setenv("CONNECTOR_TEST_STORAGE", fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;QueueEndpoint=http://127.0.0.1:%d/devstoreaccount1;TableEndpoint=http://127.0.0.1:%d/devstoreaccount1;", blob, qport, table))
	t.Setenv("CONNECTOR_TEST_SERVICEBUS", fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;", sb))
	t.Setenv("CONNECTOR_TEST_SERVICEBUS_ADMIN", fmt.Sprintf("http://127.0.0.1:%d", sbAdmin))

	c.w = testworld.Start(t, testworld.Options{Dataverse: dataversesim.Options{Seed: c.s.rows}, MaxHandlerRestarts: 100000,
		Settings: []string{syncConfig, "SYNC_SCHEDULE=*/10 * * * * *", "SYNC_INTERVAL=1m", "SYNC_LEASE_DURATION=10s",
			"UPLOAD_INLINE_DOCUMENT_BYTES=2048"}})
	c.c = newClient(c.w)
	// A restarted fake must know the world's queues: they were made
	// through its admin API, which it forgets.
	cfg := filepath.Join(dir, "servicebus-queues.json")
	if err := writeBusConfig(root, cfg, map[string]string{"sync-jobs": c.w.SyncQueue, "uploads": c.w.UploadQueue}); err != nil {
		t.Fatal(err)
	}
	c.bus.Args = append(c.bus.Args, "--config", cfg)
	say("   world: app %s, Dynamics %s, Azurite on %d/%d/%d (on disk), Service Bus fake on %d", c.w.URL, c.w.DataverseURL, blob, qport, table, sb)

	start := time.Now()
	approved := map[string]bool{}
	for _, upn := range seedUsers[:c.s.users] {
		u := c.w.User(t, upn)
		if !approved[u.TenantID] {
			for _, admin := range seedUsers {
				if a := c.w.User(t, admin); a.Admin && a.TenantID == u.TenantID {
					c.w.Approve(t, admin)
				}
			}
			approved[u.TenantID] = true
		}
		c.users = append(c.users, c.w.SignIn(t, upn))
	}
	if late := c.waitSynced(start, 3*time.Minute); len(late) > 0 {
		t.Fatalf("the first sync of %v did not finish within 3 minutes (before any fault)", late)
	}
	say("   %d users signed in and synced (%s)", len(c.users), time.Since(start).Round(time.Second))
}

// writeBusConfig writes the fake's queue file: the repository's queues
// under the names the world gave them.
func writeBusConfig(root, path string, names map[string]string) error {
	b, err := os.ReadFile(filepath.Join(root, "tools", "servicebus-fake", "config.json"))
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	ns := cfg["UserConfig"].(map[string]any)["Namespaces"].([]any)[0].(map[string]any)
	for _, q := range ns["Queues"].([]any) {
		q := q.(map[string]any)
		q["Name"] = names[q["Name"].(string)]
	}
	out, _ := json.MarshalIndent(cfg, "", "  ")
	return os.WriteFile(path, out, 0o644)
}

// waitSynced waits until every user's sets have succeeded after since and
// returns the users that had not when timeout passed.
func (c *campaign) waitSynced(since time.Time, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var late []string
		for _, u := range c.users {
			st, err := store.NewSyncStates(c.w.DB).Sets(context.Background(), u.TenantID, u.OID)
			for _, s := range syncedSets {
				if err != nil || !st[s].LastSuccess.After(since) {
					late = append(late, u.UPN)
					break
				}
			}
		}
		if len(late) == 0 || time.Now().After(deadline) {
			return late
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
	say("\n== %d faults planned over %s; users upload, an editor works in Dynamics", len(plan), c.s.duration)
	ctx, stop := context.WithCancel(context.Background())
	var actors sync.WaitGroup
	for i, u := range c.users {
		actors.Go(func() { c.ledger.uploader(ctx, c.c, c.s.seed, i, u.UPN) })
	}
	actors.Go(func() { editor(ctx, c.c, c.s.seed, c.s.rows, c.edits, &c.editsMu) })

	fs := &faultState{ends: map[Kind]time.Duration{}}
	type resign struct {
		upn string
		at  time.Duration
	}
	var resigns []resign
	rng := rand.New(rand.NewPCG(c.s.seed, 0x5ee))
	start := time.Now()
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
			if r.at > now || c.c.signIn(r.upn) != nil {
				kept = append(kept, r) // not yet, or refused under faults: later
			}
		}
		resigns = kept
	}
	stop()
	actors.Wait()
	say("   done: %d reports sent by the users, edits in Dynamics %v", len(c.ledger.uploads), c.edits)
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
	}
	return fmt.Errorf("unknown kind %s", e.Kind)
}

// restartStore cuts every connection to Azurite, stops it in order (it
// writes its database), starts it again on the same data and lets
// connections through. A row written just before, and every user's
// connection, must still be there.
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
	for _, u := range c.users {
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

// heal removes every fault, signs in whoever needs to, resends what was
// never accepted, resubmits what was dead-lettered (as an operator
// would), waits until every upload has finished, and syncs everyone once
// more.
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

	for _, u := range c.users {
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
		c.ledger.deliver(ctx, c.c, rng, u, c.ledger.bodies[u.ID])
	}

	bus, err := queue.NewClient(config.ServiceBus{ConnectionString: c.w.ServiceBus.ConnectionString})
	must(err)
	defer bus.Close(context.Background())
	dlq := queue.NewDeadLetters(bus, c.w.UploadQueue)
	resubmitted := 0
	pending := c.ledger.uploads
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
			if u.Final.Status != "done" && u.Final.Status != "failed" {
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
	for _, u := range c.users {
		c.w.SendSyncJob(t, u, syncStart)
	}
	if late := c.waitSynced(syncStart, time.Until(deadline)+time.Minute); len(late) > 0 {
		c.ledger.problem("the final sync of %v did not finish before the quiesce deadline", late)
	}
	say("   final sync of every user done; quiesced in %s", time.Since(start).Round(time.Second))
}

// saveLogs keeps the run's logs in CHAOS_LOG_DIR (scripts/chaos.sh: .run/chaos/<seed>).
func (c *campaign) saveLogs(logs map[string]string) {
	dir := os.Getenv("CHAOS_LOG_DIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("keep the logs: %v", err)
		return
	}
	for name, text := range logs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			c.t.Logf("keep the logs: %v", err)
		}
	}
	say("   logs kept in %s", dir)
}

// check reads Dynamics, every user's change log and every log, checks the
// invariants and prints them with the faults injected.
func (c *campaign) check() {
	t := c.t
	d := Dynamics{}
	for _, set := range append(append([]string{}, syncedSets...), "annotations") {
		d[set] = map[string]Row{}
		for _, id := range c.w.Dataverse.IDs(set) {
			if r, ok := c.w.Dataverse.GetRow(set, id); ok {
				d[set][id] = r
			}
		}
	}
	var findings []Finding
	uf, stranded, outcomes := CheckUploads(c.ledger.uploads, d, c.busRestarts, true)
	findings = append(findings, uf)
	subjects := map[string]bool{}
	for _, u := range c.ledger.uploads {
		subjects[u.Subject] = true
		for _, a := range u.Annotations {
			subjects[a] = true
		}
	}
	findings = append(findings, CheckNoDuplicates(d, subjects))
	for _, u := range c.users {
		tok, err := c.c.token(u.UPN, true)
		if err != nil {
			t.Fatal(err)
		}
		changes, _ := c.w.Changes(t, tok, "", 1000)
		findings = append(findings, CheckMirror(u.UPN, testworld.Replay(changes), d, syncedSets))
	}
	busLog, _ := c.bus.Output()
	storeLog, _ := c.azurite.Output()
	c.saveLogs(map[string]string{"handler.log": c.w.Logs(), "servicebus.log": busLog, "azurite.log": storeLog})
	secrets := append(append([]string{testworld.ConnectorSecret, testworld.EncryptionKey, "eyJ"}, c.w.Secrets()...), c.c.secrets()...)
	findings = append(findings, CheckNoSecrets(map[string]string{"funchost and handler": c.w.Logs(), "Service Bus fake": busLog, "Azurite": storeLog}, secrets))
	api := Finding{Invariant: "the API never refused a valid report, and the final sync finished", Checked: len(c.ledger.uploads), Violations: c.ledger.problems}
	findings = append(findings, api, Finding{Invariant: "Azurite kept its data across restarts", Checked: c.azurite.Runs() - 1, Violations: c.storeLost})

	say("\n== Faults injected (seed %d)", c.s.seed)
	total := 0
	for _, k := range Kinds {
		if n, f := c.injected[k.Kind], len(c.failed[k.Kind]); n+f > 0 {
			say("   %-20s %4d   %s", k.Kind, n, k.Title)
			total += n
			for _, e := range c.failed[k.Kind][:min(f, 3)] {
				say("   %-20s        could not inject: %s", "", e)
			}
		}
	}
	say("   %-20s %4d", "total", total)
	for _, n := range c.notes {
		say("   (%s)", n)
	}
	say("\n== Uploads: %d reports, outcomes %v; POST answers by status %v (0: no answer)", len(c.ledger.uploads), outcomes, c.ledger.answers)
	for _, e := range c.ledger.errors[:min(len(c.ledger.errors), 10)] {
		say("   a 5xx answer: %s", strings.TrimSpace(e))
	}
	if len(c.ledger.errors) > 10 {
		say("   … and %d more 5xx answers (all in .run/chaos/<seed>/handler.log)", len(c.ledger.errors)-10)
	}
	for _, u := range c.ledger.uploads {
		if u.Final.Status != "done" && !(u.Bad && u.Final.Status == "failed") {
			say("   %s (%s): %s %+v", u.ID, u.User, orNone(u.Final.Status), u.Final.LastError)
		}
	}
	if len(stranded) > 0 {
		say("   %d upload(s) never finished, all accepted before a restart of the Service Bus fake, which keeps messages in memory only", len(stranded))
		say("   (Azure Service Bus keeps them; this campaign cannot say what would have happened): %s", strings.Join(stranded[:min(len(stranded), 10)], ", "))
	}
	say("\n== Invariants")
	sort.SliceStable(findings, func(i, j int) bool { return len(findings[i].Violations) > len(findings[j].Violations) })
	broken := 0
	for _, f := range findings {
		mark := "held    "
		if len(f.Violations) > 0 {
			mark = "VIOLATED"
			broken++
		}
		say("   %s %s (%d checked)", mark, f.Invariant, f.Checked)
		for _, v := range f.Violations[:min(len(f.Violations), 10)] {
			say("            - %s", v)
		}
		if len(f.Violations) > 10 {
			say("            … and %d more", len(f.Violations)-10)
		}
	}
	if broken > 0 {
		t.Errorf("%d invariant(s) violated; reproduce with CHAOS_SEED=%d CHAOS_DURATION=%s CHAOS_USERS=%d make chaos", broken, c.s.seed, c.s.duration, c.s.users)
		return
	}
	say("\n== Every invariant held (seed %d).", c.s.seed)
}

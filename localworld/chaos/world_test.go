package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/loopback"
	"github.com/pitcher/connector/localworld/testworld"
)

// startWorld starts Azurite (on disk) and the Service Bus fake on free
// ports, then the world on them, connects the users and waits for their
// first sync.
func (c *campaign) startWorld() {
	t := c.t
	root := testworld.RepoRoot(t)
	dir := t.TempDir()
	free, err := loopback.FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	blob, qport, table, sb, sbAdmin := free[0], free[1], free[2], free[3], free[4]
	inner := free[5:8] // Azurite's own ports, behind the proxies on blob, qport and table
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
		Args: []string{"node", filepath.Join(root, "localworld", "servicebus-fake", "main.js"), "--port", strconv.Itoa(sb), "--admin-port", strconv.Itoa(sbAdmin), "--log"}}
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
		Settings: []string{syncConfig(), "UPLOAD_CONFIG=" + uploadConfig().String(), "SYNC_SCHEDULE=*/10 * * * * *", "SYNC_INTERVAL=1m", "SYNC_LEASE_DURATION=10s",
			"UPLOAD_INLINE_DOCUMENT_BYTES=2048"}})
	c.c = newClient(c.w)
	// A restarted fake must know the world's queues: they were made
	// through its admin API, which it forgets.
	cfg := filepath.Join(dir, "servicebus-queues.json")
	if err := writeBusConfig(root, cfg, map[string]string{"sync-jobs": c.w.SyncQueue, "uploads": c.w.UploadQueue, "lifecycle": c.w.LifecycleQueue}); err != nil {
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
	b, err := os.ReadFile(filepath.Join(root, "localworld", "servicebus-fake", "config.json"))
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
		name, ok := names[q["Name"].(string)]
		if !ok {
			return fmt.Errorf("the Service Bus fake's config names queue %q, which this world does not have", q["Name"])
		}
		q["Name"] = name
	}
	out, _ := json.MarshalIndent(cfg, "", "  ")
	return os.WriteFile(path, out, 0o644)
}

// waitSynced waits until the sets of every user who did not disconnect
// have succeeded after since and returns the users that had not when
// timeout passed.
func (c *campaign) waitSynced(since time.Time, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var late []string
		for _, u := range c.connected() {
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

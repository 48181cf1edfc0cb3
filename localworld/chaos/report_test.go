package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/testworld"
)

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
	gone := map[string]Disconnection{}
	for upn, dr := range c.disconnects {
		gone[upn] = dr.snapshot()
	}
	uf, stranded, outcomes := CheckUploads(c.ledger.uploads, d, c.busRestarts, true, gone)
	findings = append(findings, uf)
	subjects := map[string]bool{}
	for _, u := range c.ledger.uploads {
		subjects[u.Subject] = true
		for _, a := range u.Annotations {
			subjects[a] = true
		}
	}
	findings = append(findings, CheckNoDuplicates(d, subjects))
	findings = append(findings, c.devices.report(c, d)...)
	for _, u := range c.connected() {
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
	findings = append(findings, CheckNoNames(c.w.Logs(), c.w.People()))
	erased := c.erased()
	scan := c.scanStorage()
	ef, kept := CheckErased(erased, scan, testworld.Pseudonyms())
	findings = append(findings, ef)
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
		if c.disconnects[u.User] == nil && u.Final.Status != "done" && !(u.Bad && u.Final.Status == "failed") && !(u.Edit != nil && u.Final.Status == "conflict") {
			say("   %s (%s): %s %+v", u.ID, u.User, orNone(u.Final.Status), u.Final.LastError)
		}
	}
	if len(stranded) > 0 {
		say("   %d upload(s) never finished, all accepted before a restart of the Service Bus fake, which keeps messages in memory only", len(stranded))
		say("   (Azure Service Bus keeps them; this campaign cannot say what would have happened): %s", strings.Join(stranded[:min(len(stranded), 10)], ", "))
	}
	if n := len(c.busRestarts); n > 0 {
		say("   The Service Bus fake was restarted %d time(s) and keeps messages in memory only: \"none lost\" is claimed for every", n)
		say("   upload but those accepted before a restart that never finished (%d of %d covered; the other %d are listed above as stranded).",
			len(c.ledger.uploads)-len(stranded), len(c.ledger.uploads), len(stranded))
	}
	c.reportErasures(gone, outcomes, scan.Audit, kept)
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

// reportErasures prints the disconnects and offboardings: what the users
// were answered, how long the erasures took, what became of the reports
// of a user who disconnected, and which invariants leave them out.
func (c *campaign) reportErasures(gone map[string]Disconnection, outcomes map[string]int, audit []store.ErasureRecord, kept []string) {
	if len(c.disconnects)+len(c.offboards) == 0 {
		return
	}
	say("\n== Disconnects and offboardings")
	for _, upn := range sortedKeys(c.disconnects) {
		d := c.disconnects[upn]
		d.mu.Lock()
		answered := "never answered 202 or 204 (last: " + d.last + ")"
		if !d.answered.IsZero() {
			answered = fmt.Sprintf("answered after %s", d.answered.Sub(d.pressed).Round(time.Millisecond))
		}
		held := "no sync held their lease"
		if d.syncHeld {
			held = "a sync of theirs held their lease"
		}
		say("   %s pressed Disconnect %s into the campaign (%s); DELETE answers by status %v, %s; %s; %s",
			upn, d.pressed.Sub(c.began).Round(100*time.Millisecond), held, d.answers, answered, d.note,
			audited(audit, store.ErasureDisconnect, d.user.TenantID, d.user.OID))
		d.mu.Unlock()
	}
	if len(gone) > 0 {
		accepted := outcomes[OutcomeErasedWritten] + outcomes[OutcomeErasedNotWritten]
		say("   reports of the user(s) who disconnected: %d accepted, of which %d are in Dynamics once (written before) and %d not at all",
			accepted, outcomes[OutcomeErasedWritten], outcomes[OutcomeErasedNotWritten])
		say("   (cancelled, taken back, or failed as built to); %d never accepted (refused 403 or given up at the disconnect); none may be in part or twice", outcomes[OutcomeErasedRefused])
		say("   A user who disconnected is left out of: the final sync and \"every user's mirror equals Dynamics\" (their mirror is erased),")
		say("   healing (no sign-in again, no report sent again), and \"none lost\": their reports must be in Dynamics once or not at all.")
	}
	for _, o := range c.offboards {
		resent := ""
		if o.resent > 0 {
			resent = fmt.Sprintf(", message sent again %d time(s)", o.resent)
		}
		say("   tenant %s (made for it: 2 users, their rows and blobs) offboarded by a lifecycle message%s: %s; %s", o.tenant, resent, o.note,
			audited(audit, store.ErasureOffboard, o.tenant, ""))
	}
	for _, k := range kept {
		say("   kept after the erasure (docs/privacy.md, \"What an erasure does not reach\"): %s", k)
	}
	for _, n := range c.settleNotes {
		say("   (%s)", n)
	}
}

// audited describes the audit row of an erasure: how long it took and
// what it deleted.
func audited(audit []store.ErasureRecord, kind, tenant, user string) string {
	p := testworld.Pseudonyms()
	subject := ""
	if user != "" {
		subject = p.User(tenant, user)
	}
	for _, a := range audit {
		if a.Kind == kind && a.Tenant == p.Tenant(tenant) && a.Subject == subject {
			return fmt.Sprintf("audited: completed %s after it was asked for, deleted %s", a.CompletedAt.Sub(a.RequestedAt).Round(time.Millisecond), a.Counts)
		}
	}
	return "no audit row"
}

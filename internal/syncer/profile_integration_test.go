package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/syncconfig"
	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// myActiveAccounts is the profile "my active accounts and their contacts".
const myActiveAccounts = `{"entitySets":[` +
	`{"name":"accounts","select":["accountid","name"],"filter":"_ownerid_value eq @me and statecode eq 0","notes":false},` +
	`{"name":"contacts","select":["contactid","fullname"],"notes":false,"relatedTo":{"set":"accounts","lookup":"_parentcustomerid_value"}}]}`

// me is the Dataverse user of the profile tests: seeded rows 1, 6, 11, …
// are theirs (dataversesim.SeedOwner).
var me = dataversesim.SeedUserID(1)

// TestProfileFollowsOwnership: an account reassigned to someone else leaves
// the user's mirror with its contacts, as deletes in their change log;
// given back, both return; deactivated, it leaves. A deletion of a row that
// was never in the profile costs no Table write.
func TestProfileFollowsOwnership(t *testing.T) {
	writes := &countWrites{}
	h := newHarness(t, harnessOptions{seed: 10, cfg: myActiveAccounts, dataverseUser: me,
		client: &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{writes}}}})
	a1, a6 := dataversesim.SeedID("accounts", 1), dataversesim.SeedID("accounts", 6)
	c1, c6 := dataversesim.SeedID("contacts", 1), dataversesim.SeedID("contacts", 6)
	expect := func(step string, accounts, contacts []string) {
		t.Helper()
		for set, want := range map[string][]string{"accounts": accounts, "contacts": contacts} {
			want = slices.Sorted(slices.Values(want))
			if got := keys(h.mirrorOf(t, set)); !slices.Equal(got, want) {
				t.Errorf("%s: %s in the mirror = %v, want %v", step, set, got, want)
			}
			if got := keys(h.replay(t)[set]); !slices.Equal(got, want) {
				t.Errorf("%s: %s in the app's copy = %v, want %v", step, set, got, want)
			}
		}
	}
	h.run(t, syncer.OutcomeSynced)
	expect("first sync", []string{a1, a6}, []string{c1, c6})
	for id, row := range h.mirrorOf(t, "accounts") {
		if strings.Contains(string(row), "_ownerid_value") || strings.Contains(string(row), "statecode") {
			t.Errorf("account %s is stored with the columns read only for the filter: %s", id, row)
		}
	}

	if err := h.sim.AssignRow("accounts", a1, "systemusers", dataversesim.SeedUserID(2)); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	expect("reassigned to another user", []string{a6}, []string{c6})

	if err := h.sim.AssignRow("accounts", a1, "systemusers", me); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	expect("given back", []string{a1, a6}, []string{c1, c6})

	if err := h.sim.UpdateRow("accounts", a6, map[string]any{"statecode": 1}); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	expect("deactivated", []string{a1}, []string{c1})

	before := writes.n.Load()
	h.run(t, syncer.OutcomeSynced)
	quiet := writes.n.Load() - before
	if err := h.sim.DeleteRow("contacts", dataversesim.SeedID("contacts", 3)); err != nil {
		t.Fatal(err)
	}
	before = writes.n.Load()
	h.run(t, syncer.OutcomeSynced)
	if got := writes.n.Load() - before; got != quiet {
		t.Errorf("the deletion of a contact never in the profile made %d Table writes, want %d (as a sync with no change)", got, quiet)
	}
	expect("a contact outside deleted", []string{a1}, []string{c1})
}

// TestProfileConvergesUnderRandomEdits: for random sequences of edits in
// Dynamics (reassign, deactivate, reactivate, create, move and delete
// accounts and contacts), the mirror after each sync holds exactly the
// simulator's rows that match the profile.
func TestProfileConvergesUnderRandomEdits(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			h := newHarness(t, harnessOptions{seed: 15, cfg: myActiveAccounts, dataverseUser: me})
			rng := rand.New(rand.NewPCG(seed, 17))
			owners := []string{me, dataversesim.SeedUserID(2)}
			pick := func(set string) string {
				ids := h.sim.IDs(set)
				return ids[rng.IntN(len(ids))]
			}
			for step := range 12 {
				for range 1 + rng.IntN(4) {
					var err error
					switch rng.IntN(7) {
					case 0:
						err = h.sim.AssignRow("accounts", pick("accounts"), "systemusers", owners[rng.IntN(2)])
					case 1:
						err = h.sim.UpdateRow("accounts", pick("accounts"), map[string]any{"statecode": rng.IntN(2)})
					case 2:
						_, err = h.sim.CreateRow("accounts", map[string]any{"name": "New", "ownerid@odata.bind": "/systemusers(" + owners[rng.IntN(2)] + ")"})
					case 3:
						_, err = h.sim.CreateRow("contacts", map[string]any{"lastname": "New", "parentcustomerid_account@odata.bind": "/accounts(" + pick("accounts") + ")"})
					case 4:
						err = h.sim.UpdateRow("contacts", pick("contacts"), map[string]any{"parentcustomerid_account@odata.bind": "/accounts(" + pick("accounts") + ")"})
					case 5:
						err = h.sim.DeleteRow("contacts", pick("contacts"))
					case 6:
						if len(h.sim.IDs("accounts")) > 5 {
							err = h.sim.DeleteRow("accounts", pick("accounts"))
						}
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				h.run(t, syncer.OutcomeSynced)
				want := profileOf(t, h)
				for set, ids := range want {
					if got := keys(h.mirrorOf(t, set)); !slices.Equal(got, ids) {
						t.Fatalf("step %d: %s in the mirror = %v, want the profile's %v", step, set, got, ids)
					}
					if got := keys(h.replay(t)[set]); !slices.Equal(got, ids) {
						t.Fatalf("step %d: %s in the app's copy = %v, want the profile's %v", step, set, got, ids)
					}
				}
			}
		})
	}
}

// profileOf computes myActiveAccounts from the simulator's rows: the
// accounts me owns that are active, and the contacts of those.
func profileOf(t *testing.T, h *harness) map[string][]string {
	t.Helper()
	var accounts, contacts []string
	mine := map[string]bool{}
	for _, id := range h.sim.IDs("accounts") {
		row, _ := h.sim.GetRow("accounts", id)
		if row["_ownerid_value"] == me && row["statecode"] == float64(0) {
			accounts = append(accounts, id)
			mine[id] = true
		}
	}
	for _, id := range h.sim.IDs("contacts") {
		row, _ := h.sim.GetRow("contacts", id)
		if parent, _ := row["_parentcustomerid_value"].(string); mine[parent] {
			contacts = append(contacts, id)
		}
	}
	slices.Sort(accounts)
	slices.Sort(contacts)
	return map[string][]string{"accounts": accounts, "contacts": contacts}
}

// TestProfileChangeConverges: a new filter converges the mirror at the
// next sync: rows now in arrive, rows now out leave, and rows in both
// profiles are not sent to the app again.
func TestProfileChangeConverges(t *testing.T) {
	other := dataversesim.SeedUserID(2)
	profile := func(filter string) string {
		return `{"entitySets":[{"name":"accounts","select":["accountid","name"],"notes":false,"filter":"` + filter + `"}]}`
	}
	h := newHarness(t, harnessOptions{seed: 15, cfg: profile("_ownerid_value eq @me"), dataverseUser: me})
	owned := func(users ...string) []string {
		var ids []string
		for i := range 15 {
			if _, owner := dataversesim.SeedOwner(i); slices.Contains(users, owner) {
				ids = append(ids, dataversesim.SeedID("accounts", i))
			}
		}
		slices.Sort(ids)
		return ids
	}
	logged := func() []mirror.Change {
		t.Helper()
		var all []mirror.Change
		var c mirror.Cursor
		for {
			page, next, more, err := h.mirror.Read(context.Background(), h.tenant, h.user, c, mirror.MaxChangesPage)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if c = next; !more {
				return all
			}
		}
	}
	h.run(t, syncer.OutcomeSynced)
	mine, theirs := owned(me), owned(other)
	if got := keys(h.mirrorOf(t, "accounts")); !slices.Equal(got, mine) || len(mine) != 3 {
		t.Fatalf("first profile: %v, want %v", got, mine)
	}
	steps := []struct {
		filter    string
		want      []string
		upserts   []string
		deletions []string
	}{
		{"_ownerid_value eq @me or _ownerid_value eq " + other, slices.Sorted(slices.Values(append(slices.Clone(mine), theirs...))), theirs, nil},
		{"_ownerid_value eq " + other, theirs, nil, mine},
	}
	for _, st := range steps {
		before := len(logged())
		var err error
		if h.cfg, err = syncconfig.Parse(profile(st.filter)); err != nil {
			t.Fatal(err)
		}
		h.worker = h.newWorker()
		h.run(t, syncer.OutcomeSynced)
		if got := keys(h.mirrorOf(t, "accounts")); !slices.Equal(got, st.want) {
			t.Errorf("profile %q: mirror %v, want %v", st.filter, got, st.want)
		}
		var ups, dels []string
		for _, c := range logged()[before:] {
			if c.Op == mirror.OpDelete {
				dels = append(dels, c.ID)
			} else {
				ups = append(ups, c.ID)
			}
		}
		slices.Sort(ups)
		slices.Sort(dels)
		if !slices.Equal(ups, st.upserts) || !slices.Equal(dels, st.deletions) {
			t.Errorf("profile %q: logged upserts %v and deletes %v; want %v and %v (rows in both profiles are not sent again)",
				st.filter, ups, dels, st.upserts, st.deletions)
		}
	}
}

// TestProfileParametersUnreadable: when the user's teams cannot be read,
// the sets whose filters need them fail that sync and keep what they had,
// with their notes; nothing is deleted.
func TestProfileParametersUnreadable(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 10, dataverseUser: me,
		cfg: `{"entitySets":[{"name":"accounts","select":["accountid","name"],"filter":"_ownerid_value eq @me or _ownerid_value in @myteams"}]}`})
	h.run(t, syncer.OutcomeSynced)
	accounts := keys(h.mirrorOf(t, "accounts"))
	if len(accounts) == 0 {
		t.Fatal("no account in the profile: the test tests nothing")
	}
	note := attach(t, h.sim, "accounts", accounts[0], "minutes.txt")
	h.run(t, syncer.OutcomeSynced)
	if err := h.sim.UpdateRow("annotations", note, map[string]any{"subject": "Edited"}); err != nil {
		t.Fatal(err)
	}
	h.sim.FailNext(dataversesim.Fault{Status: 403, Count: 10, Path: "teammembership_association"})
	res := h.run(t, syncer.OutcomeSynced)
	if err := res.Sets[0].Err; res.Sets[0].EntitySet != "accounts" || err == nil || !strings.Contains(err.Error(), "teams") {
		t.Errorf("accounts when the teams cannot be read: %+v, want the failure naming the teams", res.Sets[0])
	}
	if got := keys(h.mirrorOf(t, "accounts")); !slices.Equal(got, accounts) {
		t.Errorf("accounts after the failure = %v, want them kept: %v", got, accounts)
	}
	if n := h.mirrorOf(t, "annotations")[note]; !strings.Contains(string(n), "Edited") {
		t.Errorf("the note of a kept account after the failure = %s, want it kept and edited", n)
	}
}

// TestParentBackBeforeItsChildrenRan: an account leaves the profile while
// its contacts' run fails, and comes back before they run again: the
// contacts stay (the departure is skipped because the account is back).
func TestParentBackBeforeItsChildrenRan(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 10, cfg: myActiveAccounts, dataverseUser: me})
	a1, c1 := dataversesim.SeedID("accounts", 1), dataversesim.SeedID("contacts", 1)
	h.run(t, syncer.OutcomeSynced)
	if err := h.sim.AssignRow("accounts", a1, "systemusers", dataversesim.SeedUserID(2)); err != nil {
		t.Fatal(err)
	}
	h.sim.FailNext(dataversesim.Fault{Status: 403, Path: "/contacts"})
	h.run(t, syncer.OutcomeSynced)
	if st := h.state(t, "contacts"); !strings.Contains(st.Gone, a1) {
		t.Fatalf("the contacts' state after their failed run: Gone %q, want %s (the test tests nothing)", st.Gone, a1)
	}
	if err := h.sim.AssignRow("accounts", a1, "systemusers", me); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	if _, ok := h.mirrorOf(t, "contacts")[c1]; !ok {
		t.Errorf("the account %s is back, its contact %s is not", a1, c1)
	}
	if _, ok := h.replay(t)["contacts"][c1]; !ok {
		t.Errorf("the app lacks the contact %s of the account that came back", c1)
	}
}

// TestNotesSwitchedOnForASyncedSet: notes switched on for a set already
// synced bring the notes its rows already had.
func TestNotesSwitchedOnForASyncedSet(t *testing.T) {
	config := func(notes bool) string {
		return fmt.Sprintf(`{"entitySets":[{"name":"accounts","select":["accountid","name"]},{"name":"contacts","select":["contactid","fullname"],"notes":%v}]}`, notes)
	}
	h := newHarness(t, harnessOptions{seed: 3, cfg: config(false)})
	note := attach(t, h.sim, "contacts", h.sim.IDs("contacts")[0], "cv.txt")
	h.run(t, syncer.OutcomeSynced)
	if _, ok := h.mirrorOf(t, "annotations")[note]; ok {
		t.Fatal("a contact's note synced with its notes off")
	}
	var err error
	if h.cfg, err = syncconfig.Parse(config(true)); err != nil {
		t.Fatal(err)
	}
	h.worker = h.newWorker()
	h.run(t, syncer.OutcomeSynced)
	if _, ok := h.mirrorOf(t, "annotations")[note]; !ok {
		t.Error("notes switched on for contacts: the note a contact already had never arrives")
	}
}

// diesAfterApply writes the first entries it is given and then fails with
// the lease gone to another worker (which expired it), as a worker stalled
// right after that write: it can store nothing more.
type diesAfterApply struct {
	syncer.Mirror
	h    *harness
	died bool
}

func (m *diesAfterApply) Begin(ctx context.Context, tenant, user, set string, entries []mirror.Entry, gen, firstSeq int64) (func() error, error) {
	wait, err := m.Mirror.Begin(ctx, tenant, user, set, entries, gen, firstSeq)
	if err != nil || m.died {
		return wait, err
	}
	if err := wait(); err != nil {
		return nil, err
	}
	m.died = true
	l, err := m.h.states.Lease(ctx, tenant, user)
	if err != nil {
		return nil, err
	}
	l.Owner, l.Until = "the next worker", time.Now().Add(-time.Second) // taken over, and let go: expired
	if _, err := m.h.states.UpdateLease(ctx, tenant, user, l); err != nil {
		return nil, err
	}
	return nil, errors.New("the worker stalled after writing its first rows")
}

// TestFullReadStartedAgainSweeps: a first read that wrote rows and died
// before its first checkpoint starts again with a new generation, so a
// row it wrote that has left the profile meanwhile is swept.
func TestFullReadStartedAgainSweeps(t *testing.T) {
	dies := &diesAfterApply{}
	h := newHarness(t, harnessOptions{seed: 10, dataverseUser: me,
		cfg:  `{"entitySets":[{"name":"accounts","select":["accountid","name"],"notes":false,"filter":"_ownerid_value eq @me"}]}`,
		wrap: func(m syncer.Mirror) syncer.Mirror { dies.Mirror = m; return dies }})
	dies.h = h
	a1 := dataversesim.SeedID("accounts", 1)
	if res, _ := h.worker.Run(context.Background(), h.job()); res.Outcome == syncer.OutcomeSynced {
		t.Fatal("the first read did not stall")
	}
	if _, ok := h.mirrorOf(t, "accounts")[a1]; !ok {
		t.Fatalf("the read that died did not write %s: the test tests nothing", a1)
	}
	if err := h.sim.AssignRow("accounts", a1, "systemusers", dataversesim.SeedUserID(2)); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	if _, ok := h.mirrorOf(t, "accounts")[a1]; ok {
		t.Errorf("account %s, written by a read that died and reassigned away since, stays in the mirror", a1)
	}
	if _, ok := h.replay(t)["accounts"][a1]; ok {
		t.Errorf("account %s stays in the app's copy", a1)
	}
}

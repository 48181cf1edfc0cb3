package syncer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/syncer"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// notesConfig syncs accounts with their notes and contacts without theirs.
const notesConfig = `{"entitySets":[{"name":"accounts","select":["accountid","name","modifiedon"]},{"name":"contacts","select":["contactid","fullname"],"notes":false}]}`

// forgotten records the notes whose cached documents the sync forgot.
type forgotten struct {
	mu  sync.Mutex
	ids []string
}

func (f *forgotten) Forget(_ context.Context, _, _ string, ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, ids...)
	return nil
}

func (f *forgotten) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.ids
	f.ids = nil
	slices.Sort(out)
	return out
}

func attach(t *testing.T, sim *dataversesim.Sim, set, id, name string) string {
	t.Helper()
	note, err := sim.AttachFile(set, id, dataversesim.Attachment{Subject: "About " + name, FileName: name, MimeType: "text/plain", Content: []byte("the file " + name)})
	if err != nil {
		t.Fatal(err)
	}
	return note
}

func TestNotesFollowTheMirror(t *testing.T) {
	writes := &countWrites{}
	forgot := &forgotten{}
	h := newHarness(t, harnessOptions{seed: 3, cfg: notesConfig, documents: forgot,
		client: &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{writes}}}})
	accounts, contacts := h.sim.IDs("accounts"), h.sim.IDs("contacts")
	onAccount := attach(t, h.sim, "accounts", accounts[0], "minutes.txt")
	attach(t, h.sim, "contacts", contacts[0], "cv.txt") // contacts' notes are off
	attach(t, h.sim, "leads", mustCreate(t, h.sim, "leads", map[string]any{"lastname": "Lead"}), "lead.txt")

	res := h.run(t, syncer.OutcomeSynced)
	if s := setResult(t, res, "annotations"); s.Upserted != 1 || !s.Full {
		t.Errorf("first sync of notes = %+v, want a full read that wrote 1 note", s)
	}
	notes := h.mirrorOf(t, "annotations")
	if len(notes) != 1 || notes[onAccount] == nil {
		t.Fatalf("mirrored notes = %v, want only %s (the account's)", keys(notes), onAccount)
	}
	var n map[string]any
	if err := json.Unmarshal(notes[onAccount], &n); err != nil {
		t.Fatal(err)
	}
	if n["filename"] != "minutes.txt" || n["isdocument"] != true || n["filesize"] != float64(len("the file minutes.txt")) ||
		n["objecttypecode"] != "account" || n["_objectid_value"] != accounts[0] || n["mimetype"] != "text/plain" {
		t.Errorf("mirrored note = %v, want its file's metadata and the account it regards", n)
	}
	if _, ok := n["documentbody"]; ok {
		t.Error("the note's row carries its document; it must be downloaded instead")
	}
	if got := h.replay(t)["annotations"]; len(got) != 1 || got[onAccount] == nil {
		t.Errorf("the change log's notes = %v, want %s", keys(got), onAccount)
	}

	// Notes regarding rows outside the mirror cost no Table write: a
	// sync that reads only such notes writes what a sync with no change
	// writes (the lease and the sets' states).
	before := writes.n.Load()
	h.run(t, syncer.OutcomeSynced)
	quiet := writes.n.Load() - before
	for i := range 5 {
		attach(t, h.sim, "contacts", contacts[i%len(contacts)], "more.txt")
	}
	before = writes.n.Load()
	res = h.run(t, syncer.OutcomeSynced)
	if got := writes.n.Load() - before; got != quiet {
		t.Errorf("a sync that read 5 notes outside the mirror made %d Table writes, want %d (as with no change)", got, quiet)
	}
	if s := setResult(t, res, "annotations"); s.Upserted != 0 || s.Deleted != 0 || s.Pages != 1 {
		t.Errorf("notes outside the mirror: %+v, want one page read and nothing written", s)
	}
	forgot.take()

	// A new note, a changed one, one that now regards a contact (it
	// leaves), and the notes of a deleted account (Dataverse deletes them).
	added := attach(t, h.sim, "accounts", accounts[1], "offer.txt")
	doomed := attach(t, h.sim, "accounts", accounts[2], "old.txt")
	h.run(t, syncer.OutcomeSynced)
	forgot.take()
	if err := h.sim.UpdateRow("annotations", added, map[string]any{"subject": "Offer, revised"}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.UpdateRow("annotations", onAccount, map[string]any{"objectid_contact@odata.bind": "/contacts(" + contacts[0] + ")"}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.DeleteRow("accounts", accounts[2]); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	notes = h.mirrorOf(t, "annotations")
	if len(notes) != 1 || !strings.Contains(string(notes[added]), "Offer, revised") {
		t.Errorf("mirrored notes = %v, want only %s, revised", keys(notes), added)
	}
	if got := h.replay(t)["annotations"]; len(got) != 1 || got[added] == nil {
		t.Errorf("the change log's notes = %v, want only %s", keys(got), added)
	}
	want := []string{added, doomed, onAccount}
	slices.Sort(want)
	if got := forgot.take(); !slices.Equal(got, want) {
		t.Errorf("forgot the cached files of %v, want %v (the changed, deleted and departed notes)", got, want)
	}
}

// A note read before the row it regards reached the mirror (the row was
// created between the reads of its set and of the notes) arrives with the
// next sync, even when the notes' read of that sync fails first.
func TestNotesOfRowsThatEnterLater(t *testing.T) {
	var h *harness
	var late, lateNote string
	h = newHarness(t, harnessOptions{seed: 2, cfg: notesConfig, front: func(r *http.Request) {
		if late == "" && strings.Contains(r.URL.Path, "/annotations") && strings.Contains(r.URL.RawQuery, "deltatoken") {
			late = mustCreate(t, h.sim, "accounts", map[string]any{"name": "Late"})
			lateNote = attach(t, h.sim, "accounts", late, "late.txt")
		}
	}})
	h.run(t, syncer.OutcomeSynced) // the first, full sync
	h.run(t, syncer.OutcomeSynced) // the account and its note appear during the notes' read
	if late == "" {
		t.Fatal("the notes' delta read was never made")
	}
	if _, ok := h.mirrorOf(t, "annotations")[lateNote]; ok {
		t.Fatal("the note arrived before its account; the test does not test what it should")
	}
	h.sim.FailNext(dataversesim.Fault{Status: http.StatusInternalServerError, Path: "/annotations"})
	if _, err := h.worker.Run(context.Background(), h.job()); err == nil {
		t.Fatal("the sync whose notes' reads all fail succeeded")
	}
	if _, ok := h.mirrorOf(t, "accounts")[late]; !ok {
		t.Fatal("the late account is not in the mirror after the sync of accounts")
	}
	if st := h.state(t, "annotations"); !strings.Contains(st.Pending, late) {
		t.Fatalf("the notes' state remembers %q, want the late account %s", st.Pending, late)
	}
	h.sim.SetFaults(dataversesim.Faults{})
	h.run(t, syncer.OutcomeSynced)
	if _, ok := h.mirrorOf(t, "annotations")[lateNote]; !ok {
		t.Error("the note of the account that entered the mirror late never arrived")
	}
	if st := h.state(t, "annotations"); st.Pending != "" {
		t.Errorf("pending after the notes were read: %q", st.Pending)
	}
}

// A set read in full again (here: its columns changed) starts its notes
// over with a full read in the same sync.
func TestNotesStartOverAfterAFullRead(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 2, cfg: notesConfig})
	h.run(t, syncer.OutcomeSynced)
	h.run(t, syncer.OutcomeSynced)
	h.cfg.EntitySets[0].Select = append(h.cfg.EntitySets[0].Select, "telephone1")
	h.worker = h.newWorker()
	res := h.run(t, syncer.OutcomeSynced)
	if s := setResult(t, res, "accounts"); !s.Full {
		t.Fatalf("accounts after a change of columns: %+v, want a full read", s)
	}
	if s := setResult(t, res, "annotations"); !s.Full {
		t.Errorf("the notes after their set's full read: %+v, want a full read in the same sync", s)
	}
}

func mustCreate(t *testing.T, sim *dataversesim.Sim, set string, values map[string]any) string {
	t.Helper()
	id, err := sim.CreateRow(set, values)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// relatedConfig syncs accounts and only the contacts of those accounts.
const relatedConfig = `{"entitySets":[{"name":"accounts","select":["accountid","name"],"notes":false},` +
	`{"name":"contacts","select":["contactid","fullname","_parentcustomerid_value"],"notes":false,"relatedTo":{"set":"accounts","lookup":"_parentcustomerid_value"}}]}`

// Related rows follow their parent: a contact is in the mirror while its
// account is; it leaves when the account goes (the contact stays in
// Dynamics) and arrives when it is given an account the mirror holds.
func TestRelatedRowsFollowTheirParent(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 3, cfg: relatedConfig})
	accounts, contacts := h.sim.IDs("accounts"), h.sim.IDs("contacts")
	orphan := mustCreate(t, h.sim, "contacts", map[string]any{"lastname": "Orphan"})
	h.run(t, syncer.OutcomeSynced)
	mine := func() []string { return keys(h.mirrorOf(t, "contacts")) }
	want := slices.Sorted(slices.Values(contacts))
	if got := mine(); !slices.Equal(got, want) {
		t.Fatalf("contacts in the mirror = %v, want the 3 with an account %v (not the orphan %s)", got, want, orphan)
	}
	// The first contact's account goes; the contact stays in Dynamics.
	first := ""
	for _, c := range contacts {
		if row, _ := h.sim.GetRow("contacts", c); row["_parentcustomerid_value"] == accounts[0] {
			first = c
		}
	}
	if err := h.sim.DeleteRow("accounts", accounts[0]); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.UpdateRow("contacts", orphan, map[string]any{"parentcustomerid_account@odata.bind": "/accounts(" + accounts[1] + ")"}); err != nil {
		t.Fatal(err)
	}
	h.run(t, syncer.OutcomeSynced)
	got := mine()
	if slices.Contains(got, first) || !slices.Contains(got, orphan) || len(got) != 3 {
		t.Errorf("contacts after their account went and the orphan got one = %v; want %s gone and %s in", got, first, orphan)
	}
	if log := h.replay(t)["contacts"]; len(log) != 3 || log[first] != nil || log[orphan] == nil {
		t.Errorf("the app's contacts = %v; want the mirror's", keys(log))
	}
	if st := h.state(t, "contacts"); st.Gone != "" || st.Pending != "" {
		t.Errorf("the contacts' state keeps Gone %q, Pending %q after their run", st.Gone, st.Pending)
	}
}

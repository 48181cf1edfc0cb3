package chaos

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/uploadconfig"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testworld"
)

// Upload is what the campaign knows of one meeting report a simulated user
// sent, and what the connector finally said about it.
type Upload struct {
	ID, User string
	// Bad reports name an account Dynamics refuses (a name too long): they
	// must end failed with Dynamics' reason, nothing of them written.
	Bad bool
	// What the report writes, each unique to it: the account's number, the
	// meeting's subject, the subjects of its notes and documents.
	AccountNumber, Subject string
	Annotations            []string
	// Accepted: some answer to POST /api/uploads was 202 or 200; Accepts
	// counts the 202s (one at most: a report sent again is not new).
	Accepted   bool
	Accepts    int
	AcceptedAt time.Time
	// AcceptSentAt is when the request first accepted was sent.
	AcceptSentAt time.Time
	// Final is GET /api/uploads/{id} once the system quiesced.
	Final Status
	// Edit is set for a device's edit of a shared row (devices_test.go):
	// its customers[0] updates that row by id with ifMatch, and no account
	// is created (AccountNumber is empty). It may end conflict.
	Edit *DeviceEdit
}

// Status is the connector's answer about an upload (docs/api.md).
type Status struct {
	Status  string   `json:"status"`
	Records []Record `json:"records"`
	// Conflicts are the rows the report updates that changed in Dynamics
	// since the app's copy.
	Conflicts []Conflict `json:"conflicts"`
	LastError *LastError `json:"lastError"`
}

// LastError is why an upload's last attempt did not finish.
type LastError struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	HTTPStatus int    `json:"httpStatus"`
}

// Record is one record an upload wrote.
type Record struct {
	Item      string `json:"item"`
	EntitySet string `json:"entitySet"`
	ID        string `json:"id"`
	// ETag is a customer's version after the report's write.
	ETag string `json:"etag"`
}

// Conflict is one entry of an upload's conflicts (docs/api.md, "Uploads:
// conflicts").
type Conflict struct {
	Item      string         `json:"item"`
	EntitySet string         `json:"entitySet"`
	ID        string         `json:"id"`
	IfMatch   string         `json:"ifMatch"`
	ETag      string         `json:"etag"`
	Deleted   bool           `json:"deleted"`
	Fields    []string       `json:"fields"`
	Current   map[string]any `json:"current"`
	Written   bool           `json:"written"`
}

// Row is a record of the simulator as the Web API returns it.
type Row = map[string]any

// Dynamics is the simulator's data: every row of every set, by id.
type Dynamics map[string]map[string]Row

// count returns how many rows of set have column equal to v.
func (d Dynamics) index(set, column string) map[string]int {
	out := map[string]int{}
	for _, r := range d[set] {
		if s, ok := r[column].(string); ok && s != "" {
			out[s]++
		}
	}
	return out
}

// Finding is the outcome of one invariant: what it says, and every
// violation found (none: it held).
type Finding struct {
	Invariant  string
	Checked    int
	Violations []string
}

func (f *Finding) violate(format string, args ...any) {
	f.Violations = append(f.Violations, fmt.Sprintf(format, args...))
}

// Disconnection is a user who pressed "Disconnect Dynamics" (DELETE
// /api/connection) during the campaign.
type Disconnection struct {
	User string // UPN
	// Pressed is when the first DELETE was sent; Answered when the first
	// 202 or 204 came (zero: none did).
	Pressed, Answered time.Time
}

// CheckUploads: every accepted upload is in Dynamics exactly once (done:
// its account, meeting and notes once each, and every record it names
// exists), or failed or parked with a reason and nothing of it written.
// A device's edit of a row by version (Edit) may also end conflict, with
// nothing of it written; its row is judged by CheckNoLostUpdates.
// An upload that never finished is lost, unless the Service Bus fake was
// restarted after it was accepted (the fake keeps messages in memory;
// Azure Service Bus would have kept it): those are returned as stranded.
// Once every user has signed in again (signedIn), a parked upload is stuck:
// a sign-in re-queues what was parked.
//
// The reports of a user who disconnected (gone, by UPN) are judged by
// Dynamics alone, since the erasure deleted their upload rows: each is
// written exactly once (done before the disconnect) or not at all
// (cancelled, refused, or failed), never in part, never twice; none is
// accepted by a request sent after a DELETE /api/connection was answered;
// one never accepted is not lost (the user gave up when they disconnected).
func CheckUploads(ups []*Upload, d Dynamics, busRestarts []time.Time, signedIn bool, gone map[string]Disconnection) (f Finding, stranded []string, outcomes map[string]int) {
	f.Invariant = "every accepted upload is in Dynamics exactly once, or failed/parked (a device's edit: or conflict) with a reason; none lost; none accepted twice" +
		" (a disconnected user's: written once or not at all, none accepted after the disconnect)"
	outcomes = map[string]int{}
	accounts, meetings, notes := d.index("accounts", "accountnumber"), d.index("appointments", "subject"), d.index("annotations", "subject")
	for _, u := range ups {
		f.Checked++
		if dc, ok := gone[u.User]; ok {
			checkErasedUpload(&f, u, dc, accounts, meetings, notes, outcomes)
			continue
		}
		if !u.Accepted {
			f.violate("%s (%s): never accepted, though sent until the end", u.ID, u.User)
			continue
		}
		if u.Accepts > 1 {
			f.violate("%s (%s): answered 202 Accepted %d times; a report sent again must not be new", u.ID, u.User, u.Accepts)
		}
		outcomes[u.Final.Status]++
		written := accounts[u.AccountNumber] + meetings[u.Subject]
		for _, n := range u.Annotations {
			written += notes[n]
		}
		switch u.Final.Status {
		case "done":
			if u.Bad {
				f.violate("%s: done, but Dynamics should have refused its account", u.ID)
			}
			switch {
			case u.Edit != nil: // it updates a row, which CheckNoLostUpdates judges
				if meetings[u.Subject] != 1 {
					f.violate("%s: done, but Dynamics holds %d meetings %q; want one", u.ID, meetings[u.Subject], u.Subject)
				}
			case accounts[u.AccountNumber] != 1 || meetings[u.Subject] != 1:
				f.violate("%s: done, but Dynamics holds %d accounts %s and %d meetings %q; want one each", u.ID, accounts[u.AccountNumber], u.AccountNumber, meetings[u.Subject], u.Subject)
			}
			for _, n := range u.Annotations {
				if notes[n] != 1 {
					f.violate("%s: done, but Dynamics holds %d notes %q; want one", u.ID, notes[n], n)
				}
			}
			for _, r := range u.Final.Records {
				if _, ok := d[r.EntitySet][strings.ToLower(r.ID)]; !ok {
					f.violate("%s: record %s %s/%s is not in Dynamics", u.ID, r.Item, r.EntitySet, r.ID)
				}
			}
		case "failed", "parked":
			if u.Final.LastError == nil || u.Final.LastError.Message == "" {
				f.violate("%s: %s without a reason", u.ID, u.Final.Status)
			}
			if u.Final.Status == "parked" && (u.Final.LastError == nil || u.Final.LastError.Code != "reauth_required") {
				f.violate("%s: parked, but not for a sign-in (%+v)", u.ID, u.Final.LastError)
			}
			if u.Final.Status == "parked" && signedIn {
				f.violate("%s (%s): still parked though its user signed in again (%+v)", u.ID, u.User, u.Final.LastError)
			}
			if !u.Bad && u.Final.Status == "failed" {
				f.violate("%s: failed (%+v), but the report is valid", u.ID, u.Final.LastError)
			}
			if written != 0 {
				f.violate("%s: %s, yet %d of its rows are in Dynamics (a report is one transaction)", u.ID, u.Final.Status, written)
			}
		case "conflict":
			// Only an edit of a row by version may meet a conflict; nothing
			// of it is written (its row: CheckNoLostUpdates).
			if u.Edit == nil {
				f.violate("%s: conflict, but the report updates no row by version", u.ID)
			}
			if written != 0 {
				f.violate("%s: conflict, yet %d of its rows are in Dynamics (nothing of a conflicting report is written)", u.ID, written)
			}
		default:
			if restartedAfter(busRestarts, u.AcceptedAt) {
				stranded = append(stranded, fmt.Sprintf("%s (%s, %d rows in Dynamics)", u.ID, orNone(u.Final.Status), written))
				continue
			}
			f.violate("%s (%s): still %s after the system quiesced: lost", u.ID, u.User, orNone(u.Final.Status))
		}
	}
	return f, stranded, outcomes
}

// Outcomes of a disconnected user's reports.
const (
	OutcomeErasedWritten    = "disconnected: written before"
	OutcomeErasedNotWritten = "disconnected: not written"
	OutcomeErasedRefused    = "disconnected: never accepted"
)

// checkErasedUpload judges u, a report of a user who disconnected.
func checkErasedUpload(f *Finding, u *Upload, dc Disconnection, accounts, meetings, notes map[string]int, outcomes map[string]int) {
	if u.Accepts > 1 {
		f.violate("%s (%s): answered 202 Accepted %d times; a report sent again must not be new", u.ID, u.User, u.Accepts)
	}
	if !u.Accepted {
		outcomes[OutcomeErasedRefused]++
		return
	}
	if !dc.Answered.IsZero() && u.AcceptSentAt.After(dc.Answered) {
		f.violate("%s (%s): accepted though sent %s after DELETE /api/connection was answered: the disconnect did not stop the uploads",
			u.ID, u.User, u.AcceptSentAt.Sub(dc.Answered).Round(time.Millisecond))
	}
	counts := []int{accounts[u.AccountNumber], meetings[u.Subject]}
	for _, n := range u.Annotations {
		counts = append(counts, notes[n])
	}
	zero, one := 0, 0
	for _, n := range counts {
		switch n {
		case 0:
			zero++
		case 1:
			one++
		}
	}
	switch {
	case zero == len(counts):
		outcomes[OutcomeErasedNotWritten]++
	case one == len(counts) && !u.Bad:
		outcomes[OutcomeErasedWritten]++
	case one == len(counts):
		f.violate("%s (%s, disconnected): written, but Dynamics should have refused its account", u.ID, u.User)
	default:
		f.violate("%s (%s, disconnected): half-written or written twice: Dynamics holds %d accounts %s, %d meetings, notes %v of %v; want all once or none",
			u.ID, u.User, accounts[u.AccountNumber], u.AccountNumber, meetings[u.Subject], counts[2:], u.Annotations)
	}
}

func restartedAfter(restarts []time.Time, t time.Time) bool {
	for _, r := range restarts {
		if r.After(t) {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "unknown to the connector"
	}
	return s
}

// DeviceEdit is what one device's report does to a shared row: it names
// the row by id, with ifMatch the version of the device's copy, and sends
// the copy's writable synced fields with one or two of them changed.
type DeviceEdit struct {
	Device  int
	Set, ID string
	// IfMatch is the copy's @odata.etag (W/"<n>"): the version the edit is
	// based on.
	IfMatch string
	// Policy is the set's conflict policy (uploadconfig.Conflicts*).
	Policy string
	// Base is the copy's value of each field of Fields: the row at IfMatch.
	Base map[string]any
	// Fields are the report's customers[0].fields: Base with Changed applied.
	Fields map[string]any
	// Changed are the fields the edit changed, each to a value unique to
	// this edit (so a write holding one is this edit's).
	Changed map[string]any
}

// RowRef names a row: its entity set and its id (lower case).
type RowRef struct{ Set, ID string }

func (r RowRef) String() string { return r.Set + "/" + r.ID }

// Journal is the write journal of one row (dataversesim.Sim.Journal):
// every committed write of it, oldest first.
type Journal = []dataversesim.JournalEntry

// CheckNoLostUpdates: no update lost without a recorded conflict. ups are
// the uploads (those without Edit are ignored), journals the write
// journals of the rows the edits update, d Dynamics after the campaign.
//
// Each write of a row is attributed to its writer: the edit ending done
// whose record of the row names the write's version (records[].etag
// W/"<version>"), or, when its record gives none (the write was not
// based on the app's own version, or its answer was lost), whose changes
// the write is the first to hold; any other write is someone's in
// Dynamics. For each write
// E of edit U (based on version b, the number of U's ifMatch) and each
// field f E set: let P be the latest earlier write that set f. If
// P.version > b (U's copy did not hold P's value), P's value differs from
// E's, and P's value differs from U's copy's value of f (P changed the
// field since U's version: a write resending the value U saw loses
// nothing), then U's status must list a conflict on that row whose fields
// hold f with written true; otherwise P's value was lost without a word.
//
// Moreover: a write attributed to U sets only values U sent (else its
// record names someone else's write), and a done edit's changes are in
// the write its record names. An edit that ended conflict met a real one
// (checkConflictReal: so a delivery finding its own committed write ends
// done, not conflict), has nothing in the row's journal (no write holds
// one of its changes, no record names a write), its meeting is not in
// Dynamics, and its conflicts say not written. Under merge no conflict is
// ever written over; under client-wins no edit ends conflict; no edit ends
// failed (a 412 least of all). Values compare as JSON values: numbers by
// value, "" as null.
//
// overwrites counts the writes of a field over a value the edit had not
// seen (each needing its conflict recorded as written over).
func CheckNoLostUpdates(ups []*Upload, journals map[RowRef]Journal, d Dynamics) (f Finding, overwrites int) {
	f = Finding{Invariant: "no update lost without a recorded conflict (the devices' edits of shared rows, against Dynamics' write journal)"}
	meetings := d.index("appointments", "subject")
	byRow := map[RowRef][]*Upload{}
	owners := map[RowRef]map[int64][]*Upload{} // the done edits whose record names the version
	for _, u := range ups {
		e := u.Edit
		if e == nil || !u.Accepted {
			continue
		}
		f.Checked++
		row := RowRef{e.Set, strings.ToLower(e.ID)}
		byRow[row] = append(byRow[row], u)
		st := u.Final
		switch st.Status {
		case "done":
			for _, c := range st.Conflicts {
				if c.Written && e.Policy == uploadconfig.ConflictsMerge {
					f.violate("%s (%s, merge): done with a conflict on %s written over (fields %v); merge never writes over a change made in Dynamics", u.ID, row, c.ID, c.Fields)
				}
			}
			// A record gives the write's version only when it was based on
			// the app's own version; otherwise the write is the first that
			// holds the edit's changes, values no one else had before it.
			v, ok := recordVersion(st, row)
			if !ok {
				if v, ok = ownWrite(u, journals[row]); !ok {
					f.violate("%s (%s): done, but none of the row's writes holds its changes %v", u.ID, row, e.Changed)
					continue
				}
			}
			if owners[row] == nil {
				owners[row] = map[int64][]*Upload{}
			}
			owners[row][v] = append(owners[row][v], u)
		case "conflict":
			if e.Policy == uploadconfig.ConflictsClientWins {
				f.violate("%s (%s, client-wins): ended conflict; client-wins writes the app's changes and ends done", u.ID, row)
			}
			for _, c := range st.Conflicts {
				if c.Written {
					f.violate("%s (%s): ended conflict, yet its conflict on %s says written", u.ID, row, c.ID)
				}
			}
			if meetings[u.Subject] > 0 {
				f.violate("%s (%s): ended conflict, yet its meeting %q is in Dynamics", u.ID, row, u.Subject)
			}
			if v, ok := recordVersion(st, row); ok {
				f.violate("%s (%s): ended conflict, yet its records name version %d of the row", u.ID, row, v)
			}
		case "failed":
			why := ""
			if st.LastError != nil {
				why = fmt.Sprintf("%d %s %s", st.LastError.HTTPStatus, st.LastError.Code, st.LastError.Message)
				if st.LastError.HTTPStatus == 412 {
					why = "a 412 (the row's version) reached the app: " + why
				}
			}
			f.violate("%s (%s): failed (%s); an edit of a row by version ends done or conflict", u.ID, row, why)
		}
	}

	for _, row := range sortedRows(byRow) {
		type setBy struct {
			version int64
			value   any
			by      string
		}
		last := map[string]setBy{}
		mine := map[*Upload]dataversesim.JournalEntry{}
		for _, e := range journals[row] {
			if e.Deleted {
				clear(last) // a row created again starts a new life
				continue
			}
			// The write is the edit's that names it and sent its values;
			// another edit naming it has a record that is not its own write.
			var u *Upload
			for _, cand := range owners[row][e.Version] {
				fld, ok := notSent(cand, e)
				switch {
				case !ok:
					own := "none of the row's writes holds its changes"
					if w, found := ownWrite(cand, journals[row]); found {
						own = fmt.Sprintf("its own write is version %d", w)
					}
					f.violate("%s (%s): its record names version %d, which set %s to %s, not what it sent (%s); %s: the record's etag is not the version its write produced",
						cand.ID, row, e.Version, fld, show(e.Values[fld]), show(cand.Edit.Fields[fld]), own)
				case u != nil:
					f.violate("%s and %s (%s): both name version %d, which holds what each sent", u.ID, cand.ID, row, e.Version)
				default:
					u = cand
				}
			}
			by := "someone in Dynamics"
			if u != nil {
				mine[u] = e
				by = u.ID
				b, _ := etagVersion(u.Edit.IfMatch)
				for _, fld := range sortedKeys(e.Values) {
					v := e.Values[fld]
					p, ok := last[fld]
					if !ok || p.version <= b || sameJSON(p.value, v) || sameJSON(p.value, u.Edit.Base[fld]) {
						continue
					}
					overwrites++
					if !wroteOver(u.Final, row, fld) {
						f.violate("%s %s: %s (based on %s, %s) wrote %s at version %d over %s, set at version %d by %s, and records no conflict on %s written over: a lost update",
							row, fld, u.ID, u.Edit.IfMatch, u.Edit.Policy, show(v), e.Version, show(p.value), p.version, p.by, fld)
					}
				}
			}
			for fld, v := range e.Values {
				last[fld] = setBy{e.Version, v, by}
			}
		}
		for _, u := range byRow[row] {
			switch u.Final.Status {
			case "done":
				v, ok := recordVersion(u.Final, row)
				if !ok {
					v, ok = ownWrite(u, journals[row])
				}
				if !ok || !slices.Contains(owners[row][v], u) {
					continue // reported above
				}
				e, found := mine[u]
				if !found {
					if !inJournal(journals[row], v) {
						f.violate("%s (%s): done, but no write of the row has the version its record names (%d)", u.ID, row, v)
					}
					continue
				}
				for _, fld := range sortedKeys(u.Edit.Changed) {
					if got, ok := e.Values[fld]; !ok || !sameJSON(got, u.Edit.Changed[fld]) {
						f.violate("%s (%s): done, but its write (version %d) does not set %s to %s", u.ID, row, v, fld, show(u.Edit.Changed[fld]))
					}
				}
			case "conflict":
				for _, e := range journals[row] {
					for _, fld := range sortedKeys(u.Edit.Changed) {
						if got, ok := e.Values[fld]; ok && sameJSON(got, u.Edit.Changed[fld]) {
							f.violate("%s (%s): ended conflict, yet version %d of the row holds its %s %s: written", u.ID, row, e.Version, fld, show(got))
						}
					}
				}
				checkConflictReal(&f, u, row, journals[row])
			}
		}
	}
	return f, overwrites
}

// checkConflictReal: an edit that ended conflict met a real one. Under
// merge that is a field it lists, changed since its version by a write
// to a value other than the edit's copy's, or the row deleted since;
// under server-wins any write since its version.
func checkConflictReal(f *Finding, u *Upload, row RowRef, j Journal) {
	b, _ := etagVersion(u.Edit.IfMatch)
	var since Journal
	for _, e := range j {
		if e.Version > b {
			since = append(since, e)
		}
	}
	if u.Edit.Policy == uploadconfig.ConflictsServerWins {
		if len(since) == 0 {
			f.violate("%s (%s, server-wins): ended conflict, but no write of the row came after its version %s: a false conflict", u.ID, row, u.Edit.IfMatch)
		}
		return
	}
	var listed []Conflict
	for _, c := range u.Final.Conflicts {
		if c.EntitySet == row.Set && strings.EqualFold(c.ID, row.ID) {
			listed = append(listed, c)
		}
	}
	if len(listed) == 0 {
		f.violate("%s (%s): ended conflict without a conflict on the row", u.ID, row)
	}
	for _, c := range listed {
		if c.Deleted {
			if !slices.ContainsFunc(since, func(e dataversesim.JournalEntry) bool { return e.Deleted }) {
				f.violate("%s (%s): ended conflict on the row deleted, but no delete came after its version %s", u.ID, row, u.Edit.IfMatch)
			}
			continue
		}
		if len(c.Fields) == 0 {
			f.violate("%s (%s, %s): ended conflict naming no field that clashes: a false conflict", u.ID, row, u.Edit.Policy)
		}
		for _, fld := range c.Fields {
			changed := slices.ContainsFunc(since, func(e dataversesim.JournalEntry) bool {
				v, ok := e.Values[fld]
				return ok && !sameJSON(v, u.Edit.Base[fld])
			})
			if !changed {
				f.violate("%s (%s): ended conflict on %s, which no write since its version %s changed: a false conflict (or the connector did not find the app's version of the row)",
					u.ID, row, fld, u.Edit.IfMatch)
			}
		}
	}
}

// notSent returns a field e set to a value u did not send, if any (ok
// false).
func notSent(u *Upload, e dataversesim.JournalEntry) (field string, ok bool) {
	for _, fld := range sortedKeys(e.Values) {
		if sent, in := u.Edit.Fields[fld]; !in || !sameJSON(sent, e.Values[fld]) {
			return fld, false
		}
	}
	return "", true
}

// ownWrite is the version of the first write of j that holds every change
// of u.
func ownWrite(u *Upload, j Journal) (int64, bool) {
	for _, e := range j {
		all := len(u.Edit.Changed) > 0
		for fld, v := range u.Edit.Changed {
			got, in := e.Values[fld]
			all = all && in && sameJSON(got, v)
		}
		if all {
			return e.Version, true
		}
	}
	return 0, false
}

// recordVersion is the version st's record of row names (its etag).
func recordVersion(st Status, row RowRef) (int64, bool) {
	for _, r := range st.Records {
		if r.EntitySet == row.Set && strings.EqualFold(r.ID, row.ID) {
			return etagVersion(r.ETag)
		}
	}
	return 0, false
}

// etagVersion reads n from W/"<n>".
func etagVersion(etag string) (int64, bool) {
	s, ok := strings.CutPrefix(etag, `W/"`)
	if !ok || !strings.HasSuffix(s, `"`) {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s, `"`), 10, 64)
	return n, err == nil
}

// wroteOver reports whether st lists a conflict on row holding field,
// written over.
func wroteOver(st Status, row RowRef, field string) bool {
	for _, c := range st.Conflicts {
		if c.EntitySet == row.Set && strings.EqualFold(c.ID, row.ID) && c.Written && slices.Contains(c.Fields, field) {
			return true
		}
	}
	return false
}

func inJournal(j Journal, version int64) bool {
	for _, e := range j {
		if e.Version == version {
			return true
		}
	}
	return false
}

// sameJSON compares two column values as JSON values: numbers by value,
// and an empty string like null (Dynamics stores no empty strings).
func sameJSON(a, b any) bool {
	norm := func(v any) any {
		switch x := v.(type) {
		case string:
			if x == "" {
				return nil
			}
		case json.Number:
			if n, err := x.Float64(); err == nil {
				return n
			}
		case int:
			return float64(x)
		case int64:
			return float64(x)
		}
		return v
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedRows[V any](m map[RowRef]V) []RowRef {
	out := make([]RowRef, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// CheckNoDuplicates: no two rows share what identifies them: an account's
// number, a contact's e-mail address, the subject of an uploaded meeting
// or note.
func CheckNoDuplicates(d Dynamics, uploadSubjects map[string]bool) Finding {
	f := Finding{Invariant: "no duplicate records in Dynamics"}
	check := func(set, column string, only map[string]bool) {
		idx := d.index(set, column)
		keys := make([]string, 0, len(idx))
		for k := range idx {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if only != nil && !only[k] {
				continue
			}
			f.Checked++
			if idx[k] > 1 {
				f.violate("%s: %d rows with %s %q", set, idx[k], column, k)
			}
		}
	}
	check("accounts", "accountnumber", nil)
	check("contacts", "emailaddress1", nil)
	check("appointments", "subject", uploadSubjects)
	check("annotations", "subject", uploadSubjects)
	return f
}

// CheckMirror: what a user's app holds after replaying their change log
// from the start is exactly Dynamics' rows of each synced set, at their
// current version (ETag) and with every synced column's current value.
func CheckMirror(user string, app map[string]map[string]json.RawMessage, d Dynamics, sets []string) Finding {
	f := Finding{Invariant: "every user's mirror equals Dynamics: " + user}
	for _, set := range sets {
		for id, raw := range app[set] {
			f.Checked++
			row, ok := d[set][id]
			if !ok {
				f.violate("%s: %s/%s is in the mirror, not in Dynamics", user, set, id)
				continue
			}
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				f.violate("%s: %s/%s: the mirror's data is not JSON: %v", user, set, id, err)
				continue
			}
			for k, v := range got {
				if strings.HasPrefix(k, "@") && k != "@odata.etag" {
					continue
				}
				if !reflect.DeepEqual(v, row[k]) {
					f.violate("%s: %s/%s: %s is %v in the mirror, %v in Dynamics", user, set, id, k, v, row[k])
					break
				}
			}
		}
		for id := range d[set] {
			if _, ok := app[set][id]; !ok {
				f.Checked++
				f.violate("%s: %s/%s is in Dynamics, not in the mirror", user, set, id)
			}
		}
	}
	return f
}

// CheckNoSecrets: no log holds any of secrets.
func CheckNoSecrets(logs map[string]string, secrets []string) Finding {
	f := Finding{Invariant: "no token or secret in any log"}
	names := make([]string, 0, len(logs))
	for n := range logs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			f.Checked++
			if strings.Contains(logs[n], s) {
				f.violate("%s holds a secret value %.12q…", n, s)
			}
		}
	}
	return f
}

// CheckNoNames: the connector's log names no person: none of people (the
// seeded users' display names and UPNs), in any letter case. Only the
// connector's own log is checked: Azurite's holds the stored entities,
// where an approver's name is kept by design.
func CheckNoNames(log string, people []string) Finding {
	f := Finding{Invariant: "no person's name or UPN in the connector's log"}
	lower := strings.ToLower(log)
	for _, p := range people {
		if p == "" {
			continue
		}
		f.Checked++
		if strings.Contains(lower, strings.ToLower(p)) {
			f.violate("the log names %q where a pseudonym belongs", p)
		}
	}
	return f
}

// Erased is someone whose data the connector must have erased by the end:
// a user who disconnected, or a tenant an operator offboarded.
type Erased struct {
	Who  string // for people: the UPN, or "tenant <id>"
	Kind string // store.ErasureDisconnect or store.ErasureOffboard
	// TenantID and UserID name it (UserID "" for a tenant).
	TenantID, UserID string
	// Needles are the ids no entity or blob may hold any more: a user's
	// object id; a tenant's id and its users' object ids.
	Needles []string
	// Settled: GET /api/connection answered 404 (a tenant: its row is
	// gone) before the deadline; Note says when, or what it answered last.
	Settled bool
	Note    string
}

// StoredEntity is one entity of one table of the world (the table's name
// without the prefix), every property as Table Storage returned it.
type StoredEntity = testworld.StoredEntity

// StoredBlob is one blob with its metadata and content.
type StoredBlob = testworld.StoredBlob

// StorageScan is everything the connector keeps in Storage once the
// campaign has settled, and the erasure audit. Errors are what could not
// be read (the scan is then incomplete, which is a violation).
type StorageScan struct {
	Entities []StoredEntity
	Blobs    []StoredBlob
	Audit    []store.ErasureRecord
	Errors   []string
}

// CheckErased: nothing of an erased user or tenant is left. Its erasure
// completed (settled); no entity of any table holds one of its ids in its
// keys or any property, no blob in its name, metadata or content
// (case-insensitively); and the audit table holds the erasure, by
// pseudonyms: kind disconnect with the user's pseudonym, or kind offboard
// with the tenant's. What docs/privacy.md ("What an erasure does not
// reach") says a user's erasure keeps is returned as kept, not as a
// violation (documentedKeep).
func CheckErased(erased []Erased, scan StorageScan, p obs.Pseudonyms) (f Finding, kept []string) {
	f.Invariant = "no data of an erased user (disconnected) or tenant (offboarded) in any table or blob; each erasure completed and audited"
	for _, e := range scan.Errors {
		f.violate("the scan of Storage is incomplete: %s", e)
	}
	for _, er := range erased {
		f.Checked++
		if !er.Settled {
			f.violate("%s: the erasure did not complete: %s", er.Who, er.Note)
		}
		var found []string
		for _, ent := range scan.Entities {
			props := holding(ent, er.Needles)
			if len(props) == 0 {
				continue
			}
			where := fmt.Sprintf("table %s: entity %s/%s (%s)", ent.Table, ent.PartitionKey, ent.RowKey, strings.Join(props, ", "))
			if why := documentedKeep(er, ent, props); why != "" {
				kept = append(kept, fmt.Sprintf("%s: %s, as documented: %s", er.Who, where, why))
				continue
			}
			found = append(found, where)
		}
		for _, b := range scan.Blobs {
			var where []string
			if contains(b.Name, er.Needles) {
				where = append(where, "name")
			}
			for k, v := range b.Metadata {
				if contains(k+"="+v, er.Needles) {
					where = append(where, "metadata "+k)
				}
			}
			if contains(string(b.Content), er.Needles) {
				where = append(where, "content")
			}
			if len(where) > 0 {
				found = append(found, fmt.Sprintf("container %s: blob %s (%s)", b.Container, b.Name, strings.Join(where, ", ")))
			}
		}
		for _, x := range found {
			f.violate("%s: left behind in %s", er.Who, x)
		}
		tenant, subject := p.Tenant(er.TenantID), ""
		if er.UserID != "" {
			subject = p.User(er.TenantID, er.UserID)
		}
		audited := false
		for _, a := range scan.Audit {
			audited = audited || a.Kind == er.Kind && a.Tenant == tenant && a.Subject == subject
		}
		if !audited {
			f.violate("%s: the audit table %q holds no %s erasure of tenant %s subject %q", er.Who, store.ErasuresTable, er.Kind, tenant, subject)
		}
	}
	return f, kept
}

// documentedKeep says why docs/privacy.md ("What an erasure does not
// reach") lets a user's erasure keep what ent holds of them in props, or
// "" if nothing does. An offboarding keeps none of them.
func documentedKeep(er Erased, ent StoredEntity, props []string) string {
	if er.UserID == "" {
		return ""
	}
	only := func(allowed ...string) bool {
		for _, p := range props {
			ok := false
			for _, a := range allowed {
				ok = ok || p == a
			}
			if !ok {
				return false
			}
		}
		return true
	}
	switch {
	case ent.Table == store.TenantsTable && ent.PartitionKey == er.TenantID && only("ConsentedByOID", "ConsentedByName"):
		return "the approving administrator's name and object id stay in tenants as long as the organisation is a customer"
	}
	return ""
}

// holding returns where an entity holds one of needles: its keys or the
// names of the properties whose name or value does.
func holding(e StoredEntity, needles []string) []string {
	if !contains(e.JSON, needles) {
		return nil
	}
	var out []string
	if contains(e.PartitionKey, needles) {
		out = append(out, "PartitionKey")
	}
	if contains(e.RowKey, needles) {
		out = append(out, "RowKey")
	}
	var props map[string]any
	if json.Unmarshal([]byte(e.JSON), &props) == nil {
		names := make([]string, 0, len(props))
		for k := range props {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if k == "PartitionKey" || k == "RowKey" {
				continue
			}
			if v, _ := json.Marshal(props[k]); contains(k+"="+string(v), needles) {
				out = append(out, k)
			}
		}
	}
	if len(out) == 0 {
		out = append(out, "its JSON")
	}
	return out
}

func contains(s string, needles []string) bool {
	s = strings.ToLower(s)
	for _, n := range needles {
		if n != "" && strings.Contains(s, strings.ToLower(n)) {
			return true
		}
	}
	return false
}

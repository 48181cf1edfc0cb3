package chaos

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
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
	// Final is GET /api/uploads/{id} once the system quiesced.
	Final Status
}

// Status is the connector's answer about an upload (docs/api.md).
type Status struct {
	Status  string `json:"status"`
	Records []struct {
		Item      string `json:"item"`
		EntitySet string `json:"entitySet"`
		ID        string `json:"id"`
	} `json:"records"`
	LastError *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"lastError"`
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

// CheckUploads: every accepted upload is in Dynamics exactly once (done:
// its account, meeting and notes once each, and every record it names
// exists), or failed or parked with a reason and nothing of it written.
// An upload that never finished is lost, unless the Service Bus fake was
// restarted after it was accepted (the fake keeps messages in memory;
// Azure Service Bus would have kept it): those are returned as stranded.
// Once every user has signed in again (signedIn), a parked upload is stuck:
// a sign-in re-queues what was parked.
func CheckUploads(ups []*Upload, d Dynamics, busRestarts []time.Time, signedIn bool) (f Finding, stranded []string, outcomes map[string]int) {
	f.Invariant = "every accepted upload is in Dynamics exactly once, or failed/parked with a reason; none lost; none accepted twice"
	outcomes = map[string]int{}
	accounts, meetings, notes := d.index("accounts", "accountnumber"), d.index("appointments", "subject"), d.index("annotations", "subject")
	for _, u := range ups {
		f.Checked++
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
			if accounts[u.AccountNumber] != 1 || meetings[u.Subject] != 1 {
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

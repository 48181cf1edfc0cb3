// Package uploadconfig holds what a meeting report may write into Dynamics:
// the activity a meeting becomes, and the allow-list of entity sets and
// fields a device may create or update. It is a JSON document (the
// UPLOAD_CONFIG setting), read and validated once at start; without it the
// defaults apply. Nothing outside the allow-list can be written, whatever a
// device sends.
package uploadconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pitcher/connector/internal/apperr"
)

// Config is the validated upload configuration.
type Config struct {
	// Activity is what a meeting is written as (an appointment by default).
	Activity Activity `json:"activity"`
	// EntitySets are the customer tables a report may write, and the only
	// ones a meeting may be regarding.
	EntitySets []EntitySet `json:"entitySets"`
}

// Activity names the activity table meetings are written to. Its primary
// key is activityid, as for every activity.
type Activity struct {
	// EntitySet is the Web API's name (appointments).
	EntitySet string `json:"entitySet"`
	// LogicalName is the table's logical name (appointment); it spells the
	// navigation properties regardingobjectid_<customer>_<activity> and
	// objectid_<activity>.
	LogicalName string `json:"logicalName"`
}

// EntitySet is one table a report may create or update rows of.
type EntitySet struct {
	// Name is the entity set name as the Web API spells it (accounts).
	Name string `json:"name"`
	// LogicalName is the table's logical name (account), for navigation
	// property names.
	LogicalName string `json:"logicalName"`
	// PrimaryKey is the primary key column; empty means LogicalName+"id".
	PrimaryKey string `json:"primaryKey,omitempty"`
	// Keys are the table's alternate keys a report may address rows by,
	// each a list of columns (e.g. [["accountnumber"]]).
	Keys [][]string `json:"keys,omitempty"`
	// Fields are the columns a report may write.
	Fields []string `json:"fields"`
	// Conflicts decides what happens when a report updates a row (named
	// by id, with ifMatch) that changed in Dynamics since the app's copy:
	// ConflictsServerWins, ConflictsClientWins or ConflictsMerge (the
	// default).
	Conflicts string `json:"conflicts,omitempty"`
}

// Conflict policies (docs/configuration.md, "Conflicts").
const (
	// ConflictsServerWins writes nothing of a report one of whose rows
	// changed in Dynamics since the app's copy; the upload ends conflict.
	ConflictsServerWins = "server-wins"
	// ConflictsClientWins writes the app's values anyway and records the
	// conflict on the upload.
	ConflictsClientWins = "client-wins"
	// ConflictsMerge writes the fields the app changed that nobody changed
	// in Dynamics; a field changed on both sides is a conflict as under
	// ConflictsServerWins.
	ConflictsMerge = "merge"
)

// Default is the configuration used when UPLOAD_CONFIG is empty: meetings
// become appointments; accounts (by account number) and contacts (by
// e-mail) may be created or updated with their everyday columns.
func Default() Config {
	return Config{
		Activity: Activity{EntitySet: "appointments", LogicalName: "appointment"},
		EntitySets: []EntitySet{
			{Name: "accounts", LogicalName: "account", PrimaryKey: "accountid", Keys: [][]string{{"accountnumber"}},
				Fields: []string{"name", "accountnumber", "telephone1", "emailaddress1", "websiteurl", "address1_city", "description"}},
			{Name: "contacts", LogicalName: "contact", PrimaryKey: "contactid", Keys: [][]string{{"emailaddress1"}},
				Fields: []string{"firstname", "lastname", "emailaddress1", "telephone1", "jobtitle", "description"}},
		},
	}
}

// EntitySet returns the allowed entity set called name.
func (c Config) EntitySet(name string) (EntitySet, bool) {
	for _, es := range c.EntitySets {
		if es.Name == name {
			return es, true
		}
	}
	return EntitySet{}, false
}

// SetNames lists the allowed entity sets, for messages.
func (c Config) SetNames() []string {
	out := make([]string, len(c.EntitySets))
	for i, es := range c.EntitySets {
		out[i] = es.Name
	}
	return out
}

// Policy is the set's conflict policy; ConflictsMerge when not set.
func (e EntitySet) Policy() string {
	if e.Conflicts == "" {
		return ConflictsMerge
	}
	return e.Conflicts
}

// AllowsField reports whether column f may be written.
func (e EntitySet) AllowsField(f string) bool { return slices.Contains(e.Fields, f) }

// Key returns the alternate key made of exactly the columns in names, in
// its declared order.
func (e EntitySet) Key(names []string) ([]string, bool) {
	for _, k := range e.Keys {
		if len(k) != len(names) {
			continue
		}
		all := true
		for _, col := range k {
			all = all && slices.Contains(names, col)
		}
		if all {
			return k, true
		}
	}
	return nil, false
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Parse decodes and validates an UPLOAD_CONFIG document; "" means
// Default(). A missing activity means Default's. The error is an apperr
// Invalid error listing every problem, each naming its place in the
// document (entitySets[1].fields[0]).
func Parse(doc string) (Config, error) {
	if strings.TrimSpace(doc) == "" {
		return Default(), nil
	}
	var c Config
	if p := apperr.DecodeStrict([]byte(doc), &c, "the fields are activity{entitySet,logicalName} and entitySets[]{name,logicalName,primaryKey,keys,fields,conflicts}"); p != "" {
		return Config{}, apperr.InvalidProblems(invalidMessage, []apperr.Problem{{Field: "(document)", Message: p}})
	}
	var problems apperr.Problems
	add := problems.Add
	if c.Activity == (Activity{}) {
		c.Activity = Default().Activity
	}
	if !identifier.MatchString(c.Activity.EntitySet) {
		add("activity.entitySet", "%q is not an entity set name (e.g. appointments)", c.Activity.EntitySet)
	}
	if !identifier.MatchString(c.Activity.LogicalName) {
		add("activity.logicalName", "%q is not a logical name (e.g. appointment)", c.Activity.LogicalName)
	}
	if len(c.EntitySets) == 0 {
		add("entitySets", "is empty; list the tables reports may write, or leave the setting empty for the defaults")
	}
	seen := map[string]bool{}
	for i := range c.EntitySets {
		es := &c.EntitySets[i]
		at := fmt.Sprintf("entitySets[%d]", i)
		switch {
		case !identifier.MatchString(es.Name):
			add(at+".name", "%q is not an entity set name (letters, digits and _, e.g. accounts)", es.Name)
		case seen[es.Name]:
			add(at+".name", "%q is listed twice", es.Name)
		}
		seen[es.Name] = true
		if !identifier.MatchString(es.LogicalName) {
			add(at+".logicalName", "%q is not a logical name (e.g. account); it spells the regarding and note links", es.LogicalName)
		}
		if es.PrimaryKey == "" && es.LogicalName != "" {
			es.PrimaryKey = es.LogicalName + "id"
		}
		if !identifier.MatchString(es.PrimaryKey) {
			add(at+".primaryKey", "%q is not a column name", es.PrimaryKey)
		}
		if len(es.Fields) == 0 {
			add(at+".fields", "is empty; list the columns reports may write")
		}
		cols := map[string]bool{}
		for j, f := range es.Fields {
			switch {
			case !identifier.MatchString(f):
				add(fmt.Sprintf("%s.fields[%d]", at, j), "%q is not a column name", f)
			case f == es.PrimaryKey:
				add(fmt.Sprintf("%s.fields[%d]", at, j), "%q is the primary key; a report names a row by id or key, it never writes the key column", f)
			case cols[f]:
				add(fmt.Sprintf("%s.fields[%d]", at, j), "%q is listed twice", f)
			}
			cols[f] = true
		}
		switch es.Conflicts {
		case "":
			es.Conflicts = ConflictsMerge
		case ConflictsServerWins, ConflictsClientWins, ConflictsMerge:
		default:
			add(at+".conflicts", "%q is not a conflict policy; use %s, %s or %s (the default)", es.Conflicts, ConflictsServerWins, ConflictsClientWins, ConflictsMerge)
		}
		for j, k := range es.Keys {
			if len(k) == 0 {
				add(fmt.Sprintf("%s.keys[%d]", at, j), "is empty; an alternate key has at least one column")
			}
			for n, col := range k {
				if !identifier.MatchString(col) {
					add(fmt.Sprintf("%s.keys[%d][%d]", at, j, n), "%q is not a column name", col)
				}
			}
		}
	}
	if err := problems.Err(invalidMessage); err != nil {
		return Config{}, err
	}
	return c, nil
}

// invalidMessage heads the error of a configuration with problems.
const invalidMessage = "upload configuration is not valid"

// String renders the configuration as compact JSON (for logs and diagnostics).
func (c Config) String() string {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(c)
	return strings.TrimSpace(b.String())
}

package syncconfig

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
)

func TestDefaultIsValid(t *testing.T) {
	c, err := Parse("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EntitySets) != 3 || c.EntitySets[0].Name != "accounts" || c.EntitySets[2].Name != "appointments" {
		t.Errorf("Parse(\"\") = %v, want accounts, contacts, appointments", c)
	}
	again, err := Parse(c.String())
	if err != nil || again.String() != c.String() {
		t.Errorf("the defaults do not round-trip: %v, %v", again, err)
	}
}

func TestParseNotes(t *testing.T) {
	c, err := Parse(`{"entitySets":[{"name":"accounts","select":["name"]},{"name":"contacts","select":["fullname"],"notes":false}],"notes":{"maxFileSize":1048576}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotesOn() || !c.EntitySets[0].NotesOn() || c.EntitySets[1].NotesOn() || c.Notes.MaxFileSize != 1<<20 || c.Notes.PageSize != DefaultPageSize {
		t.Errorf("Parse = %+v: want notes on for accounts only, a 1 MiB cap and the default page size", c)
	}
	if n := c.NotesEntitySet(); n.Name != NotesSet || slices.Contains(n.Select, "documentbody") {
		t.Errorf("the notes are read as %+v; want annotations without documentbody", n)
	}
	off, err := Parse(`{"entitySets":[{"name":"accounts","select":["name"],"notes":false}]}`)
	if err != nil || off.NotesOn() {
		t.Errorf("with every set's notes off: NotesOn = %v (%v), want false", off.NotesOn(), err)
	}
}

// TestRelatedToTakesTheParentsSpelling: relatedTo.set names its parent in
// any case, and is taken as the parent spells it (the sync keys rows by it).
func TestRelatedToTakesTheParentsSpelling(t *testing.T) {
	c, err := Parse(`{"entitySets":[{"name":"accounts","select":["name"]},{"name":"contacts","select":["fullname"],"relatedTo":{"set":"Accounts","lookup":"_ParentCustomerId_Value"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if rel := c.EntitySets[1].RelatedTo; rel.Set != "accounts" || rel.Lookup != "_parentcustomerid_value" {
		t.Errorf("relatedTo = %+v, want accounts and the lookup in lower case", rel)
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(`{"entitySets":[{"name":"accounts","select":["accountid","name"],"filter":"statecode eq 0 and name ne 'O''Brien (old)'"},{"name":"new_visits","select":["new_visitid"],"pageSize":250}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.EntitySets[0].PageSize != DefaultPageSize || c.EntitySets[1].PageSize != 250 {
		t.Errorf("page sizes = %d, %d", c.EntitySets[0].PageSize, c.EntitySets[1].PageSize)
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		doc  string
		want []string // "field: message part"
	}{
		{`{"entitySets":[]}`, []string{"entitySets: is empty"}},
		{`{"entitySets":[{"name":"accounts","select":["name"],"page_size":5}]}`, []string{"(document): unknown field \"page_size\""}},
		{`{"entitySets":[{"name":"accounts","select":"name"}]}`, []string{"(document): entitySets.select is a JSON string"}},
		{`{"entitySets":[{"name":"accounts"`, []string{"(document): malformed JSON"}},
		{`{"entitySets":[{"name":"acc ounts","select":[]},{"name":"contacts","select":["a","A","b;c"],"pageSize":9000},{"name":"Contacts","select":["x"],"filter":"name eq 'x"}]}`, []string{
			`entitySets[0].name: "acc ounts" is not an entity set name`,
			"entitySets[0].select: is empty",
			`entitySets[1].select[1]: "A" is listed twice`,
			`entitySets[1].select[2]: "b;c" is not a column name`,
			"entitySets[1].pageSize: 9000 is not from 1 to 5000",
			`entitySets[2].name: "Contacts" is listed twice`,
			"entitySets[2].filter: the filter of Contacts, position 9: the text that starts here has no closing '",
		}},
		{`{"entitySets":[{"name":"a","select":["x"],"filter":"(x eq 1"},{"name":"b","select":["x"],"filter":"x eq 1)"},{"name":"c","select":["x"],"filter":"x eq 1&$top=5"}]}`, []string{
			`entitySets[0].filter: the filter of a, position 8: expected "and", "or" or the ")" closing the "(" at position 1`,
			`entitySets[1].filter: the filter of b, position 7: this ")" has no "(" before it`,
			"entitySets[2].filter: the filter of c, position 7: unexpected character '&'",
		}},
		{`{"entitySets":[{"name":"Annotations","select":["subject"]}],"notes":{"maxFileSize":-1,"pageSize":9000}}`, []string{
			"entitySets[0].name: annotations are synced as the notes of the other sets' rows",
			"notes.maxFileSize: -1 is not from 0",
			"notes.pageSize: 9000 is not from 1 to 5000",
		}},
	}
	for _, tc := range tests {
		_, err := Parse(tc.doc)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.Invalid {
			t.Errorf("Parse(%s) = %v, want an invalid error", tc.doc, err)
			continue
		}
		if len(e.Problems) != len(tc.want) {
			t.Errorf("Parse(%s) problems = %q, want %d: %q", tc.doc, e.Problems, len(tc.want), tc.want)
			continue
		}
		for i, w := range tc.want {
			if got := e.Problems[i].String(); !strings.Contains(got, w) {
				t.Errorf("Parse(%s) problem %d = %q, want it to contain %q", tc.doc, i, got, w)
			}
		}
	}
}

// The three profiles of docs/configuration.md ("Examples"), exactly as
// written there: they must stay equal to the document (the test checks
// that the document still holds them).
const (
	myActiveAccountsDoc = `{"entitySets": [
  {"name": "accounts", "filter": "_ownerid_value eq @me and statecode eq 0",
   "select": ["accountid", "name", "accountnumber", "telephone1", "emailaddress1", "websiteurl",
     "address1_city", "_primarycontactid_value", "modifiedon"]},
  {"name": "contacts", "relatedTo": {"set": "accounts", "lookup": "_parentcustomerid_value"},
   "select": ["contactid", "fullname", "firstname", "lastname", "jobtitle", "emailaddress1",
     "telephone1", "_parentcustomerid_value", "modifiedon"]}
]}
`
	myTeamsOpenAppointmentsDoc = `{"entitySets": [
  {"name": "appointments", "filter": "_ownerid_value in @myteams and statecode in (0, 3)",
   "select": ["activityid", "subject", "scheduledstart", "scheduledend", "location", "description",
     "_regardingobjectid_value", "statecode", "modifiedon"]}
]}
`
	myBusinessUnitDoc = `{"entitySets": [
  {"name": "accounts", "filter": "_owningbusinessunit_value eq @mybusinessunit",
   "select": ["accountid", "name", "accountnumber", "telephone1", "emailaddress1", "websiteurl",
     "address1_city", "statecode", "_primarycontactid_value", "modifiedon"]},
  {"name": "contacts", "filter": "_owningbusinessunit_value eq @mybusinessunit",
   "select": ["contactid", "fullname", "firstname", "lastname", "jobtitle", "emailaddress1",
     "telephone1", "statecode", "_parentcustomerid_value", "modifiedon"]},
  {"name": "appointments", "filter": "_owningbusinessunit_value eq @mybusinessunit",
   "select": ["activityid", "subject", "scheduledstart", "scheduledend", "location", "description",
     "_regardingobjectid_value", "statecode", "modifiedon"]}
]}
`
)

// TestProfileExamplesParse: the documented example profiles are valid
// SYNC_CONFIG documents, with the filters, parameters and relation they
// describe.
func TestProfileExamplesParse(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	type set struct {
		name, filter string
		params       []string
		relatedTo    *Related
	}
	tests := []struct {
		name, doc string
		want      []set
	}{
		{"my active accounts and their contacts", myActiveAccountsDoc, []set{
			{"accounts", "_ownerid_value eq @me and statecode eq 0", []string{"@me"}, nil},
			{"contacts", "", nil, &Related{Set: "accounts", Lookup: "_parentcustomerid_value"}},
		}},
		{"my team's open appointments", myTeamsOpenAppointmentsDoc, []set{
			{"appointments", "_ownerid_value in @myteams and statecode in (0,3)", []string{"@myteams"}, nil},
		}},
		{"everything in my business unit", myBusinessUnitDoc, []set{
			{"accounts", "_owningbusinessunit_value eq @mybusinessunit", []string{"@mybusinessunit"}, nil},
			{"contacts", "_owningbusinessunit_value eq @mybusinessunit", []string{"@mybusinessunit"}, nil},
			{"appointments", "_owningbusinessunit_value eq @mybusinessunit", []string{"@mybusinessunit"}, nil},
		}},
	}
	for _, tc := range tests {
		if !strings.Contains(string(doc), "```json\n"+tc.doc+"```") {
			t.Errorf("%s: docs/configuration.md no longer holds this example as written here; keep the two equal", tc.name)
		}
		c, err := Parse(tc.doc)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(c.EntitySets) != len(tc.want) {
			t.Errorf("%s: %d sets, want %d", tc.name, len(c.EntitySets), len(tc.want))
			continue
		}
		for i, w := range tc.want {
			es := c.EntitySets[i]
			if es.Name != w.name || es.RowFilter().String() != w.filter || !slices.Equal(es.RowFilter().Params(), w.params) {
				t.Errorf("%s: set %d = %s, filter %q, params %q; want %s, %q, %q", tc.name, i, es.Name, es.RowFilter(), es.RowFilter().Params(), w.name, w.filter, w.params)
			}
			if (es.RelatedTo == nil) != (w.relatedTo == nil) || es.RelatedTo != nil && *es.RelatedTo != *w.relatedTo {
				t.Errorf("%s: %s relatedTo = %+v, want %+v", tc.name, es.Name, es.RelatedTo, w.relatedTo)
			}
		}
	}
}

// FuzzParse: any document is either accepted with every page size in range
// and every name valid, or rejected; never a panic.
func FuzzParse(f *testing.F) {
	f.Add(Default().String())
	f.Add(`{"entitySets":[{"name":"a","select":["x"],"filter":"(x eq 'a''b')"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Parse(doc)
		if err != nil {
			return
		}
		for _, es := range c.EntitySets {
			if es.PageSize < 1 || es.PageSize > MaxPageSize || !identifier.MatchString(es.Name) || len(es.Select) == 0 {
				t.Fatalf("Parse(%q) accepted %+v", doc, es)
			}
		}
	})
}

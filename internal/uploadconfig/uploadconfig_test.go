package uploadconfig

import (
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
)

func TestParseEmptyIsDefault(t *testing.T) {
	c, err := Parse("  ")
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != Default().String() {
		t.Errorf("Parse(\"\") = %s, want the defaults %s", c, Default())
	}
}

func TestParseValid(t *testing.T) {
	c, err := Parse(`{"entitySets":[{"name":"leads","logicalName":"lead","keys":[["companyname","emailaddress1"]],"fields":["subject","firstname"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Activity != Default().Activity {
		t.Errorf("activity = %+v, want the default %+v when the document names none", c.Activity, Default().Activity)
	}
	es, ok := c.EntitySet("leads")
	if !ok || es.PrimaryKey != "leadid" {
		t.Fatalf("EntitySet(leads) = %+v, %v; want primary key leadid derived from the logical name", es, ok)
	}
	if !es.AllowsField("subject") || es.AllowsField("lastname") {
		t.Errorf("AllowsField: subject should be allowed, lastname not")
	}
	if k, ok := es.Key([]string{"emailaddress1", "companyname"}); !ok || strings.Join(k, ",") != "companyname,emailaddress1" {
		t.Errorf("Key(emailaddress1, companyname) = %v, %v; want the declared key in its order", k, ok)
	}
	if _, ok := es.Key([]string{"companyname"}); ok {
		t.Errorf("Key(companyname) matched a part of a composite key")
	}
	if _, ok := c.EntitySet("accounts"); ok {
		t.Errorf("accounts allowed although the document lists only leads")
	}
	if es.Policy() != ConflictsMerge {
		t.Errorf("conflicts = %q, want merge when the document names none", es.Policy())
	}
	c, err = Parse(`{"entitySets":[{"name":"leads","logicalName":"lead","fields":["subject"],"conflicts":"server-wins"}]}`)
	if es, _ := c.EntitySet("leads"); err != nil || es.Policy() != ConflictsServerWins {
		t.Errorf("conflicts = %q, %v; want server-wins", es.Policy(), err)
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		doc  string
		want []string // "field: message part"
	}{
		{`{`, []string{"(document): malformed JSON"}},
		{`{"entitySets":[],"extra":1}`, []string{`(document): unknown field "extra"`}},
		{`{"entitySets":[]}`, []string{"entitySets: is empty"}},
		{`{"entitySets":[{"name":"accounts","logicalName":"account","fields":["name"],"conflicts":"latest"}]}`,
			[]string{`entitySets[0].conflicts: "latest" is not a conflict policy; use server-wins, client-wins or merge (the default)`}},
		{`{"activity":{"entitySet":"appointments","logicalName":"x y"},"entitySets":[{"name":"accounts","logicalName":"account","fields":["name"]}]}`,
			[]string{"activity.logicalName: \"x y\" is not a logical name"}},
		{`{"entitySets":[
			{"name":"accounts","logicalName":"account","fields":["name","name","accountid","bad-col"],"keys":[[],["a b"]]},
			{"name":"accounts","logicalName":"","fields":[]}]}`,
			[]string{
				`entitySets[0].fields[1]: "name" is listed twice`,
				`entitySets[0].fields[2]: "accountid" is the primary key`,
				`entitySets[0].fields[3]: "bad-col" is not a column name`,
				`entitySets[0].keys[0]: is empty`,
				`entitySets[0].keys[1][0]: "a b" is not a column name`,
				`entitySets[1].name: "accounts" is listed twice`,
				`entitySets[1].logicalName: "" is not a logical name`,
				`entitySets[1].primaryKey: "" is not a column name`,
				`entitySets[1].fields: is empty`,
			}},
	}
	for _, tc := range tests {
		_, err := Parse(tc.doc)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.Invalid {
			t.Errorf("Parse(%.40q) = %v, want an Invalid error", tc.doc, err)
			continue
		}
		var got []string
		for _, p := range e.Problems {
			got = append(got, p.String())
		}
		if len(got) != len(tc.want) {
			t.Errorf("Parse(%.40q) problems = %q, want %d like %q", tc.doc, got, len(tc.want), tc.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], tc.want[i]) {
				t.Errorf("Parse(%.40q) problem %d = %q, want it to start %q", tc.doc, i, got[i], tc.want[i])
			}
		}
	}
}

package dataverse_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

func TestListFollowsNextLinkOneRequestPerPage(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 25})
	p := e.c.NewListPager("accounts", &dataverse.Query{Select: []string{"name"}}, &dataverse.ListOptions{MaxPageSize: 10, PrimaryKey: "accountid"})
	rows, pages := readAll(t, p)
	if len(rows) != 25 || pages != 3 {
		t.Fatalf("got %d rows in %d pages, want 25 in 3", len(rows), pages)
	}
	seen := map[string]bool{}
	for i, r := range rows {
		if seen[r.ID] || r.ID == "" {
			t.Fatalf("row %d: id %q missing or repeated", i, r.ID)
		}
		seen[r.ID] = true
	}
	if got := e.sim.Requests(); got != 3 {
		t.Errorf("requests = %d, want one per page (3)", got)
	}
}

func TestFilterLiteralsAreEscaped(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 3})
	names := []string{"O'Bryan & Sons + Co/1", "100% #1? yes=no", "Ünïcødé ' ''"}
	for _, n := range names {
		if _, err := e.sim.CreateRow("accounts", map[string]any{"name": n}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		q := &dataverse.Query{Select: []string{"name"}, Filter: dataverse.Filterf("name eq %v", n)}
		rows, _ := readAll(t, e.c.NewListPager("accounts", q, nil))
		if len(rows) != 1 {
			t.Fatalf("filter on %q: got %d rows, want 1", n, len(rows))
		}
		var got struct{ Name string }
		_ = json.Unmarshal(rows[0].Data, &got)
		if got.Name != n {
			t.Errorf("filter on %q returned %q", n, got.Name)
		}
	}
}

func TestQueryOptions(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 30})
	q := &dataverse.Query{
		Select:  []string{"name", "numberofemployees"},
		Filter:  dataverse.Filterf("numberofemployees ge %v and startswith(name,%v)", 10, "Account 0001"),
		OrderBy: []string{"numberofemployees desc"},
		Top:     3,
		Count:   true,
	}
	p := e.c.NewListPager("accounts", q, nil)
	page, err := p.NextPage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 3 || p.More() {
		t.Fatalf("$top 3: got %d rows, more=%v", len(page.Rows), p.More())
	}
	if page.Count != 10 {
		t.Errorf("@odata.count = %d, want 10 (accounts 10-19)", page.Count)
	}
	var first struct{ Numberofemployees int }
	_ = json.Unmarshal(page.Rows[0].Data, &first)
	if first.Numberofemployees != 19 {
		t.Errorf("first row by numberofemployees desc = %d, want 19", first.Numberofemployees)
	}
}

func TestGetWithExpandAndAlternateKey(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 3})
	data, etag, err := e.c.Get(context.Background(), dataverse.ByKey("accounts", "accountnumber", "ACC-000001"),
		&dataverse.Query{Select: []string{"name"}, Expand: []string{"primarycontactid($select=fullname)"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name             string
		Primarycontactid struct{ Fullname string }
	}
	_ = json.Unmarshal(data, &got)
	if got.Name != "Account 00001" || got.Primarycontactid.Fullname != "Rene Contact00001" || !strings.HasPrefix(etag, `W/"`) {
		t.Errorf("got %+v etag %q", got, etag)
	}
	_, _, err = e.c.Get(context.Background(), dataverse.ByKey("accounts", "accountnumber", "nope"), nil)
	if !dataverse.IsNotFound(err) {
		t.Errorf("missing alternate key: err = %v, want not found", err)
	}
}

func TestUnknownSetAndPropertyAreTypedErrors(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 1})
	_, err := readAllErr(e.c.NewListPager("Account", nil, nil))
	if de, ok := err.(*dataverse.Error); !ok || de.StatusCode != 404 || de.Code != "0x8006088a" {
		t.Errorf("case-wrong set: err = %v", err)
	}
	_, err = readAllErr(e.c.NewListPager("accounts", &dataverse.Query{Select: []string{"Name"}}, nil))
	if de, ok := err.(*dataverse.Error); !ok || de.StatusCode != 400 || !strings.Contains(de.Message, "Could not find a property named 'Name'") {
		t.Errorf("case-wrong column: err = %v", err)
	}
}

func readAllErr(p *dataverse.Pager) (int, error) {
	n := 0
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			return n, err
		}
		n += len(page.Rows)
	}
	return n, nil
}

package dataverse_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// TestResumeFromNextLink: a read stopped after its second page and
// continued by another client from the stored nextLink reads every row
// once, and a change-tracking read so continued ends with a delta link
// that reports the rows changed while it was stopped.
func TestResumeFromNextLink(t *testing.T) {
	e := newEnv(t, dataversesim.Options{Seed: 7})
	q := &dataverse.Query{Select: []string{"name"}}
	lo := &dataverse.ListOptions{MaxPageSize: 2, PrimaryKey: "accountid"}
	first := e.c.NewListPager("accounts", q, lo)
	var got []string
	var link string
	for range 2 {
		page, err := first.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got, link = append(got, ids(page.Rows)...), page.NextLink
	}
	p, err := e.client(t, dataverse.StaticToken("another")).ResumeListPager(link, lo)
	if err != nil {
		t.Fatal(err)
	}
	rest, pages := readAll(t, p)
	got = append(got, ids(rest)...)
	if len(got) != 7 || pages != 2 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != 7 {
		t.Errorf("resumed list read: %d rows (%d pages after the stop), want 7 distinct rows in 2 more pages", len(got), pages)
	}

	co := &dataverse.ChangesOptions{Select: []string{"fullname"}, MaxPageSize: 3, PrimaryKey: "contactid"}
	page, err := e.c.NewChangesPager("contacts", co).NextPage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	edited := dataversesim.SeedID("contacts", 6)
	if err := e.sim.UpdateRow("contacts", page.Rows[0].ID, map[string]any{"jobtitle": "Edited while stopped"}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.UpdateRow("contacts", edited, map[string]any{"jobtitle": "Edited while stopped"}); err != nil {
		t.Fatal(err)
	}
	cp, err := e.c.ResumeChangesFrom(page.NextLink, co)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ = readAll(t, cp)
	if n := len(page.Rows) + len(rest); n != 7 || cp.DeltaLink() == "" {
		t.Fatalf("resumed change-tracking read: %d rows, delta link %q; want 7 rows and a delta link", n, cp.DeltaLink())
	}
	changes, _ := delta(t, e, cp.DeltaLink())
	want := []string{page.Rows[0].ID, edited}
	if got := ids(changes); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("delta after the resumed read = %v, want the two rows edited while it was stopped %v", got, want)
	}
}

func TestResumeFromNextLinkRefusesForeignOrBadLinks(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	for _, link := range []string{
		"https://evil.example.com/api/data/v9.2/accounts?$skiptoken=x",
		e.srv.URL + "/api/data/v9.2/accounts?$select=name",
		e.srv.URL + "/api/data/v9.2/accounts?$deltatoken=1!x",
		"%zz",
	} {
		if _, err := e.c.ResumeListPager(link, nil); err == nil {
			t.Errorf("ResumeListPager(%q) accepted it", link)
		}
		if _, err := e.c.ResumeChangesFrom(link, nil); err == nil {
			t.Errorf("ResumeChangesFrom(%q) accepted it", link)
		}
	}
}

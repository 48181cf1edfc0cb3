package dataversesim

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// SeededSets are the entity sets Seed fills.
var SeededSets = []string{"accounts", "contacts", "appointments", "leads"}

// seedNamespace makes seeded ids the same in every run.
var seedNamespace = uuid.MustParse("0f6b7c1e-3c0a-4c57-9a59-8e6c1c0d5a11")

// SeedID is the id of seeded row i (0-based) of set.
func SeedID(set string, i int) string {
	return uuid.NewSHA1(seedNamespace, fmt.Appendf(nil, "%s/%d", set, i)).String()
}

// Seed makes sure rows 0..n-1 exist in each of sets (all of SeededSets
// when none are named), with deterministic ids (SeedID) and values: account
// i's primary contact is contact i, contact i's parent customer is account
// i, appointment i is regarding account i, when those rows are seeded too.
// Row i of every set is owned by SeedOwner(i) (seeded users 0, 1, 2, then
// seeded teams 0, 1, by i%5), with owninguser or owningteam and
// owningbusinessunit to match. Seeded rows carry the current simulated time
// in createdon/modifiedon. The principals (systemusers, teams,
// businessunits) are not seeded here: New creates them.
func (s *Sim) Seed(n int, sets ...string) error {
	if len(sets) == 0 {
		sets = SeededSets
	}
	for _, set := range sets {
		if !slices.Contains(SeededSets, set) {
			return fmt.Errorf("dataversesim: cannot seed %q; seeded sets are %v", set, SeededSets)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range sets {
		s.seedSet(set, n)
	}
	s.linkSeeded(n)
	return nil
}

func (s *Sim) seed(n int) {
	for _, set := range SeededSets {
		s.seedSet(set, n)
	}
	s.linkSeeded(n)
}

// seedLinks are the lookups between seeded rows: set, lookup column, target.
var seedLinks = [][3]string{
	{"accounts", "_primarycontactid_value", "contacts"},
	{"contacts", "_parentcustomerid_value", "accounts"},
	{"appointments", "_regardingobjectid_value", "accounts"},
}

// linkSeeded sets the lookups of seeded rows whose target row exists and
// whose lookup is still empty.
func (s *Sim) linkSeeded(n int) {
	for _, l := range seedLinks {
		t, target := s.st.tables[l[0]], s.st.tables[l[2]]
		col := t.byJSON[l[1]]
		for i := range n {
			r, tid := t.rows[SeedID(l[0], i)], SeedID(l[2], i)
			if r != nil && r.vals[col] == nil && target.rows[tid] != nil {
				r.vals[col] = lookupValue{id: tid, set: l[2]}
			}
		}
	}
}

// seedSet adds the missing seeded rows of set in bulk (sorting the index
// once, so 200,000 rows take a moment, not minutes).
func (s *Sim) seedSet(set string, n int) {
	t := s.st.tables[set]
	col := func(name string) int { return t.byJSON[name] }
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	cities := []string{"Seattle", "Berlin", "Lisbon", "Osaka", "Toronto", "Lyon", "Sydney"}
	firsts := []string{"Yvonne", "Rene", "Maria", "Jim", "Susanna", "Nancy", "Paul", "Sidney"}
	for i := range n {
		id := SeedID(set, i)
		if t.rows[id] != nil {
			continue
		}
		v := make([]any, len(t.attrs))
		v[t.pk] = id
		switch set {
		case "accounts":
			v[col("name")] = fmt.Sprintf("Account %05d", i)
			v[col("accountnumber")] = fmt.Sprintf("ACC-%06d", i)
			v[col("telephone1")] = fmt.Sprintf("+1 555 %04d", i%10000)
			v[col("emailaddress1")] = fmt.Sprintf("account%d@example.com", i)
			v[col("address1_city")] = cities[i%len(cities)]
			v[col("revenue")] = float64(i%1000) * 1000
			v[col("numberofemployees")] = int64(i % 500)
			v[col("creditonhold")] = i%7 == 0
			v[col("industrycode")] = int64(1 + i%10)
			v[col("statecode")] = int64(0)
		case "contacts":
			v[col("firstname")] = firsts[i%len(firsts)]
			v[col("lastname")] = fmt.Sprintf("Contact%05d", i)
			v[col("emailaddress1")] = fmt.Sprintf("contact%d@example.com", i)
			v[col("telephone1")] = fmt.Sprintf("+1 555 %04d", i%10000)
			v[col("jobtitle")] = "Buyer"
			v[col("statecode")] = int64(0)
		case "appointments":
			v[col("subject")] = fmt.Sprintf("Meeting %05d", i)
			v[col("location")] = cities[i%len(cities)]
			v[col("scheduledstart")] = base.Add(time.Duration(i) * time.Hour)
			v[col("scheduledend")] = base.Add(time.Duration(i)*time.Hour + 30*time.Minute)
			v[col("isalldayevent")] = false
			v[col("statecode")] = int64(0)
		case "leads":
			v[col("subject")] = fmt.Sprintf("Interested in product %d", i%20)
			v[col("firstname")] = firsts[i%len(firsts)]
			v[col("lastname")] = fmt.Sprintf("Lead%05d", i)
			v[col("companyname")] = fmt.Sprintf("Company %05d", i)
			v[col("emailaddress1")] = fmt.Sprintf("lead%d@example.com", i)
			v[col("statecode")] = int64(0)
		}
		ownerSet, ownerID := SeedOwner(i)
		v[col("_ownerid_value")] = lookupValue{id: ownerID, set: ownerSet}
		s.st.own(t, v)
		r := &row{id: id, vals: v}
		s.st.stamp(t, r, true)
		t.rows[id] = r
		t.ids = append(t.ids, id)
	}
	slices.Sort(t.ids)
}

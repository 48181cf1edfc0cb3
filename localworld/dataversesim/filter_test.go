package dataversesim

import (
	"slices"
	"testing"
)

func TestFilterExpressions(t *testing.T) {
	s := New(Options{Seed: 20})
	acc := s.st.tables["accounts"]
	tests := []struct {
		filter string
		want   []int // seeded account numbers that match
	}{
		{"numberofemployees lt 3", []int{0, 1, 2}},
		{"numberofemployees ge 18 and creditonhold eq true", nil},
		{"numberofemployees ge 13 and creditonhold eq true", []int{14}},
		{"not (numberofemployees gt 2) and name ne 'Account 00001'", []int{0, 2}},
		{"numberofemployees eq 3 or numberofemployees eq 5", []int{3, 5}},
		{"contains(name,'0001')", []int{1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}},
		{"startswith(name,'account 0000') and endswith(name,'7')", []int{7}},
		{"accountnumber eq 'acc-000004'", []int{4}},
		{"Microsoft.Dynamics.CRM.In(PropertyName='accountnumber',PropertyValues=[\"ACC-000006\",\"ACC-000009\"])", []int{6, 9}},
		{"Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"4\",\"6\"])", []int{4, 5, 6}},
		{"primarycontactid/lastname eq 'Contact00008'", []int{8}},
		{"_primarycontactid_value eq " + SeedID("contacts", 3), []int{3}},
		{"revenue gt 18500.5", []int{19}},
		{"websiteurl eq null and numberofemployees eq 0", []int{0}},
		{"createdon gt 2000-01-01T00:00:00Z and numberofemployees eq 1", []int{1}},
	}
	for _, tt := range tests {
		f, err := parseFilter(tt.filter, acc, s.st.tables)
		if err != nil {
			t.Errorf("%s: %v", tt.filter, err)
			continue
		}
		var got []int
		for i := range 20 {
			if f(acc.rows[SeedID("accounts", i)]) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.filter, got, tt.want)
		}
	}
	for _, bad := range []string{"name eq", "(name eq 'a'", "name eq 'a' and", "nosuch eq 1", "foo(name,'a')", "name gt 5", "name eq 'a' extra"} {
		if _, err := parseFilter(bad, acc, s.st.tables); err == nil || err.status != 400 {
			t.Errorf("%q: err = %v, want a 400", bad, err)
		}
	}
}

func TestKeySegments(t *testing.T) {
	tests := []struct {
		in   string
		want []keyPart
		ok   bool
	}{
		{"5a2b8a1e-0000-4000-8000-000000000001", []keyPart{{value: "5a2b8a1e-0000-4000-8000-000000000001"}}, true},
		{"accountnumber='A''B,C'", []keyPart{{name: "accountnumber", value: "A'B,C", quoted: true}}, true},
		{"k1=1,k2='x'", []keyPart{{name: "k1", value: "1"}, {name: "k2", value: "x", quoted: true}}, true},
		{"k1='unterminated", nil, false},
		{"k1=1,2", nil, false},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, err := parseKey(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("parseKey(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

package rowfilter

import (
	"strings"
	"sync"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
)

// account is a row as the Web API returns it for accounts with $select.
const account = `{"@odata.etag":"W/\"4410023\"","accountid":"5a2b8a1e-0000-4000-8000-000000000001",` +
	`"name":"O'Brien","statecode":0,"statuscode":1,"_ownerid_value":"A1B2C3D4-0000-4000-8000-00000000000A",` +
	`"_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"team",` +
	`"_owningbusinessunit_value":"b0000000-0000-4000-8000-000000000001",` +
	`"modifiedon":"2026-03-01T10:00:00Z","revenue":1000.5,"numberofemployees":250,"creditonhold":false,` +
	`"telephone1":null,"address1_city":"Zürich","emailaddress1":"info@OBrien.example.com",` +
	`"description":"Say \"hi\"\nto Ann","lastonholdtime":"2026-02-28T23:30:00-01:00","birthdate":"1980-05-17",` +
	`"primarycontactid":{"fullname":"Ann"},"new_tags":[1,2]}`

const (
	me    = "c0000000-0000-4000-8000-00000000000c"
	team  = "a1b2c3d4-0000-4000-8000-00000000000a"
	other = "d0000000-0000-4000-8000-00000000000d"
	bu    = "B0000000-0000-4000-8000-000000000001"
)

var user = Params{Me: me, MyTeams: []string{other, team}, MyBusinessUnit: bu}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		// numbers
		{"statecode eq 0", true},
		{"statecode eq 0.0", true},
		{"statecode eq 1", false},
		{"statecode ne 1", true},
		{"statecode ne 0", false},
		{"revenue gt 1000", true},
		{"revenue gt 1000.5", false},
		{"revenue ge 1000.5", true},
		{"revenue lt 1000.5", false},
		{"revenue le 1000.5", true},
		{"revenue lt 1e4", true},
		{"1000 lt revenue", true},
		{"numberofemployees eq 2.5e2", true},
		{"statecode in (1,0)", true},
		{"statecode in (1,2)", false},
		// text: case-insensitive
		{"name eq 'O''Brien'", true},
		{"name eq 'o''BRIEN'", true},
		{"name ne 'o''brien'", false},
		{"name eq 'O''Brien '", false},
		{"address1_city eq 'ZÜRICH'", true},
		{"address1_city eq 'Zurich'", false}, // accent-sensitive, unlike most Dataverse collations
		{"name gt 'n'", true},
		{"name gt 'O''BRIEN'", false},
		{"name ge 'O''BRIEN'", true},
		{"name lt 'p'", true},
		{"name le 'o'", false},
		{"name in ('Smith','o''brien')", true},
		{"name in ('Smith','Jones')", false},
		{"description eq 'say \"HI\"\nto ann'", true},
		{"contains(name,'BRI')", true},
		{"contains(name,'')", true},
		{"contains(name,'brie n')", false},
		{"startswith(name,'o''b')", true},
		{"startswith(name,'brien')", false},
		{"endswith(emailaddress1,'@obrien.EXAMPLE.com')", true},
		{"endswith(emailaddress1,'.org')", false},
		{"endswith(address1_city,'RICH')", true},
		{"startswith(address1_city,'zü')", true},
		{"contains(description,'\"hi\"')", true},
		// booleans
		{"creditonhold eq false", true},
		{"creditonhold eq true", false},
		{"creditonhold ne true", true},
		{"creditonhold in (true,false)", true},
		// GUIDs: any case, bare or quoted
		{"accountid eq 5A2B8A1E-0000-4000-8000-000000000001", true},
		{"accountid eq '5A2B8A1E-0000-4000-8000-000000000001'", true},
		{"accountid ne 5a2b8a1e-0000-4000-8000-000000000001", false},
		{"_ownerid_value eq a1b2c3d4-0000-4000-8000-00000000000a", true},
		{"_ownerid_value in (5a2b8a1e-0000-4000-8000-000000000001,a1b2c3d4-0000-4000-8000-00000000000a)", true},
		// date-times, by instant
		{"modifiedon eq 2026-03-01T10:00:00Z", true},
		{"modifiedon eq 2026-03-01T12:00:00+02:00", true},
		{"modifiedon eq 2026-03-01T10:00:00.000Z", true},
		{"modifiedon gt 2026-03-01", true},
		{"modifiedon lt 2026-03-02", true},
		{"modifiedon ge 2026-03-01T10:00:01Z", false},
		{"modifiedon le 2026-03-01T10:00:00Z", true},
		{"modifiedon ne 2026-03-01T10:00:00Z", false},
		{"lastonholdtime eq 2026-03-01T00:30:00Z", true},
		{"lastonholdtime ge 2026-03-01", true},
		{"birthdate eq 1980-05-17", true},
		{"birthdate lt 1980-05-17T00:00:01Z", true},
		{"birthdate gt 1980-05-17", false},
		// mismatched types: unequal, unordered
		{"statecode eq '0'", false},
		{"statecode ne '0'", true},
		{"statecode gt '0'", false},
		{"statecode le '0'", false},
		{"name eq 1", false},
		{"name ne 1", true},
		{"name lt 1", false},
		{"name gt 2026-03-01", false},
		{"name ne 2026-03-01", true},
		{"creditonhold eq 0", false},
		{"creditonhold ne 'false'", true},
		{"statecode eq a1b2c3d4-0000-4000-8000-00000000000a", false},
		{"statecode ne a1b2c3d4-0000-4000-8000-00000000000a", true},
		{"modifiedon eq '2026-03-01T10:00:00Z'", true},
		// null and missing
		{"telephone1 eq null", true},
		{"telephone1 ne null", false},
		{"fax eq null", true},
		{"fax ne null", false},
		{"name eq null", false},
		{"name ne null", true},
		{"telephone1 eq '555'", false},
		{"telephone1 ne '555'", true},
		{"telephone1 gt 0", false},
		{"telephone1 le 0", false},
		{"fax lt 2026-03-01", false},
		{"not (fax lt 2026-03-01)", true},
		{"contains(telephone1,'5')", false},
		{"not contains(fax,'5')", true},
		{"telephone1 in (null,'x')", true},
		{"telephone1 in ('x','y')", false},
		// parameters
		{"_ownerid_value eq @me", false},
		{"_ownerid_value ne @me", true},
		{"_ownerid_value in @myteams", true},
		{"_ownerid_value eq @myteams", true},
		{"accountid in @myteams", false},
		{"_owningbusinessunit_value eq @mybusinessunit", true},
		{"_owningbusinessunit_value ne @mybusinessunit", false},
		{"_ownerid_value in (@me,@mybusinessunit)", false},
		{"_owningbusinessunit_value in (@me,@mybusinessunit)", true},
		{"statecode eq @me", false},
		{"statecode ne @me", true},
		{"telephone1 ne @me", true},
		// logic
		{"statecode eq 0 and revenue gt 1000", true},
		{"statecode eq 0 and revenue gt 2000", false},
		{"statecode eq 1 or revenue gt 1000", true},
		{"statecode eq 1 or revenue gt 2000", false},
		{"not statecode eq 1", true},
		{"not (statecode eq 0 and revenue gt 1000)", false},
		{"not not statecode eq 0", true},
		{"statecode eq 1 or statecode eq 0 and creditonhold eq false", true},
		{"(statecode eq 1 or statecode eq 0) and creditonhold eq true", false},
		{"statecode eq 0 and (_ownerid_value eq @me or _ownerid_value in @myteams) and modifiedon ge 2026-01-01", true},
		// keys are matched case-insensitively
		{"STATECODE eq 0", true},
	}
	row := []byte(account)
	for _, tt := range tests {
		f, err := Parse(tt.filter)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.filter, err)
			continue
		}
		got, err := f.Match(row, user)
		if err != nil || got != tt.want {
			t.Errorf("%q: Match = %v, %v; want %v", tt.filter, got, err, tt.want)
		}
	}
}

// TestMatchParamsUnknown: a parameter the user has no value for matches
// nothing, ne neither, so not of it matches.
func TestMatchParamsUnknown(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{"_owningbusinessunit_value eq @mybusinessunit", false},
		{"_owningbusinessunit_value ne @mybusinessunit", false},
		{"not (_owningbusinessunit_value eq @mybusinessunit)", true},
		{"_ownerid_value ne @me", false},
		{"telephone1 ne @me", false},
		{"_ownerid_value in @myteams", false},
		{"_ownerid_value in (@me,a1b2c3d4-0000-4000-8000-00000000000a)", true},
	}
	row := []byte(account)
	for _, p := range []Params{{}, {MyTeams: []string{""}}} {
		for _, tt := range tests {
			f, err := Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := f.Match(row, p); err != nil || got != tt.want {
				t.Errorf("%q with %+v: Match = %v, %v; want %v", tt.filter, p, got, err, tt.want)
			}
		}
	}
}

func TestMatchErrors(t *testing.T) {
	tests := []struct {
		filter, row string
		want        string
	}{
		{"contains(statecode,'0')", account, "filter condition contains(statecode,'0'): column statecode holds a number, which it cannot compare"},
		{"startswith(creditonhold,'f')", account, "column creditonhold holds a boolean"},
		{"endswith(primarycontactid,'Ann')", account, "column primarycontactid holds a JSON object or array"},
		{"primarycontactid eq null", account, "filter condition primarycontactid eq null: column primarycontactid holds a JSON object or array"},
		{"new_tags in (1,2)", account, "column new_tags holds a JSON object or array"},
		{"new_tags in @myteams", account, "column new_tags holds a JSON object or array"},
		{"statecode eq 1 or contains(revenue,'1')", account, "column revenue holds a number"},
		{"not contains(revenue,'1')", account, "column revenue holds a number"},
	}
	for _, tt := range tests {
		f, err := Parse(tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := f.Match([]byte(tt.row), user)
		if err == nil || ok || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: Match = %v, %v; want an error with %q", tt.filter, ok, err, tt.want)
		}
		if apperr.KindOf(err) != apperr.Invalid {
			t.Errorf("%q: kind %q, want invalid (the admin fixes the filter)", tt.filter, apperr.KindOf(err))
		}
	}
	// A false term before the failing one decides the row first.
	f, _ := Parse("statecode eq 1 and contains(revenue,'1')")
	if ok, err := f.Match([]byte(account), user); ok || err != nil {
		t.Errorf("Match = %v, %v; want false: and stops at its first false term", ok, err)
	}
}

func TestMatchNotAnObject(t *testing.T) {
	f, err := Parse("statecode eq 0")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"", " ", "null", "[]", `"x"`, "0", "{", `{"statecode":0`, `{"statecode":0}x`, `{"statecode":0,}`, `{"name":"secret` + "\xff" + `",}`} {
		ok, err := f.Match([]byte(row), user)
		if err == nil || ok {
			t.Errorf("Match(%q) = %v, %v; want an error", row, ok, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Match(%q): the error %q shows the row's data", row, err)
		}
	}
	for _, row := range []string{"{}", ` {"statecode":0} `, "{\"statecode\":0,\"name\":\"\xff\"}"} {
		if _, err := f.Match([]byte(row), user); err != nil {
			t.Errorf("Match(%q): %v", row, err)
		}
	}
}

func TestMatchEscapedAndDuplicateKeys(t *testing.T) {
	f, err := Parse("name eq 'o''brien' and statecode eq 0")
	if err != nil {
		t.Fatal(err)
	}
	for row, want := range map[string]bool{
		`{"n\u0061me":"O\u0027Brien","statecode":0}`:     true,
		`{"Name":"O'Brien","StateCode":0}`:               true,
		`{"statecode":1,"name":"O'Brien","statecode":0}`: true,
		`{"statecode":0,"name":"O'Brien","statecode":1}`: false,
		`{"name":"O'Brien","statecode":0.0}`:             true,
		`{"name":"O'Brien","statecode":-0}`:              true,
		`{"name":"O'Brien","statecode":1e400}`:           false,
	} {
		if got, err := f.Match([]byte(row), user); err != nil || got != want {
			t.Errorf("Match(%s) = %v, %v; want %v", row, got, err, want)
		}
	}
}

func TestMatchConcurrent(t *testing.T) {
	f, err := Parse("statecode eq 0 and _ownerid_value in @myteams")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, err := f.Match([]byte(account), user); !ok || err != nil {
					t.Errorf("Match = %v, %v", ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestFold(t *testing.T) {
	tests := []struct {
		s, sub                   string
		prefix, suffix, contains bool
	}{
		{"Straße", "STRASSE", false, false, false},  // simple folding only, as Dataverse's collation is not ours
		{"Kelvin", "\u212aELVIN", true, true, true}, // the Kelvin sign folds to k: three bytes for one
		{"abc\u212a", "C\u212a", false, true, true},
		{"abc\u212a", "ck", false, true, true},
		{"", "", true, true, true},
		{"a", "", true, true, true},
		{"", "a", false, false, false},
		{"ÉCOLE", "éc", true, false, true},
		{"aaab", "aab", false, true, true},
	}
	for _, tt := range tests {
		if got := hasPrefixFold(tt.s, tt.sub); got != tt.prefix {
			t.Errorf("hasPrefixFold(%q, %q) = %v", tt.s, tt.sub, got)
		}
		if got := hasSuffixFold(tt.s, tt.sub); got != tt.suffix {
			t.Errorf("hasSuffixFold(%q, %q) = %v", tt.s, tt.sub, got)
		}
		if got := containsFold(tt.s, tt.sub); got != tt.contains {
			t.Errorf("containsFold(%q, %q) = %v", tt.s, tt.sub, got)
		}
	}
	for _, pair := range [][2]string{{"a", "B"}, {"Zebra", "apple"}, {"é", "F"}, {"ab", "abc"}, {"O'Brien", "o'brien"}, {"\u212a", "k"}} {
		a, b := pair[0], pair[1]
		if got, back := compareFold(a, b), compareFold(b, a); got != -back || (got == 0) != strings.EqualFold(a, b) {
			t.Errorf("compareFold(%q, %q) = %d, reversed %d", a, b, got, back)
		}
	}
}

package dataverse

import (
	"testing"
	"time"
)

func TestLiteralAndFilterf(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	tests := []struct{ got, want string }{
		{Literal("O'Bryan"), "'O''Bryan'"},
		{Literal(GUID("5A2B8A1E-0000-4000-8000-000000000001")), "5a2b8a1e-0000-4000-8000-000000000001"},
		{Literal(at), "2026-01-02T02:04:05Z"},
		{Literal(nil), "null"},
		{Literal(1.5), "1.5"},
		{Filterf("lastname eq %v and modifiedon ge %v", "a' or 1 eq 1 or 'b", at), "lastname eq 'a'' or 1 eq 1 or ''b' and modifiedon ge 2026-01-02T02:04:05Z"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestRefAndQueryEncoding(t *testing.T) {
	tests := []struct{ got, want string }{
		{ByID("accounts", "5A2B8A1E-0000-4000-8000-000000000001").Path(), "accounts(5a2b8a1e-0000-4000-8000-000000000001)"},
		{ByKey("accounts", "accountnumber", "A/1 #2?'").Path(), "accounts(accountnumber='A%2F1%20%232%3F''')"},
		{ByKey("leads", "companyname", "C", "emailaddress1", "e@x").Path(), "leads(companyname='C',emailaddress1='e@x')"},
		{ByContentID("$1").Bind(), "$1"},
		{(&Query{Select: []string{"name", "revenue"}, Filter: "name eq 'a+b & c'", Top: 5}).Encode(), "$select=name,revenue&$filter=name%20eq%20'a%2Bb%20%26%20c'&$top=5"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

package uploader

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/store"
)

func TestSame(t *testing.T) {
	for _, tc := range []struct {
		a, b any
		want bool
	}{
		{json.Number("1"), json.Number("1.0"), true},
		{json.Number("1000"), json.Number("1000.0000"), true},
		{json.Number("1"), json.Number("2"), false},
		{"", nil, true},
		{nil, nil, true},
		{"a", "a", true},
		{"a", "A", false},
		{true, true, true},
		{true, false, false},
		{json.Number("1"), "1", false},
		{nil, false, false},
	} {
		if got := same(tc.a, tc.b); got != tc.want {
			t.Errorf("same(%#v, %#v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestSetConflictsFits: many conflicts with long current values still fit
// the upload's row; the first ones keep their values, and every conflict
// keeps what the app needs to act (its row and clashing fields).
func TestSetConflictsFits(t *testing.T) {
	found := map[int]Conflict{}
	for i := range 50 {
		found[i] = Conflict{Item: fmt.Sprintf("customers[%d]", i), EntitySet: "accounts", ID: "6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f",
			IfMatch: `W/"1"`, ETag: `W/"2"`, Fields: []string{"description"}, Current: map[string]any{"description": strings.Repeat("é", 2000)}}
	}
	var row store.Upload
	setConflicts(&row, found)
	if len(row.Conflicts) > maxConflictsJSON {
		t.Fatalf("conflicts take %d bytes, more than %d", len(row.Conflicts), maxConflictsJSON)
	}
	got := conflicts(row)
	if len(got) != 50 || got[0].Current == nil || got[49].Current != nil || got[49].Fields[0] != "description" {
		t.Errorf("kept %d conflicts, first with current %v, last %v; want all 50, the first with its values, the last without", len(got), got[0].Current != nil, got[49].Current != nil)
	}
	setConflicts(&row, nil)
	if row.Conflicts != "" {
		t.Errorf("no conflicts left %q", row.Conflicts)
	}
}

package apperr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
)

// typed stands for a client's typed error that knows its class.
type typed struct{ c apperr.Class }

func (e typed) Error() string       { return "typed" }
func (e typed) Class() apperr.Class { return e.c }

func TestClassOf(t *testing.T) {
	throttled := typed{apperr.Class{Kind: apperr.Throttled, RetryAfter: 30 * time.Second}}
	tests := []struct {
		name string
		err  error
		want apperr.Class
	}{
		{"nil", nil, apperr.Class{}},
		{"plain error", errors.New("boom"), apperr.Class{Kind: apperr.Internal}},
		{"application error", apperr.E(apperr.NotFound, "no such upload"), apperr.Class{Kind: apperr.NotFound}},
		{"client's typed error, wrapped", fmt.Errorf("page 3: %w", throttled), throttled.c},
		{"the outermost class wins", apperr.Wrap(apperr.Transient, throttled, "the sync failed"), apperr.Class{Kind: apperr.Transient}},
		{"reauth", typed{apperr.Class{Kind: apperr.Reauth}}, apperr.Class{Kind: apperr.Reauth}},
	}
	for _, tc := range tests {
		if got := apperr.ClassOf(tc.err); got != tc.want {
			t.Errorf("%s: ClassOf(%v) = %+v, want %+v", tc.name, tc.err, got, tc.want)
		}
		if got := apperr.KindOf(tc.err); got != tc.want.Kind {
			t.Errorf("%s: KindOf(%v) = %q, want %q", tc.name, tc.err, got, tc.want.Kind)
		}
	}
}

// TestDescribeJSON: every decoding failure is named by field or offset,
// and no value of the input (which may hold a token) is echoed.
func TestDescribeJSON(t *testing.T) {
	const secret = "eyJhbGciOi-secret"
	tests := []struct {
		doc   string
		known string
		want  string
	}{
		{`{"v":"` + secret + `"}`, "", "v is a JSON string, want int"},
		{`["` + secret + `"]`, "", "the top level is a JSON array, want struct"},
		{`{"v":1,"extra":"` + secret + `"}`, "the fields are v", `unknown field "extra"; the fields are v`},
		{`{"v":1 "` + secret + `"}`, "", "malformed JSON at byte 8"},
		{`{"v":1`, "", "malformed JSON: it ends early"},
		{``, "", "empty; send a JSON object"},
	}
	for _, tc := range tests {
		var dst struct {
			V int `json:"v"`
		}
		dec := json.NewDecoder(strings.NewReader(tc.doc))
		dec.DisallowUnknownFields()
		got := apperr.DescribeJSON(dec.Decode(&dst), tc.known)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("DescribeJSON(%.20q) = %q, want %q", tc.doc, got, tc.want)
		}
		if strings.Contains(got, secret) {
			t.Errorf("DescribeJSON(%.20q) = %q echoes the input", tc.doc, got)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type doc struct {
		V int `json:"v"`
	}
	tests := []struct{ in, want string }{
		{`{"v":1}`, ""},
		{`{"v":1} {"v":2}`, "has text after the JSON value"},
		{`{"v":1,"w":2}`, `unknown field "w"; the fields are v`},
		{`{"v":"1"}`, "v is a JSON string, want int"},
	}
	for _, tc := range tests {
		var d doc
		if got := apperr.DecodeStrict([]byte(tc.in), &d, "the fields are v"); got != tc.want {
			t.Errorf("DecodeStrict(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDecodeStrictRefusesDuplicateKeys: a key given twice in one object is
// refused, naming where, instead of the last one silently winning; keys
// match as encoding/json matches them to fields (whatever their case). The
// same key in different objects is no duplicate.
func TestDecodeStrictRefusesDuplicateKeys(t *testing.T) {
	type set struct {
		Name   string            `json:"name"`
		Select []string          `json:"select"`
		Keys   map[string]string `json:"keys"`
	}
	type doc struct {
		TenantID   string `json:"tenantId"`
		EntitySets []set  `json:"entitySets"`
	}
	tests := []struct{ in, want string }{
		{`{"tenantId":"a","entitySets":[{"name":"x"},{"name":"y"}]}`, ""},
		{`{"tenantId":"a","tenantId":"b"}`, "tenantId is given twice; give each field once"},
		{`{"tenantId":"a","TenantID":"b"}`, "TenantID is given twice; give each field once"},
		{`{"entitySets":[{"name":"x"},{"name":"y","select":["a"],"name":"z"}]}`, "entitySets[1].name is given twice; give each field once"},
		{`{"entitySets":[{"keys":{"a":"1","b":"2","a":"3"}}]}`, "entitySets[0].keys.a is given twice; give each field once"},
		{`{"entitySets":[{"keys":{"a":"1","A":"2"}}]}`, "entitySets[0].keys.A is given twice; give each field once"},
		// encoding/json folds case as bytes.EqualFold does: the Kelvin sign is a K.
		{`{"entitySets":[{"keys":{},"\u212aeys":{}}]}`, "entitySets[0].\u212aeys is given twice; give each field once"},
	}
	for _, tc := range tests {
		var d doc
		if got := apperr.DecodeStrict([]byte(tc.in), &d, ""); got != tc.want {
			t.Errorf("DecodeStrict(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var long map[string]int
	key := strings.Repeat("k", 200)
	if got := apperr.DecodeStrict([]byte(`{"`+key+`":1,"`+key+`":2}`), &long, ""); !strings.Contains(got, "is given twice") || strings.Contains(got, key) {
		t.Errorf("DecodeStrict of a long duplicated key = %q, want it refused and the key shortened", got)
	}
}

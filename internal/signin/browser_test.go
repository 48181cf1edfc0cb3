package signin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/tokens"
)

func TestBrowserBinding(t *testing.T) {
	k1 := tokens.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}
	k2 := tokens.Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}
	ring1, _ := tokens.NewKeyRing("k1", []tokens.Key{k1})
	rotated, _ := tokens.NewKeyRing("k2", []tokens.Key{k1, k2})
	other, _ := tokens.NewKeyRing("k1", []tokens.Key{{ID: "k1", Secret: bytes.Repeat([]byte{9}, 32)}})
	s := &Service{Deps: Deps{Keys: ring1}}
	v := s.BindBrowser("state-1")
	if strings.Contains(v, "state-1") {
		t.Errorf("the cookie value %q shows the state", v)
	}
	cases := []struct {
		name  string
		svc   *Service
		state string
		value string
		want  bool
	}{
		{"its own state", s, "state-1", v, true},
		{"after a key rotation", &Service{Deps: Deps{Keys: rotated}}, "state-1", v, true},
		{"another state", s, "state-2", v, false},
		{"no state", s, "", v, false},
		{"tampered", s, "state-1", v[:len(v)-2] + "AA", false},
		{"another deployment's keys", &Service{Deps: Deps{Keys: other}}, "state-1", v, false},
		{"garbage", s, "state-1", "bound:state-1", false},
		{"empty", s, "state-1", "", false},
	}
	for _, tc := range cases {
		if got := tc.svc.BrowserBound(tc.state, tc.value); got != tc.want {
			t.Errorf("%s: BrowserBound = %v, want %v", tc.name, got, tc.want)
		}
	}
}

package tokens

import (
	"bytes"
	"errors"
	"testing"
)

func key(id string, b byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{b}, 32)} }

func TestKeyRingRotation(t *testing.T) {
	old, err := NewKeyRing("2026-01", []Key{key("2026-01", 1)})
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("tenant|user")
	sealed, id := old.Seal([]byte("refresh-token"), aad)
	if id != "2026-01" || bytes.Contains(sealed, []byte("refresh-token")) {
		t.Fatalf("Seal = %q under %s", sealed, id)
	}
	// Rotation: a new active key; records sealed by the old one still open.
	ring, err := NewKeyRing("2026-07", []Key{key("2026-07", 2), key("2026-01", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ring.Open(id, sealed, aad); err != nil || string(got) != "refresh-token" {
		t.Errorf("Open(old record) = %q, %v", got, err)
	}
	if _, id2 := ring.Seal([]byte("x"), aad); id2 != "2026-07" {
		t.Errorf("new records sealed with %q, want the active key 2026-07", id2)
	}
	// Removing the old key too early: the record names its key, clearly.
	newOnly, _ := NewKeyRing("2026-07", []Key{key("2026-07", 2)})
	var uk *UnknownKeyError
	if _, err := newOnly.Open(id, sealed, aad); !errors.As(err, &uk) || uk.KeyID != "2026-01" {
		t.Errorf("Open with the key removed = %v, want UnknownKeyError naming 2026-01", err)
	}
}

func TestKeyRingRefusesTampering(t *testing.T) {
	ring, _ := NewKeyRing("k", []Key{key("k", 7)})
	sealed, id := ring.Seal([]byte("rt"), []byte("t1|u1"))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct {
		sealed []byte
		aad    string
	}{
		"another row": {sealed, "t1|u2"},
		"altered":     {flipped, "t1|u1"},
		"truncated":   {sealed[:5], "t1|u1"},
	} {
		if _, err := ring.Open(id, tc.sealed, []byte(tc.aad)); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: Open = %v, want ErrTampered", name, err)
		}
	}
}

func TestNewKeyRingRefusesBadKeys(t *testing.T) {
	for name, tc := range map[string]struct {
		active string
		keys   []Key
	}{
		"short key":      {"k", []Key{{ID: "k", Secret: []byte("short")}}},
		"duplicate id":   {"k", []Key{key("k", 1), key("k", 2)}},
		"missing active": {"x", []Key{key("k", 1)}},
	} {
		if _, err := NewKeyRing(tc.active, tc.keys); err == nil {
			t.Errorf("%s: NewKeyRing succeeded", name)
		}
	}
}

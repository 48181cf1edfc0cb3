package mirror_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/mirror"
)

// readAll reads the mirror from cursor c to its end, applying every change
// to copy as an app does, and returns the cursor after the last change.
func readAll(t *testing.T, s *mirror.Store, tenant, user string, c mirror.Cursor, limit int, copy map[string]string) mirror.Cursor {
	t.Helper()
	for range 1000 {
		list, next, more, err := s.Read(context.Background(), tenant, user, c, limit)
		if err != nil {
			t.Fatalf("Read after %q: %v", c, err)
		}
		for _, ch := range list {
			key := ch.EntitySet + "/" + ch.ID
			if ch.Op == mirror.OpDelete {
				delete(copy, key)
			} else {
				copy[key] = string(ch.Data)
			}
		}
		c = next
		if !more {
			return c
		}
	}
	t.Fatal("the mirror did not end after 1000 pages")
	return c
}

// mirrored is what the mirror holds of sets, keyed as readAll keys it.
func mirrored(t *testing.T, s *mirror.Store, tenant, user string, sets ...string) map[string]string {
	out := map[string]string{}
	for _, set := range sets {
		for id, data := range records(t, s, tenant, user, set) {
			out[set+"/"+id] = data
		}
	}
	return out
}

// TestTrimmedLog: trimming deletes the entries written before the cutoff,
// oldest first, never the newest; a reader whose cursor is in the trimmed
// part is told so (not silently given a log with a hole), a reader past it
// goes on, and a new reader gets a snapshot and then the log, and ends with
// exactly the mirror.
func TestTrimmedLog(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tenant, user := uuid.NewString(), uuid.NewString()
	var old []mirror.Entry
	for i := range 150 {
		old = append(old, row(fmt.Sprintf("a%03d", i), fmt.Sprintf("Account %d", i)))
	}
	old = append(old, mirror.Entry{ID: "a000", Deleted: true})
	if err := s.Apply(ctx, tenant, user, "accounts", old, 1, 1); err != nil { // seq 1–151
		t.Fatal(err)
	}
	if err := s.Apply(ctx, tenant, user, "new_visits", []mirror.Entry{row("v1", "Visit 1"), row("v2", "Visit 2")}, 1, 160); err != nil { // 160–161
		t.Fatal(err)
	}
	// Entries written from here on are newer than the cutoff (Table
	// Storage stamps them; the wait only puts the clock past the cutoff).
	cutoff := time.Now().Add(time.Millisecond)
	time.Sleep(time.Until(cutoff.Add(time.Millisecond)))
	recent := []mirror.Entry{row("a005", "Renamed"), {ID: "a006", Deleted: true}}
	if err := s.Apply(ctx, tenant, user, "accounts", recent, 1, 170); err != nil { // 170–171
		t.Fatal(err)
	}
	want := mirrored(t, s, tenant, user, "accounts", "new_visits")

	whole := map[string]string{}
	if c := readAll(t, s, tenant, user, mirror.Cursor{}, 64, whole); c.Seq != 171 || !maps.Equal(whole, want) {
		t.Fatalf("before trimming, the log read from the start ends at %q with %d rows; want 171 and the mirror's %d", c, len(whole), len(want))
	}

	n, more, err := s.TrimChanges(ctx, tenant, user, cutoff, 1000)
	if err != nil || n != 153 || more {
		t.Fatalf("TrimChanges = %d, %t, %v; want the 153 entries written before the cutoff, none left", n, more, err)
	}
	for _, after := range []int64{0, 100, 160} {
		if _, _, err := s.Changes(ctx, tenant, user, after, 10); !errors.Is(err, mirror.ErrCursorExpired) {
			t.Errorf("Changes after %d = %v, want ErrCursorExpired", after, err)
		}
		if after == 0 {
			continue // the zero Cursor is a new reader's: a snapshot
		}
		if _, _, _, err := s.Read(ctx, tenant, user, mirror.Cursor{Seq: after}, 10); !errors.Is(err, mirror.ErrCursorExpired) {
			t.Errorf("Read after %d = %v, want ErrCursorExpired", after, err)
		}
	}
	list, _, err := s.Changes(ctx, tenant, user, 161, 10)
	if err != nil || len(list) != 2 || list[0].Seq != 170 || list[1].Seq != 171 {
		t.Errorf("Changes after 161 (where the trim ended) = %+v, %v; want entries 170 and 171", list, err)
	}

	fresh := map[string]string{}
	first, _, _, err := s.Read(ctx, tenant, user, mirror.Cursor{}, 10)
	if err != nil || len(first) != 10 || first[0].Op != mirror.OpUpsert {
		t.Fatalf("the first page of a new reader = %d changes, %v; want 10 upserts of the snapshot", len(first), err)
	}
	if c := readAll(t, s, tenant, user, mirror.Cursor{}, 10, fresh); c.Seq != 171 || c.Snapshot || !maps.Equal(fresh, want) {
		t.Errorf("a new reader ends at %q with %d rows; want the log's end (171) and the mirror's %d rows", c, len(fresh), len(want))
	}
	if _, ok := fresh["new_visits/v1"]; !ok {
		t.Errorf("the snapshot lost the entity set whose name holds '_': %v", fresh["new_visits/v1"])
	}

	// Everything old: the newest entry stays, so a reader after it still
	// reads nothing (no error), and one before it meets the trim.
	if n, more, err := s.TrimChanges(ctx, tenant, user, time.Now().Add(time.Hour), 1000); err != nil || n != 1 || more {
		t.Errorf("trimming everything = %d, %t, %v; want 1 (all but the newest)", n, more, err)
	}
	if list, more, err := s.Changes(ctx, tenant, user, 171, 10); err != nil || len(list) != 0 || more {
		t.Errorf("Changes after the newest = %d, %t, %v; want nothing and no error", len(list), more, err)
	}
	if _, _, err := s.Changes(ctx, tenant, user, 169, 10); !errors.Is(err, mirror.ErrCursorExpired) {
		t.Errorf("Changes after 169 = %v, want ErrCursorExpired", err)
	}
}

// TestTrimLimit: one trim deletes at most its limit, oldest first, and
// says more is left.
func TestTrimLimit(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tenant, user := uuid.NewString(), uuid.NewString()
	var entries []mirror.Entry
	for i := range 250 {
		entries = append(entries, row(fmt.Sprintf("a%03d", i), "A"))
	}
	if err := s.Apply(ctx, tenant, user, "accounts", entries, 1, 1); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if n, more, err := s.TrimChanges(ctx, tenant, user, future, 100); err != nil || n != 100 || !more {
		t.Fatalf("TrimChanges(limit 100) = %d, %t, %v; want 100 and more", n, more, err)
	}
	list, _, err := s.Changes(ctx, tenant, user, 100, 1)
	if err != nil || len(list) != 1 || list[0].Seq != 101 {
		t.Errorf("after trimming 100, the log starts at %+v, %v; want entry 101", list, err)
	}
	if n, more, err := s.TrimChanges(ctx, tenant, user, future, 1000); err != nil || n != 149 || more {
		t.Errorf("the second trim = %d, %t, %v; want the other 149 (the newest stays)", n, more, err)
	}
}

// TestCursorRoundTrip: every cursor Read returns parses back to itself;
// what a client might make up is refused.
func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []mirror.Cursor{{}, {Seq: 42}, {Seq: 7, Snapshot: true}, {Seq: 7, Snapshot: true, After: "new_visits_0f8fad5b-d9cb-469f-a165-70867728950e"}} {
		got, err := mirror.ParseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, err, c)
		}
	}
	for _, bad := range []string{"-1", "abc", "007", "1.x", "s", "s1", "s-1.", "s1.%%", "1e3", " 1"} {
		if c, err := mirror.ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) = %+v, want an error", bad, c)
		}
	}
}

// TestCursorOfAnErasedLog: a user who disconnected and connected again has
// a new change log, numbered beyond the old one. A cursor the app kept
// from the old log names no entry of the new one: the reader is told to
// start again (ErrCursorExpired, 410) instead of silently missing the
// start of the new log. A reader at an entry of the log, or at its start,
// reads on.
func TestCursorOfAnErasedLog(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tenant, user := uuid.NewString(), uuid.NewString()
	if err := s.Apply(ctx, tenant, user, "accounts", []mirror.Entry{row("a1", "A"), row("a2", "B")}, 1, 1_000_000); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Changes(ctx, tenant, user, 64, 10); !errors.Is(err, mirror.ErrCursorExpired) {
		t.Errorf("Changes after an old log's 64 = %v, want ErrCursorExpired", err)
	}
	if list, _, err := s.Changes(ctx, tenant, user, 0, 10); err != nil || len(list) != 2 {
		t.Errorf("Changes from the start = %d, %v; want both entries", len(list), err)
	}
	if err := s.Apply(ctx, tenant, user, "accounts", []mirror.Entry{row("a3", "C")}, 1, 1_005_000); err != nil {
		t.Fatal(err)
	}
	if list, _, err := s.Changes(ctx, tenant, user, 1_000_001, 10); err != nil || len(list) != 1 || list[0].Seq != 1_005_000 {
		t.Errorf("Changes after the last entry read, over a gap = %+v, %v; want the next run's entry", list, err)
	}
}

package chaos

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPlanRepeatsForASeed(t *testing.T) {
	a, b := Plan(42, 5*time.Minute, 3, nil), Plan(42, 5*time.Minute, 3, nil)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two plans of seed 42 differ; a seed must reproduce its campaign")
	}
	if c := Plan(43, 5*time.Minute, 3, nil); reflect.DeepEqual(a, c) {
		t.Error("seeds 42 and 43 gave the same plan")
	}
}

func TestPlanShape(t *testing.T) {
	for _, d := range []time.Duration{time.Minute, 10 * time.Minute} {
		for seed := range uint64(20) {
			checkPlan(t, d, Plan(seed, d, 3, nil))
		}
	}
}

func checkPlan(t *testing.T, d time.Duration, plan []Event) {
	t.Helper()
	seen := map[Kind]int{}
	last := time.Duration(0)
	for _, e := range plan {
		seen[e.Kind]++
		if e.At < last || e.At >= d*9/10 || e.At-last > 4*time.Second {
			t.Errorf("event %+v after %s: events must be in order, at most 4 s apart, none in the last tenth", e, last)
		}
		last = e.At
		if (e.Kind == RevokeGrant || e.Kind == Disconnect) && (e.User < 0 || e.User >= 3) {
			t.Errorf("%s of user %d; there are 3", e.Kind, e.User)
		}
		if e.Rate < 0 || e.Rate > 0.2 {
			t.Errorf("rate %v: windows hit 5-20%% of requests (three at once stay below 1)", e.Rate)
		}
	}
	for _, k := range Kinds {
		if seen[k.Kind] == 0 {
			t.Errorf("a plan of %s holds no %s", d, k.Kind)
		}
	}
	if seen[Disconnect] > 1 {
		t.Errorf("a plan of %s disconnects %d times; one user at most", d, seen[Disconnect])
	}
}

// TestPlanDisconnects: CI's form (60 s, 2 users) disconnects a user in
// almost every seed, every plan at most one, and a plan of one user none
// (it must stay connected for the other invariants).
func TestPlanDisconnects(t *testing.T) {
	with, users := 0, map[int]int{}
	const seeds = 200
	for seed := range uint64(seeds) {
		n := 0
		for _, e := range Plan(seed, time.Minute, 2, nil) {
			if e.Kind == Disconnect {
				n++
				users[e.User]++
				if e.For < time.Second || e.For > 8*time.Second {
					t.Errorf("seed %d: the user waits %s for their sync; want 1-8 s", seed, e.For)
				}
			}
		}
		if n > 1 {
			t.Errorf("seed %d: %d disconnects in CI's minute; one at most", seed, n)
		}
		with += n
		for _, e := range Plan(seed, 10*time.Minute, 1, nil) {
			if e.Kind == Disconnect {
				t.Fatalf("seed %d: a plan of one user disconnects it", seed)
			}
		}
		if n := count(Plan(seed, 10*time.Minute, 3, nil), Disconnect); n != 1 {
			t.Errorf("seed %d: %d disconnects in 10 minutes of 3 users; want one", seed, n)
		}
	}
	if with < seeds*95/100 {
		t.Errorf("only %d of %d seeds disconnect a user in CI's minute; want 95%%", with, seeds)
	}
	if users[0] == 0 || users[1] == 0 {
		t.Errorf("disconnected users over %d seeds: %v; want both", seeds, users)
	}
	// Excluding it leaves none; a plan of nothing but it has the one.
	if n := count(Plan(3, time.Minute, 2, map[Kind]bool{Disconnect: true}), Disconnect); n != 0 {
		t.Errorf("CHAOS_EXCLUDE=disconnect planned %d", n)
	}
	only := map[Kind]bool{}
	for _, k := range Kinds {
		only[k.Kind] = k.Kind != Disconnect
	}
	if p := Plan(3, time.Minute, 2, only); len(p) != 1 || p[0].Kind != Disconnect {
		t.Errorf("a plan of only disconnect: %+v; want one event", p)
	}
}

func count(plan []Event, k Kind) int {
	n := 0
	for _, e := range plan {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func TestPlanExcludes(t *testing.T) {
	if ex, err := ParseKinds("disconnect,offboard"); err != nil || !ex[Disconnect] || !ex[Offboard] {
		t.Errorf("ParseKinds(disconnect,offboard) = %v, %v", ex, err)
	}
	ex, err := ParseKinds("kill-handler, restart-servicebus")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Plan(7, 10*time.Minute, 2, ex) {
		if e.Kind == KillHandler || e.Kind == RestartBus {
			t.Fatalf("excluded kind %s planned", e.Kind)
		}
	}
	if _, err := ParseKinds("kill-handler,meteor"); err == nil || !strings.Contains(err.Error(), `"meteor"`) || !strings.Contains(err.Error(), "429-storm") {
		t.Errorf("ParseKinds(meteor) = %v; want an error naming it and the kinds", err)
	}
}

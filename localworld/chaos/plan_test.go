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
		if e.Kind == RevokeGrant && (e.User < 0 || e.User >= 3) {
			t.Errorf("revoke of user %d; there are 3", e.User)
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
}

func TestPlanExcludes(t *testing.T) {
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

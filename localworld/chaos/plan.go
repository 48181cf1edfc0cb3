// Package chaos is the fault campaign of `make chaos`: a seeded schedule of
// faults (plan.go), the services it owns and restarts (services.go, with
// proxy.go in front of Azurite), and the invariants checked once the
// system has quiesced (invariants.go). The campaign itself is TestChaos, a
// test because it drives a testworld.World, run only when CHAOS_SEED is
// set (scripts/chaos.sh): its settings (campaign_test.go), the world
// (world_test.go), the faults (faults_test.go), the simulated people
// (actors_test.go, client_test.go), two devices of one user and a
// colleague editing the same few rows, judged against the simulator's
// write journal by CheckNoLostUpdates (devices_test.go), the disconnects
// and offboardings and the scan of Storage after them (erasure_test.go),
// healing (heal_test.go) and the report (report_test.go). See
// docs/decisions.md, "Chaos campaign".
package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Kind is a kind of fault (or of event the campaign injects), by its short
// name (CHAOS_EXCLUDE names kinds this way).
type Kind string

// The kinds of fault a plan holds.
const (
	ThrottleStorm Kind = "429-storm"
	Burst429      Kind = "429-burst"
	ServerErrors  Kind = "5xx"
	Resets        Kind = "resets"
	LostAnswers   Kind = "lost-answers"
	Latency       Kind = "latency"
	TokenExpiry   Kind = "token-expiry"
	KeyRotation   Kind = "key-rotation"
	DeltaExpiry   Kind = "delta-expiry"
	RevokeGrant   Kind = "revoke"
	KillHandler   Kind = "kill-handler"
	RestartStore  Kind = "restart-azurite"
	RestartBus    Kind = "restart-servicebus"
	TimerFired    Kind = "timer"
	Disconnect    Kind = "disconnect"
	Offboard      Kind = "offboard"
)

// Kinds lists every kind with what it does and its weight in a plan (how
// often it is drawn relative to the others).
var Kinds = []struct {
	Kind   Kind
	Title  string
	Weight int
}{
	{ThrottleStorm, "Dataverse's limit cut to a few requests per 5 s (429 + Retry-After)", 3},
	{Burst429, "the next requests answered 429 (scripted)", 4},
	{ServerErrors, "a share of requests answered 502/503/504 before they ran", 4},
	{Resets, "a share of connections reset before the request ran", 3},
	{LostAnswers, "a share of requests run, then their answer lost (504 or reset)", 4},
	{Latency, "every Dataverse request delayed", 2},
	{TokenExpiry, "the next requests answered 401 (access token expired)", 3},
	{KeyRotation, "Entra signs with a new key from now on", 1},
	{DeltaExpiry, "every delta token expires (full read follows)", 2},
	{RevokeGrant, "a user's grants revoked; the user signs in again later", 2},
	{KillHandler, "kill -9 of the handler; funchost restarts it", 4},
	{RestartStore, "Azurite stopped and started again (on-disk data)", 1},
	{RestartBus, "the Service Bus fake stopped and started again", 1},
	{TimerFired, "SyncScheduler run out of schedule", 2},
	{Disconnect, "a user presses Disconnect Dynamics while their reports and a sync run; they must be erased", 1},
	{Offboard, "an operator offboards an extra tenant (lifecycle offboard-tenant message)", 1},
}

// ParseKinds reads a comma-separated list of kind names.
func ParseKinds(s string) (map[Kind]bool, error) {
	out := map[Kind]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		known := false
		for _, k := range Kinds {
			known = known || string(k.Kind) == name
		}
		if !known {
			var all []string
			for _, k := range Kinds {
				all = append(all, string(k.Kind))
			}
			return nil, fmt.Errorf("%q is not a kind of fault; the kinds are %s", name, strings.Join(all, ", "))
		}
		out[Kind(name)] = true
	}
	return out, nil
}

// Event is one fault of a plan. Which fields matter depends on Kind.
type Event struct {
	At    time.Duration // since the campaign started
	Kind  Kind
	For   time.Duration // windows, storms, and the pause before signing in again
	Rate  float64       // windows of random faults: the fraction of requests hit
	Count int           // scripted faults: how many requests
	Delay time.Duration // latency
	User  int           // RevokeGrant, Disconnect: the index of the user
}

// Plan returns the faults of a campaign of length d with users users,
// drawn from seed: the same arguments give the same plan. Events are one
// to four seconds apart; none starts in the last tenth of d, so the last
// windows end near d. Every kind not excluded comes once before any comes
// twice. A plan disconnects one user at most, and none when there is only
// one: the others stay connected for the invariants about uploads and
// mirrors.
func Plan(seed uint64, d time.Duration, users int, exclude map[Kind]bool) []Event {
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	disconnects := 0
	// weight is k's weight in the draws that follow now: 0 when excluded,
	// or a disconnect that may not come (again).
	weight := func(k Kind, w int) int {
		if exclude[k] || k == Disconnect && (users < 2 || disconnects > 0) {
			return 0
		}
		return w
	}
	var out []Event
	// Every kind once first, in a random order, so that a short campaign
	// (CI's minute) still meets each; then drawn by weight.
	var first []Kind
	for _, i := range rng.Perm(len(Kinds)) {
		if weight(Kinds[i].Kind, 1) > 0 {
			first = append(first, Kinds[i].Kind)
		}
	}
	if len(first) == 0 {
		return out
	}
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	for at := between(time.Second, 3*time.Second); at < d*9/10; at += between(time.Second, 4*time.Second) {
		var k Kind
		if len(out) < len(first) {
			k = first[len(out)]
		} else {
			total := 0
			for _, c := range Kinds {
				total += weight(c.Kind, c.Weight)
			}
			if total == 0 {
				break // only the one disconnect was left to plan
			}
			n := rng.IntN(total)
			for _, c := range Kinds {
				w := weight(c.Kind, c.Weight)
				if n < w {
					k = c.Kind
					break
				}
				n -= w
			}
		}
		e := Event{At: at, Kind: k}
		switch k {
		case ThrottleStorm:
			e.For, e.Count = between(4*time.Second, 12*time.Second), 5+rng.IntN(10)
		case Burst429:
			e.Count = 2 + rng.IntN(8)
		case ServerErrors, Resets, LostAnswers:
			e.For, e.Rate = between(3*time.Second, 10*time.Second), 0.05+0.15*rng.Float64()
		case Latency:
			e.For, e.Delay = between(3*time.Second, 10*time.Second), between(50*time.Millisecond, 800*time.Millisecond)
		case TokenExpiry:
			e.Count = 1 + rng.IntN(3)
		case RevokeGrant:
			e.For, e.User = between(2*time.Second, 15*time.Second), rng.IntN(max(users, 1))
		case Disconnect:
			// For: how long the user waits for their sync to be running
			// before they press the button (at most).
			e.For, e.User = between(time.Second, 8*time.Second), rng.IntN(users)
			disconnects++
		}
		out = append(out, e)
	}
	return out
}

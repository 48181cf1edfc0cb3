package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/uploadconfig"
	"github.com/pitcher/connector/localworld/testworld"
)

// The seeded users, in the order CHAOS_USERS takes them.
var seedUsers = []string{"alice@contoso.example", "dave@fabrikam.example", "bob@contoso.example", "admin@contoso.example", "admin@fabrikam.example"}

// syncedSets are what the campaign's SYNC_CONFIG syncs (small pages, so a
// fault lands between pages often), syncSelect their columns (of
// syncconfig.Default's): among them columns reports may write
// (uploadconfig.Default), which the devices edit (devices_test.go).
var syncedSets = []string{"accounts", "contacts", "appointments"}

var syncSelect = map[string][]string{
	"accounts":     {"name", "accountnumber", "telephone1", "websiteurl", "address1_city", "modifiedon"},
	"contacts":     {"fullname", "lastname", "jobtitle", "telephone1", "emailaddress1"},
	"appointments": {"subject", "scheduledstart"},
}

// syncConfig is the campaign's SYNC_CONFIG setting.
func syncConfig() string {
	var sets []any
	for _, s := range syncedSets {
		sets = append(sets, map[string]any{"name": s, "select": syncSelect[s], "pageSize": 100})
	}
	b, _ := json.Marshal(map[string]any{"entitySets": sets})
	return "SYNC_CONFIG=" + string(b)
}

// conflictPolicies are the campaign's UPLOAD_CONFIG conflict policies:
// the devices' edits meet both.
var conflictPolicies = map[string]string{"accounts": uploadconfig.ConflictsMerge, "contacts": uploadconfig.ConflictsClientWins}

// uploadConfig is the default UPLOAD_CONFIG with conflictPolicies.
func uploadConfig() uploadconfig.Config {
	cfg := uploadconfig.Default()
	for i, es := range cfg.EntitySets {
		cfg.EntitySets[i].Conflicts = conflictPolicies[es.Name]
	}
	return cfg
}

// settings of a campaign, from the environment (scripts/chaos.sh).
type settings struct {
	seed     uint64
	duration time.Duration
	users    int
	rows     int
	exclude  map[Kind]bool
	quiesce  time.Duration
}

func loadSettings(t *testing.T) settings {
	seedText := os.Getenv("CHAOS_SEED")
	if seedText == "" {
		t.Skip("CHAOS_SEED is not set; run `make chaos` (or `make chaos-ci`)")
	}
	s := settings{duration: 5 * time.Minute, users: 3, rows: 300, quiesce: 7 * time.Minute}
	var problems []string
	var err error
	if s.seed, err = strconv.ParseUint(seedText, 10, 64); err != nil {
		problems = append(problems, fmt.Sprintf("CHAOS_SEED=%q: must be a whole number (e.g. 42)", seedText))
	}
	if v := os.Getenv("CHAOS_DURATION"); v != "" {
		if s.duration, err = time.ParseDuration(v); err != nil || s.duration < 10*time.Second {
			problems = append(problems, fmt.Sprintf("CHAOS_DURATION=%q: must be a duration of 10s or more (e.g. 60s, 5m)", v))
		}
	}
	if v := os.Getenv("CHAOS_USERS"); v != "" {
		if s.users, err = strconv.Atoi(v); err != nil || s.users < 1 || s.users > len(seedUsers) {
			problems = append(problems, fmt.Sprintf("CHAOS_USERS=%q: must be 1 to %d (the simulator's seeded users)", v, len(seedUsers)))
		}
	}
	if v := os.Getenv("CHAOS_ROWS"); v != "" {
		if s.rows, err = strconv.Atoi(v); err != nil || s.rows < 10 || s.rows > 100000 {
			problems = append(problems, fmt.Sprintf("CHAOS_ROWS=%q: must be 10 to 100000 (rows per seeded set)", v))
		}
	}
	if v := os.Getenv("CHAOS_QUIESCE"); v != "" {
		if s.quiesce, err = time.ParseDuration(v); err != nil || s.quiesce < 30*time.Second {
			problems = append(problems, fmt.Sprintf("CHAOS_QUIESCE=%q: must be a duration of 30s or more", v))
		}
	}
	if s.exclude, err = ParseKinds(os.Getenv("CHAOS_EXCLUDE")); err != nil {
		problems = append(problems, "CHAOS_EXCLUDE: "+err.Error())
	}
	if len(problems) > 0 {
		t.Fatalf("bad campaign settings:\n  %s", strings.Join(problems, "\n  "))
	}
	return s
}

// campaign is one run: the world, the services it restarts, the people
// in it, and what happened.
type campaign struct {
	t       *testing.T
	s       settings
	w       *testworld.World
	c       *client
	azurite *Service
	proxies []*Proxy // in front of Azurite
	bus     *Service
	users   []testworld.User
	ledger  *ledger

	began       time.Time // when the faults began
	injected    map[Kind]int
	failed      map[Kind][]string
	busRestarts []time.Time
	storeLost   []string // connection rows missing after an Azurite restart
	notes       []string // what restarts took
	editsMu     sync.Mutex
	edits       map[string]int
	// devices: two devices of one user editing shared rows (devices_test.go).
	devices *devices

	// Erasures (erasure_test.go): the users who disconnected, by UPN, with
	// their DELETEs still running in erasing; the tenants offboarded.
	disconnects map[string]*disconnectRun
	erasing     sync.WaitGroup
	offboards   []*offboardRun
	settleNotes []string
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// TestChaos is `make chaos`: see the package documentation and
// docs/decisions.md ("Chaos campaign").
func TestChaos(t *testing.T) {
	s := loadSettings(t)
	c := &campaign{t: t, s: s, ledger: newLedger(), injected: map[Kind]int{}, failed: map[Kind][]string{}, edits: map[string]int{},
		disconnects: map[string]*disconnectRun{}}
	say("== chaos: seed %d, %s of faults, %d users, %d rows per set (reproduce: CHAOS_SEED=%d CHAOS_DURATION=%s CHAOS_USERS=%d make chaos)",
		s.seed, s.duration, s.users, s.rows, s.seed, s.duration, s.users)
	c.startWorld()
	c.run()
	c.heal()
	c.check()
}

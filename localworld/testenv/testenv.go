// Package testenv gives tests the local services that `make test` starts.
//
// A test that needs a service asks for it here. When the service is absent
// the test is skipped on a developer's `go test`, but fails when
// CONNECTOR_TEST_REQUIRE_SERVICES or CI is set, so CI never passes by
// silently skipping.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"testing"
)

// Storage returns the connection string of the Azurite instance for tests
// (CONNECTOR_TEST_STORAGE).
func Storage(tb testing.TB) string {
	tb.Helper()
	return need(tb, "CONNECTOR_TEST_STORAGE", "Azurite")
}

// OIDCProvider returns the base URL of the oidc-provider instance (npm,
// localworld/oidc-provider) that `make test` starts for the second-opinion
// tests of the generic OAuth code (CONNECTOR_TEST_OIDC_PROVIDER).
func OIDCProvider(tb testing.TB) string {
	tb.Helper()
	return need(tb, "CONNECTOR_TEST_OIDC_PROVIDER", "oidc-provider")
}

func need(tb testing.TB, name, service string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CONNECTOR_TEST_REQUIRE_SERVICES") != "" || os.Getenv("CI") != "" {
		tb.Fatalf("%s is not set: this test needs %s, which `make test` starts", name, service)
	}
	tb.Skipf("%s is not set; run `make test` to start %s", name, service)
	return ""
}

// TablePrefix returns a table name prefix unique to this test, so that
// tests sharing one Azurite (those of every package run at once) never read
// each other's rows. Azurite runs in memory, so the tables need no clean-up.
func TablePrefix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "t" + hex.EncodeToString(b)
}

// IntEnv is the whole number in the environment variable name (a
// benchmark's size), def when it is unset; it fails tb when the value is
// not from lo to hi, naming the variable and the range.
func IntEnv(tb testing.TB, name string, def, lo, hi int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		tb.Fatalf("%s=%q is not a whole number from %d to %d", name, v, lo, hi)
	}
	return n
}

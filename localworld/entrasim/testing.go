package entrasim

import (
	"net/http/httptest"
	"testing"
)

// Start serves a simulator holding seed on a loopback port until the test
// ends.
func Start(tb testing.TB, seed Seed) (*Sim, *httptest.Server) {
	tb.Helper()
	s, err := New(seed)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	tb.Cleanup(srv.Close)
	s.SetBaseURL(srv.URL)
	return s, srv
}

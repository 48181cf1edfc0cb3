package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/testenv"
)

func freeAddr(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) }

func TestRunServesSeededRowsAndStops(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", addr, "--seed", "7", "--insecure-any-token"}, &out, &errOut)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	var resp *http.Response
	var err error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/data/v9.2/accounts/$count", nil)
		req.Header.Set("Authorization", "Bearer anything")
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run stopped: %v (%s)", err, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if body.String() != "7" {
		t.Errorf("accounts/$count = %q, want 7", body.String())
	}
	st, err := http.Get(base + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	var state struct{ Counts map[string]int }
	_ = json.NewDecoder(st.Body).Decode(&state)
	st.Body.Close()
	for _, set := range []string{"accounts", "contacts", "appointments", "leads"} {
		if state.Counts[set] != 7 {
			t.Errorf("%s: %d rows, want 7", set, state.Counts[set])
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
	if !strings.Contains(out.String(), "serving http://"+addr) {
		t.Errorf("stdout %q does not say where it serves", out.String())
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := [][]string{
		{"--seed", "1"},
		{"--insecure-any-token", "--jwks-url", "http://127.0.0.1:1/keys"},
		{"--insecure-any-token", "--seed", "-1"},
		{"--insecure-any-token", "--error-rate", "0.8", "--reset-rate", "0.5"},
		{"--insecure-any-token", "--error-rate", "0.5", "--after-rate", "0.6"},
		{"--insecure-any-token", "--after-rate", "-0.1"},
		{"--insecure-any-token", "extra"},
	}
	for _, args := range tests {
		var out, errOut testenv.Buffer
		if err := run(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, args...), &out, &errOut); err == nil {
			t.Errorf("run(%v) accepted the flags", args)
		} else if fmt.Sprint(err) == "" {
			t.Errorf("run(%v) gave an empty error", args)
		}
	}
}

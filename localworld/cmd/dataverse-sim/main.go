// Command dataverse-sim serves a simulated Dataverse environment: the Web
// API under /api/data/v9.2/, Global Discovery under
// /api/discovery/v2.0/Instances, and the /_sim/ admin API for tests.
//
//	dataverse-sim --addr 127.0.0.1:7073 --seed 100 --insecure-any-token
//	dataverse-sim --addr 127.0.0.1:7073 --seed 100 --jwks-url http://127.0.0.1:7072/common/discovery/v2.0/keys
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/loopback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dataverse-sim:", err)
		os.Exit(1)
	}
}

// run parses the flags, serves until ctx is done, then stops.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dataverse-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7073", "address to listen on")
	seed := fs.Int("seed", 0, "deterministic rows to create in each of accounts, contacts, appointments and leads")
	var o dataversesim.Options
	fs.BoolVar(&o.Auth.InsecureAnyToken, "insecure-any-token", false, "accept any bearer token (for trying things by hand)")
	fs.StringVar(&o.Auth.JWKSURL, "jwks-url", "", "verify RS256 tokens with the keys at this URL (Entra or the Entra simulator)")
	fs.StringVar(&o.Auth.Audience, "audience", "", "required token audience (default: the URL the client used, e.g. http://127.0.0.1:7073)")
	fs.StringVar(&o.Auth.Authority, "authority", "", "authority named in 401 challenges (default https://login.microsoftonline.com)")
	fs.IntVar(&o.Throttle.Requests, "throttle-requests", 6000, "requests per user per window")
	fs.DurationVar(&o.Throttle.Window, "throttle-window", 300*time.Second, "service protection window")
	fs.IntVar(&o.Throttle.Concurrency, "throttle-concurrency", 52, "concurrent requests per user")
	fs.DurationVar(&o.Throttle.ExecutionTime, "throttle-execution-time", 1200*time.Second, "combined execution time per user per window")
	fs.Float64Var(&o.Faults.ErrorRate, "error-rate", 0, "fraction of requests answered 502, 503 or 504")
	fs.Float64Var(&o.Faults.ResetRate, "reset-rate", 0, "fraction of connections reset without an answer")
	fs.Float64Var(&o.Faults.AfterRate, "after-rate", 0, "fraction of requests that run (writes commit) and then lose their answer to a 504 or a reset")
	fs.DurationVar(&o.Faults.Latency, "latency", 0, "delay added to every API request")
	fs.Uint64Var(&o.Faults.RandomSeed, "fault-seed", 1, "seed of the fault injection's random choices")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := validate(o, *seed); err != nil {
		return err
	}
	o.Seed = *seed
	sim := dataversesim.New(o)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on --addr %s: %w", *addr, err)
	}
	tokens := "verified with " + o.Auth.JWKSURL
	if o.Auth.InsecureAnyToken {
		tokens = "any token accepted (--insecure-any-token)"
	}
	fmt.Fprintf(stdout, "dataverse-sim: serving http://%s/api/data/v9.2/ with %d rows per seeded table; %s; admin API at /_sim/\n", ln.Addr(), *seed, tokens)
	return loopback.Serve(ctx, ln, sim)
}

// validate reports every bad flag at once, naming the fix.
func validate(o dataversesim.Options, seed int) error {
	var errs []error
	switch {
	case o.Auth.InsecureAnyToken && o.Auth.JWKSURL != "":
		errs = append(errs, errors.New("--insecure-any-token and --jwks-url exclude each other: choose one"))
	case !o.Auth.InsecureAnyToken && o.Auth.JWKSURL == "":
		errs = append(errs, errors.New("tokens cannot be checked: pass --jwks-url URL, or --insecure-any-token to accept any"))
	}
	if seed < 0 {
		errs = append(errs, errors.New("--seed must be zero or more"))
	}
	if o.Throttle.Requests <= 0 || o.Throttle.Window <= 0 || o.Throttle.Concurrency <= 0 || o.Throttle.ExecutionTime <= 0 {
		errs = append(errs, errors.New("--throttle-requests, --throttle-window, --throttle-concurrency and --throttle-execution-time must be positive"))
	}
	f := o.Faults
	if f.ErrorRate < 0 || f.ResetRate < 0 || f.AfterRate < 0 || f.ErrorRate+f.ResetRate+f.AfterRate > 1 || f.Latency < 0 {
		errs = append(errs, errors.New("--error-rate, --reset-rate and --after-rate must be between 0 and 1 together, --latency zero or more"))
	}
	return errors.Join(errs...)
}

// Command entra-sim serves the Entra ID simulator of the local world
// (localworld/entrasim) on a loopback address.
//
//	entra-sim [--addr 127.0.0.1:7072] [--seed seed.json]
//
// Without --seed it serves the seed built into the binary
// (localworld/entrasim/seed.json, described in the README).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/localworld/entrasim"
	"github.com/pitcher/connector/localworld/loopback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "entra-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("entra-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7072", "loopback address to listen on")
	seedPath := fs.String("seed", "", "seed file (JSON); default: the built-in seed of the local world")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !entra.IsLoopback(host) {
		return fmt.Errorf("--addr %q must be a loopback host:port such as 127.0.0.1:7072; the simulator has no passwords", *addr)
	}
	seed := entrasim.DefaultSeed()
	if *seedPath != "" {
		if seed, err = entrasim.ReadSeed(*seedPath); err != nil {
			return err
		}
	}
	sim, err := entrasim.New(seed)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	sim.SetBaseURL(base)
	logger := slog.New(slog.NewTextHandler(stdout, nil))
	logger.Info("entra-sim listening", "url", base, "metadata", base+"/organizations/v2.0/.well-known/openid-configuration")
	return loopback.Serve(ctx, ln, sim.Handler())
}

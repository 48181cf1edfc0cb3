// Command funchost runs the app the way the Azure Functions host does, for
// machines without Functions Core Tools.
//
//	funchost [-root DIR] [-settings FILE] [-addr HOST:PORT]   serve until Ctrl-C
//	funchost -run NAME [-input TEXT]                         invoke one function once and exit
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/pitcher/connector/localworld/funchost"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "funchost:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("funchost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "the app folder: host.json and the function folders (at its root or under functions/)")
	settings := fs.String("settings", "", "local.settings.json to read (default: ROOT/local.settings.json, else ROOT/local.settings.json.example)")
	addr := fs.String("addr", "", "where to serve HTTP functions (default 127.0.0.1:<Host.LocalHttpPort or 7071>)")
	stateDir := fs.String("state", "", "folder for timer schedule status (default ROOT/.funchost)")
	runName := fs.String("run", "", "invoke this timer or Service Bus function once, print the outcome and exit")
	input := fs.String("input", "", "with -run: the trigger's value (a Service Bus message body)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *runName != "" && *addr == "" {
		*addr = "127.0.0.1:0" // a one-shot run does not need the usual port
	}
	h, err := funchost.New(funchost.Options{Root: *root, SettingsFile: *settings, Addr: *addr, StateDir: *stateDir, Environ: environ, Out: stdout})
	if err != nil {
		return err
	}
	if *runName != "" {
		_, err := h.Invoke(ctx, *runName, *input)
		return err
	}
	fmt.Fprintf(stdout, "funchost: serving HTTP functions on http://%s (Ctrl-C stops)\n", h.Addr())
	return h.Run(ctx)
}

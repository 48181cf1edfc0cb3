package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
)

// loadConfig reads the handler's settings as the handler does (every
// setting but the port the Functions host assigns).
func (e *environment) loadConfig() (app.Settings, error) {
	return app.LoadTool(e.get)
}

// openApp builds the app's object graph from the settings, as the handler
// does; it contacts nothing until a command uses it. The app's log lines
// (warnings and worse) go to stderr.
func (e *environment) openApp(ctx context.Context, cfg app.Settings) (*app.App, func(), error) {
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(cfg, logger, app.Options{})
	if err != nil {
		return nil, nil, err
	}
	return a, func() { _ = a.Close(context.WithoutCancel(ctx)) }, nil
}

// withApp loads the settings, builds the app and runs fn with both,
// closing the app's connections afterwards.
func (e *environment) withApp(ctx context.Context, fn func(app.Settings, *app.App) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	a, closeApp, err := e.openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeApp()
	return fn(cfg, a)
}

// tenantOfUser is the tenant of user's only connection, for commands
// given --user without --tenant.
func tenantOfUser(ctx context.Context, a *app.App, cmd, user string) (string, error) {
	cs, err := store.NewConnections(a.DB).OfUser(ctx, user)
	if err != nil {
		return "", err
	}
	switch len(cs) {
	case 0:
		return "", failedf("%s: user %s has no connection in any tenant (connectorctl connections list)", cmd, user)
	case 1:
		return cs[0].TenantID, nil
	}
	tenants := make([]string, len(cs))
	for i, c := range cs {
		tenants[i] = c.TenantID
	}
	return "", usagef("%s: user %s is connected in %d tenants (%s); choose one with --tenant", cmd, user, len(cs), strings.Join(tenants, ", "))
}

// flags is a command's flag set: errors are usage errors, output is
// discarded (the command prints its own usage).
type flags struct {
	*flag.FlagSet
	usage string
	json  bool
}

func newFlags(name, usage string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), usage: usage}
	f.SetOutput(io.Discard)
	f.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	return f
}

// parse parses args; no positional arguments are accepted.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usagef("%s", f.usage)
		}
		return usagef("%s: %v\n%s", f.Name(), err, f.usage)
	}
	if f.NArg() > 0 {
		return usagef("%s: unexpected arguments %q\n%s", f.Name(), f.Args(), f.usage)
	}
	return nil
}

// guid checks an id flag: empty is allowed unless required.
func guid(cmd, name, v string, required bool) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	switch {
	case v == "" && required:
		return "", usagef("%s: --%s is required (%s)", cmd, name, idHelp[name])
	case v != "" && !entra.IsGUID(v):
		return "", usagef("%s: --%s %q is not a GUID (%s)", cmd, name, v, idHelp[name])
	}
	return v, nil
}

var idHelp = map[string]string{
	"tenant": "the organisation's Entra tenant id; connectorctl tenants list shows them",
	"user":   "the user's Entra object id; connectorctl connections list --tenant T shows them",
}

// failedError is an operation that ran and found problems: exit status 1,
// with the output already printed.
type failedError struct{ msg string }

func (e *failedError) Error() string { return e.msg }

func failedf(format string, args ...any) error { return &failedError{fmt.Sprintf(format, args...)} }

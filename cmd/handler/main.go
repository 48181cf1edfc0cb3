// Command handler is the Function App's custom handler: the web server the
// Azure Functions host starts and forwards every invocation to.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/pitcher/connector/handlers"
	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run starts the handler and serves until ctx is cancelled, then drains
// in-flight invocations for at most the configured shutdown timeout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("handler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("handler takes no arguments, got %q; configure it with app settings", fs.Args())
	}
	cfg, err := app.Load(getenv)
	if err != nil {
		return err
	}
	// Listen before anything else: the host polls GET / from the moment the
	// process starts, and slow set-up belongs behind the first request.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on %s=%d: %w", config.SettingPort, cfg.Port, err)
	}
	// Every line goes through obs: users appear only as pseudonyms, and an
	// invocation's lines carry its id, function, tenant and user.
	logger := slog.New(obs.NewHandler(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}), obs.NewPseudonyms(cfg.Ops.PseudonymKey)))
	logger.Info("handler listening", "addr", ln.Addr().String(), "storage", cfg.Storage.String(), "serviceBus", cfg.ServiceBus.String(), "entra", cfg.Entra.String())
	a, err := app.New(cfg, logger, app.Options{})
	if err != nil {
		_ = ln.Close()
		return err
	}
	go func() { _ = a.EnsureTables(ctx, logger) }()
	err = serve(ctx, ln, handlers.NewServer(logger, deps(a)), cfg.ShutdownTimeout, logger)
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cerr := a.Close(closeCtx); cerr != nil {
		logger.Warn("closing connections", "error", cerr.Error())
	}
	if err != nil {
		return err
	}
	logger.Info("handler stopped")
	return nil
}

// deps are the app's parts the functions use.
func deps(a *app.App) handlers.Deps {
	lc := a.Settings.Lifecycle
	return handlers.Deps{SignIn: a.SignIn, Auth: a.Auth, Uploads: a.Uploads, PublicBaseURL: a.Settings.Entra.PublicBaseURL,
		Scheduler: a.Scheduler, SyncWorker: a.SyncWorker, Changes: a.Mirror, Documents: a.NoteFiles,
		Diagnostics: a.Diagnostics, DiagnosticsKey: a.Settings.Ops.DiagnosticsKey,
		Lifecycle: &handlers.LifecycleDeps{Eraser: a.Eraser, Queue: a.Queues.Lifecycle, Identify: a.Auth,
			Connections: store.NewConnections(a.DB), Pseudonyms: obs.NewPseudonyms(a.Settings.Ops.PseudonymKey),
			Retention: lifecycle.Retention{Inactive: lc.Inactive, Uploads: lc.Uploads, MaxPerRun: lc.MaxPerRun}}}
}

// serve serves h on ln until ctx is done, then stops accepting requests and
// waits up to drain for in-flight ones to finish.
func serve(ctx context.Context, ln net.Listener, h http.Handler, drain time.Duration, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("draining in-flight invocations", "timeout", drain.String())
	drainCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("drain did not finish within %s: %w", drain, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Command e2ehandler is the handler of the sign-in end-to-end test: the
// real app (internal/app) with a first-sync queue that reports each
// enqueue to E2E_FIRST_SYNC_RECORDER over HTTP, so the test can see it.
// It stands in until the Service Bus sender (issue 5) is wired in.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/pitcher/connector/handlers"
	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/config"
)

type recorder struct{ url string }

func (r recorder) EnqueueFirstSync(ctx context.Context, tenantID, userID string) error {
	b, _ := json.Marshal(map[string]string{"tenant": tenantID, "user": userID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("recorder answered %d", resp.StatusCode)
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.Port))
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(cfg, logger, app.Options{Queue: recorder{url: os.Getenv("E2E_FIRST_SYNC_RECORDER")}})
	if err != nil {
		return err
	}
	return http.Serve(ln, handlers.NewServer(logger, a.Deps))
}

package dataverse_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// env is a client talking to an in-process simulator. The client's waits
// move the simulator's clock instead of sleeping, and are recorded.
type env struct {
	sim *dataversesim.Sim
	srv *httptest.Server
	c   *dataverse.Client

	mu     sync.Mutex
	sleeps []time.Duration
}

func newEnv(t *testing.T, opts dataversesim.Options) *env {
	t.Helper()
	if opts.Auth == (dataversesim.AuthOptions{}) {
		opts.Auth.InsecureAnyToken = true
	}
	e := &env{sim: dataversesim.New(opts)}
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(e.srv.Close)
	e.c = e.client(t, dataverse.StaticToken("test-token"))
	return e
}

func (e *env) client(t *testing.T, ts dataverse.TokenSource) *dataverse.Client {
	t.Helper()
	c, err := dataverse.New(e.srv.URL, ts, &dataverse.Options{HTTPClient: e.srv.Client(), Sleep: e.sleep})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) sleep(ctx context.Context, d time.Duration) error {
	e.mu.Lock()
	e.sleeps = append(e.sleeps, d)
	e.mu.Unlock()
	e.sim.Advance(d)
	return ctx.Err()
}

func (e *env) waits() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.sleeps...)
}

// readAll reads every page of p, returning the rows and the page count.
func readAll(t *testing.T, p *dataverse.Pager) ([]dataverse.Row, int) {
	t.Helper()
	var rows []dataverse.Row
	pages := 0
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		rows = append(rows, page.Rows...)
	}
	return rows, pages
}

func ids(rows []dataverse.Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

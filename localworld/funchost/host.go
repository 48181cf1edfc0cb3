// Package funchost is a local stand-in for the Azure Functions host, for
// machines without Functions Core Tools: it reads host.json and the
// function.json files, runs the custom handler the way the host does, serves
// HTTP functions, fires timers and invokes functions on demand, speaking the
// host's wire protocol to the handler
// (docs/reference/functions-custom-handlers.md;
// https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers).
package funchost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitcher/connector/internal/funcwire"
)

// Options configure a Host.
type Options struct {
	// Root is the app folder: host.json, and the function folders at its
	// root or under functions/.
	Root string
	// SettingsFile is local.settings.json; "" looks for it, then for the
	// example, in Root.
	SettingsFile string
	// Addr is where HTTP functions are served; "" means 127.0.0.1 and the
	// settings' Host.LocalHttpPort, or 7071.
	Addr string
	// StateDir keeps timer schedule status between runs; "" means Root/.funchost.
	StateDir string
	// Environ is the process environment, layered over the settings' Values.
	Environ []string
	// Out receives the host's log lines and the handler's output.
	Out io.Writer
	// MaxRestarts is how often the handler may exit before the host gives
	// up; 0 means the Functions host's 3. Chaos campaigns, which kill the
	// handler on purpose, raise it.
	MaxRestarts int
}

// Host is a running local Functions host.
type Host struct {
	root      string
	settings  Settings
	hc        HostConfig
	functions map[string]*Function
	httpFns   []*Function
	triggers  map[string]trigger
	worker    *worker
	log       *logger
	client    *http.Client // invocations
	forwarder *http.Client // forwarded HTTP requests: redirects are passed through
	timeout   time.Duration
	stateDir  string
	now       func() time.Time
	ln        net.Listener

	admin sync.WaitGroup // on-demand invocations in flight
}

// trigger starts a non-HTTP function on its own events.
type trigger interface {
	describe() string
	run(ctx context.Context) error
	// invokeWith runs the function once with input as the trigger's value,
	// as the host's admin API does.
	invokeWith(ctx context.Context, input string) (funcwire.InvokeResponse, error)
}

// New loads the app in opts.Root and listens for HTTP requests. Every
// problem in host.json and the function.json files is reported together.
func New(opts Options) (*Host, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	ls, err := LoadLocalSettings(opts.Root, opts.SettingsFile)
	if err != nil {
		return nil, err
	}
	settings := MergeSettings(ls.Values, opts.Environ)
	hc, err := LoadHostConfig(opts.Root, settings)
	if err != nil {
		return nil, err
	}
	fns, err := LoadFunctions(opts.Root, settings)
	if err != nil {
		return nil, err
	}
	timeout, _ := hc.Timeout()
	h := &Host{
		root: opts.Root, settings: settings, hc: hc, functions: map[string]*Function{}, triggers: map[string]trigger{},
		log: newLogger(opts.Out), client: &http.Client{}, timeout: timeout, stateDir: opts.StateDir, now: time.Now,
		forwarder: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	if h.stateDir == "" {
		h.stateDir = opts.Root + "/.funchost"
	}
	if rt := settings["FUNCTIONS_WORKER_RUNTIME"]; !strings.EqualFold(rt, "custom") {
		h.log.Printf("Warning: FUNCTIONS_WORKER_RUNTIME is %q; a custom handler app sets it to custom.", rt)
	}
	var errs []error
	for _, fn := range fns {
		h.functions[strings.ToLower(fn.Name)] = fn
		if fn.Disabled {
			continue
		}
		switch fn.Trigger.Type {
		case HTTPTrigger:
			if !fn.Forwarded || !hc.CustomHandler.EnableForwardingHTTPRequest {
				errs = append(errs, fmt.Errorf("function %s: funchost serves only forwarded HTTP functions (httpTrigger in, http out, enableForwardingHttpRequest true)", fn.Name))
				continue
			}
			h.httpFns = append(h.httpFns, fn)
		case TimerTrigger:
			t, err := newTimerTrigger(h, fn)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			h.triggers[fn.Name] = t
		case ServiceBusTrigger:
			t, err := newServiceBusTrigger(h, fn)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			h.triggers[fn.Name] = t
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// More literal segments first, so uploads/status wins over uploads/{id}.
	sort.SliceStable(h.httpFns, func(i, j int) bool { return h.httpFns[i].Route.literals() > h.httpFns[j].Route.literals() })
	if h.worker, err = newWorker(opts.Root, hc, settings, h.log); err != nil {
		return nil, err
	}
	if opts.MaxRestarts > 0 {
		h.worker.maxRestarts = opts.MaxRestarts
	}
	addr := opts.Addr
	if addr == "" {
		port := ls.Host.LocalHTTPPort
		if port == 0 {
			port = 7071
		}
		addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	if h.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("listen for HTTP functions: %w", err)
	}
	return h, nil
}

// KillHandler kills the handler process at once (SIGKILL), for tests of
// crashes: invocations in flight fail (Service Bus messages are abandoned
// and redelivered) and the host starts a new handler, as Azure does.
func (h *Host) KillHandler() error { return h.worker.kill() }

// Handler returns the ready handler's process id (0 while none is ready)
// and how long it took from exec to its first answer on GET / (polled every
// 25 ms, as the Functions host does), for benchmarks of memory and start-up.
func (h *Host) Handler() (pid int, readyIn time.Duration) { return h.worker.handler() }

// Addr is the address HTTP functions are served on.
func (h *Host) Addr() string { return h.ln.Addr().String() }

// Run starts the handler, serves HTTP functions and fires triggers until ctx
// is done or the handler fails more often than the host tolerates.
func (h *Host) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	h.printFunctions()

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	// The handler outlives ctx until the invocations in flight have
	// finished, as the host drains before it stops its worker.
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorker()
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		if err := h.worker.run(workerCtx); err != nil {
			errc <- err
		}
		cancel()
	}()
	go func() {
		if err := srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve HTTP functions: %w", err)
			cancel()
		}
	}()
	// Triggers start once the handler is ready, as the host's listeners do.
	if _, err := h.worker.endpoint(ctx); err == nil {
		for _, t := range h.triggers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := t.run(ctx); err != nil {
					errc <- err
					cancel()
				}
			}()
		}
	}
	<-ctx.Done()
	h.log.Printf("Stopping the host.")
	shutdownCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdownCtx)
	h.admin.Wait()
	wg.Wait()
	stopWorker()
	<-workerDone
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// Invoke starts the handler, runs the function name once with input as its
// trigger value (as the admin API would), stops the handler and returns the
// outcome. It is funchost's one-shot mode.
func (h *Host) Invoke(ctx context.Context, name, input string) (funcwire.InvokeResponse, error) {
	t, ok := h.triggers[name]
	if !ok {
		return funcwire.InvokeResponse{}, fmt.Errorf("no timer or Service Bus function named %q", name)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := h.worker.run(ctx)
		cancel() // a handler that cannot start ends the wait for it
		done <- err
	}()
	res, err := t.invokeWith(ctx, input)
	cancel()
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	h.ln.Close()
	return res, err
}

func (h *Host) printFunctions() {
	h.log.Printf("Functions:")
	names := make([]string, 0, len(h.functions))
	for _, fn := range h.functions {
		names = append(names, fn.Name)
	}
	sort.Strings(names)
	for _, name := range names {
		fn := h.functions[strings.ToLower(name)]
		switch {
		case fn.Disabled:
			h.log.Printf("    %s: disabled", fn.Name)
		case fn.Trigger.Type == HTTPTrigger:
			methods := strings.Join(fn.Trigger.Methods, ",")
			if methods == "" {
				methods = "ANY"
			}
			h.log.Printf("    %s: [%s] http://%s/%s", fn.Name, methods, h.Addr(), strings.TrimPrefix(h.hc.RoutePrefix()+"/"+fn.Route.Template, "/"))
		default:
			h.log.Printf("    %s: %s", fn.Name, h.triggers[fn.Name].describe())
		}
	}
}

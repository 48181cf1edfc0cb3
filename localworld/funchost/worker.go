package funchost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/localworld/loopback"
)

// defaultMaxRestarts is how often the host restarts a handler that exits
// before it gives up ("Exceeded http worker restart retry count").
const defaultMaxRestarts = 3

// readyPollInterval is the host's readiness polling interval.
const readyPollInterval = 25 * time.Millisecond

// worker runs the custom handler process and restarts it when it exits.
type worker struct {
	exe, dir    string
	args, env   []string
	initTimeout time.Duration
	stopTimeout time.Duration
	maxRestarts int
	log         *logger

	mu      sync.Mutex
	port    int
	ready   chan struct{} // closed while the current process is ready
	proc    *process      // the running handler, nil between processes
	pid     int           // the ready handler's process id, 0 while none is
	readyIn time.Duration // how long the ready handler took from exec to its first answer
}

func newWorker(root string, hc HostConfig, settings Settings, log *logger) (*worker, error) {
	d := hc.CustomHandler.Description
	dir := root
	if d.WorkingDirectory != "" {
		dir = d.WorkingDirectory
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
	}
	exe := d.DefaultExecutablePath
	if !filepath.IsAbs(exe) {
		if p := filepath.Join(root, exe); fileExists(p) {
			exe = p
		} else if p, err := exec.LookPath(exe); err == nil {
			exe = p
		} else {
			return nil, fmt.Errorf("handler %s not found in %s nor on PATH; build it first (make build)", d.DefaultExecutablePath, root)
		}
	}
	args := make([]string, len(d.Arguments))
	for i, a := range d.Arguments {
		v, err := settings.Expand(a)
		if err != nil {
			return nil, fmt.Errorf("host.json customHandler argument %d: %w", i, err)
		}
		args[i] = v
	}
	initTimeout, _ := hc.InitTimeout()
	abs, _ := filepath.Abs(root)
	env := append(settings.Environ(), "FUNCTIONS_APP_ROOT_PATH="+abs)
	return &worker{exe: exe, dir: dir, args: args, env: env, initTimeout: initTimeout, stopTimeout: 30 * time.Second,
		maxRestarts: defaultMaxRestarts, log: log, ready: make(chan struct{})}, nil
}

// run starts the handler, restarts it up to w.maxRestarts times when it exits
// or does not get ready, and stops it when ctx is done.
func (w *worker) run(ctx context.Context) error {
	for restarts := 0; ; restarts++ {
		err := w.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if restarts == w.maxRestarts {
			return fmt.Errorf("exceeded http worker restart retry count (%d): %w", w.maxRestarts, err)
		}
		w.log.Printf("Handler failed: %v. Restarting it (%d of %d).", err, restarts+1, w.maxRestarts)
	}
}

// runOnce runs one handler process until it exits or ctx is done.
func (w *worker) runOnce(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(w.exe, w.args...)
	cmd.Dir = w.dir
	cmd.Env = append(append([]string{}, w.env...),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+uuid.NewString())
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start handler %s: %w", w.exe, err)
	}
	tail := &lastLines{n: 3}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); w.copyLines(stdout, "", nil) }()
	go func() { defer pipes.Done(); w.copyLines(stderr, "stderr: ", tail) }()
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { pipes.Wait(); p.err = cmd.Wait(); close(p.done) }()
	w.mu.Lock()
	w.proc = p
	w.mu.Unlock()
	defer func() { w.mu.Lock(); w.proc = nil; w.mu.Unlock() }()

	readyCtx, cancelReady := context.WithTimeout(ctx, w.initTimeout)
	readyErr := waitReady(readyCtx, port, p.done)
	cancelReady()
	switch {
	case ctx.Err() != nil:
		return w.stop(p)
	case readyErr != nil:
		_ = w.stop(p)
		return fmt.Errorf("initializing the handler: %w (%s)%s", readyErr, p.status(), tail)
	}
	w.log.Printf("Handler ready on 127.0.0.1:%d after %s (pid %d).", port, time.Since(start).Round(time.Millisecond), cmd.Process.Pid)
	w.setReady(port, cmd.Process.Pid, time.Since(start))
	defer w.setNotReady()

	select {
	case <-p.done:
		return fmt.Errorf("handler exited (%s)%s", p.status(), tail)
	case <-ctx.Done():
		return w.stop(p)
	}
}

// process is a started handler process; done is closed when it has exited
// and its output is read, err is then cmd.Wait's result.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (p *process) status() string {
	select {
	case <-p.done:
	default:
		return "still running"
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ProcessState.String()
	}
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// stop asks the handler to drain (SIGTERM) and kills it after stopTimeout.
func (w *worker) stop(p *process) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(w.stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// kill ends the running handler at once (SIGKILL), as a crash or an
// instance being recycled would; run restarts it like any exit.
func (w *worker) kill() error {
	w.mu.Lock()
	p := w.proc
	w.mu.Unlock()
	if p == nil {
		return errors.New("no handler is running")
	}
	return p.cmd.Process.Kill()
}

// waitReady polls GET / like the host: any HTTP response means ready.
func waitReady(ctx context.Context, port int, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("handler exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("no answer on GET / within the initialization timeout: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (w *worker) setReady(port, pid int, readyIn time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.port, w.pid, w.readyIn = port, pid, readyIn
	close(w.ready)
}

func (w *worker) setNotReady() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.port, w.pid, w.readyIn = 0, 0, 0
	w.ready = make(chan struct{})
}

// handler returns the ready handler's process id and start-up time.
func (w *worker) handler() (pid int, readyIn time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid, w.readyIn
}

// endpoint waits until a handler is ready and returns its base URL.
func (w *worker) endpoint(ctx context.Context) (string, error) {
	for {
		w.mu.Lock()
		port, ready := w.port, w.ready
		w.mu.Unlock()
		if port != 0 {
			return "http://127.0.0.1:" + strconv.Itoa(port), nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return "", fmt.Errorf("the handler is not ready: %w", ctx.Err())
		}
	}
}

func (w *worker) copyLines(r io.Reader, prefix string, tail *lastLines) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if tail != nil {
			tail.add(line)
		}
		w.log.Printf("[handler] %s%s", prefix, line)
	}
}

// lastLines keeps the handler's last stderr lines for the exit message, as
// the host does.
type lastLines struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func (l *lastLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if len(l.lines) > l.n {
		l.lines = l.lines[1:]
	}
}

func (l *lastLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	s := "; last stderr lines:"
	for _, line := range l.lines {
		s += "\n    " + line
	}
	return s
}

func freePort() (int, error) {
	p, err := loopback.FreePorts(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

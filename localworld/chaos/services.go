package chaos

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Service is a local service the campaign owns and restarts: a command
// started on fixed ports (so the app's settings stay valid across restarts),
// its output appended to a log file. It is stopped by its PID only.
type Service struct {
	Name  string
	Args  []string // the command and its arguments
	Ports []int    // ready when every one accepts connections
	Log   string   // output of every run, appended

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	runs int
}

// Start runs the service and waits until its ports accept connections,
// failing if it exits first or is not ready within a minute.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("%s is already running (pid %d)", s.Name, s.cmd.Process.Pid)
	}
	f, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.Args[0], s.Args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	s.runs++
	deadline := time.Now().Add(time.Minute)
	for _, p := range s.Ports {
		for !listening(p) {
			select {
			case <-done:
				s.cmd = nil
				return fmt.Errorf("%s exited before it listened on port %d (see %s)", s.Name, p, s.Log)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not listen on port %d within a minute (see %s)", s.Name, p, s.Log)
			}
		}
	}
	return nil
}

// Stop ends the service with SIGTERM (its orderly shutdown, which is when
// Azurite writes its database to disk) and SIGKILL after 20 s, and waits
// until its ports are free again.
func (s *Service) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range s.Ports {
		for listening(p) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s stopped but port %d is still taken", s.Name, p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Restart stops and starts the service.
func (s *Service) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start()
}

// Runs is how often the service was started.
func (s *Service) Runs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs
}

// Output returns everything the service printed in all its runs.
func (s *Service) Output() (string, error) {
	b, err := os.ReadFile(s.Log)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

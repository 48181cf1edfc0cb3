package chaos

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/pitcher/connector/localworld/loopback"
)

// echo serves lines back on a free port.
func echo(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// roundTrip sends a line over c and reports whether it came back.
func roundTrip(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

// TestProxyDownCutsAndRefuses: Down cuts an open connection and closes
// new ones at once; after Up they go through again.
func TestProxyDownCutsAndRefuses(t *testing.T) {
	free, err := loopback.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(free[0], echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	open := dial()
	if !roundTrip(open) {
		t.Fatal("no echo through the proxy")
	}
	p.Down()
	if roundTrip(open) {
		t.Error("a connection open before Down still works")
	}
	if roundTrip(dial()) {
		t.Error("a connection made while down works")
	}
	p.Up()
	if !roundTrip(dial()) {
		t.Error("no echo after Up")
	}
}

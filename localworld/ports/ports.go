// Package ports finds free TCP ports on loopback for the local world's
// services: funchost's handler, the simulators and emulators that tests,
// benchmarks and the chaos campaign start.
package ports

import (
	"fmt"
	"net"
)

// Free returns n distinct TCP ports on 127.0.0.1 that were free a moment
// ago (they are held open together while chosen, so they differ).
func Free(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

//go:build cpuprofile

package main

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Built with -tags cpuprofile (benchmarks only, never deployed), the
// handler profiles its CPU from its start and, on SIGUSR1, writes the
// profile to $HANDLER_CPU_PROFILE (whole: it appears by a rename).
func init() {
	path := os.Getenv("HANDLER_CPU_PROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path + ".part")
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGUSR1)
	go func() {
		<-stop
		pprof.StopCPUProfile()
		if err := f.Close(); err == nil {
			_ = os.Rename(path+".part", path)
		}
	}()
}

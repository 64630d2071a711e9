package gateway

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the process's user and system CPU time so far: on a shared
// machine it measures a benchmark's cost per request more steadily than
// wall time, and it counts every goroutine the request path wakes.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

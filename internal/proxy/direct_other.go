//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package proxy

import (
	"net"
	"syscall"
)

// directSupported: without a non-blocking peek an idle connection cannot
// be checked before reuse, so every request takes http.Transport.
const directSupported = false

func rawConnOf(net.Conn) syscall.RawConn { return nil }

func idleConnUsable(syscall.RawConn) (bool, []byte) { return false, nil }

//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package proxy

import (
	"net"
	"syscall"
)

// directSupported: the direct exchange needs idleConnUsable's peek.
const directSupported = true

// rawConnOf returns the connection's descriptor access, once per
// connection (nil: not a socket, never reused).
func rawConnOf(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// idleConnUsable reports whether an idle keep-alive connection may carry
// the next request: nothing has arrived on it since its last response.
// A close (the target's idle timeout) or a reset makes it useless, and
// bytes nobody asked for would be read as the next request's response:
// a target (or whatever sits on the path) could answer a request it never
// got. http.Transport watches idle connections with a read loop for the
// same reasons; here one non-blocking peek before reuse does it. The
// first unsolicited bytes, if any, are returned for the log.
func idleConnUsable(rc syscall.RawConn) (usable bool, unsolicited []byte) {
	if rc == nil {
		return false, nil
	}
	var b [1]byte
	n := 0
	err := rc.Read(func(fd uintptr) bool {
		var err error
		n, _, err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		usable = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true // never wait
	})
	if err != nil || n <= 0 {
		return usable && err == nil, nil
	}
	head := make([]byte, 4096)
	_ = rc.Read(func(fd uintptr) bool {
		n, _, _ = syscall.Recvfrom(int(fd), head, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	return false, head[:max(n, 0)]
}

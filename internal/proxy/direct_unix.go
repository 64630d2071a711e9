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
// same reasons; here one non-blocking peek before reuse does it.
func idleConnUsable(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	usable := false
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		usable = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true // never wait
	})
	return err == nil && usable
}

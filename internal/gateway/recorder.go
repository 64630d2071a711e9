package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// recorder captures the status and size of a response for the access log
// and metrics, and whether anything was written (so an error after the
// headers went out is only logged).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	tunnel *countingConn // the hijacked connection of a protocol switch
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush supports streaming for callers that type-assert http.Flusher.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Hijack hands the connection over for a protocol switch, which the proxy
// only does for a WebSocket upgrade its route allows, after the upstream's
// 101: that is the status logged, and the bytes tunnelled each way are
// counted for the log (the 101 itself is written to the connection's
// buffer, not through the recorder).
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	r.status = http.StatusSwitchingProtocols
	r.tunnel = &countingConn{Conn: conn}
	return r.tunnel, brw, nil
}

// countingConn counts the bytes of a tunnel: read from the client (in) and
// written to it (out). Two copy goroutines update it, and one of them may
// still run when the handler returns, hence the atomics.
type countingConn struct {
	net.Conn
	in, out atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// countingBody counts request body bytes read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

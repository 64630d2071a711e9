package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The direct exchange: a bodyless GET, HEAD or OPTIONS to a plain-HTTP
// target is written and its response read on the handler's own goroutine,
// over a keep-alive connection from the target's pool. http.Transport
// hands every request to two goroutines of its own (a write loop and a
// read loop) and back; on the gateway's hottest path those hand-offs cost
// more than the checks. The wire format stays the standard library's
// (Request.Write, http.ReadResponse): nothing here parses HTTP.
//
// Everything else (a body, trailers, an upgrade, TLS and HTTP/2 targets,
// an upstream with max_conns_per_target, whose bound must cover every
// connection) goes to http.Transport.

// maxUpstreamHeaderBytes bounds an upstream response's header section,
// 1xx responses no one examined included (the Transport's
// MaxResponseHeaderBytes on the other path).
const maxUpstreamHeaderBytes = 256 << 10

// errUpstreamHeaderTooLarge ends an exchange whose response header section
// is larger than maxUpstreamHeaderBytes.
var errUpstreamHeaderTooLarge = errors.New("upstream response header section exceeds 256 KiB")

// directTransport sends what it can on the direct exchange and the rest
// to next.
type directTransport struct {
	next          http.RoundTripper
	pools         map[string]*connPool // by target host:port; not written after construction
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	headerTimeout time.Duration
}

// newDirectTransport returns a transport with a pool per plain-HTTP target
// in hosts, or nil when there is none.
func newDirectTransport(next http.RoundTripper, hosts []string, dial func(context.Context, string, string) (net.Conn, error),
	headerTimeout, idleTimeout time.Duration, maxIdle int, log *slog.Logger) *directTransport {
	if len(hosts) == 0 || !directSupported {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &directTransport{next: next, pools: make(map[string]*connPool, len(hosts)), dial: dial, headerTimeout: headerTimeout}
	for _, h := range hosts {
		d.pools[h] = &connPool{addr: dialAddr(h), log: log, max: maxIdle, idleTimeout: idleTimeout}
	}
	return d
}

// dialAddr is the address a target's host is dialled at: with the port
// written, or HTTP's 80 (as http.Transport does for "http://backend").
func dialAddr(host string) string {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ""
	}
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(h, port)
}

// direct reports whether req takes the direct exchange. Only methods a
// client may repeat, without a body: a request that met a keep-alive
// connection the target had just closed is sent again on a new one, as
// http.Transport does for the same requests.
func direct(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	if req.Body != nil && req.Body != http.NoBody || len(req.Trailer) > 0 || req.URL.Scheme != "http" {
		return false
	}
	_, upgrade := req.Header["Upgrade"]
	return !upgrade
}

func (d *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := d.pools[req.URL.Host]
	if p == nil || !direct(req) {
		return d.next.RoundTrip(req)
	}
	if err := validOutbound(req); err != nil {
		return nil, err
	}
	ctx := req.Context()
	for retried := false; ; retried = true {
		if err := ctx.Err(); err != nil {
			return nil, err // ended already: nothing is sent
		}
		var c *directConn
		reused := false
		if !retried {
			c, reused = p.get()
		}
		if c == nil {
			conn, err := d.dial(ctx, "tcp", p.addr)
			if err != nil {
				return nil, err
			}
			c = newDirectConn(conn, p)
		}
		resp, err := c.roundTrip(ctx, req, d.headerTimeout)
		if err == nil {
			return resp, nil
		}
		c.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !reused || retried || c.readAny || isTimeout(err) {
			return nil, err
		}
		// A keep-alive connection the target closed as it was taken:
		// not a word of the response came back. Sent again on a new
		// connection (never another pooled one, which may be as stale).
	}
}

func (d *directTransport) CloseIdleConnections() {
	for _, p := range d.pools {
		p.closeIdle()
	}
	if c, ok := d.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// directConn is one keep-alive connection to a target, used by one
// request at a time.
type directConn struct {
	conn     net.Conn
	raw      syscall.RawConn // for idleConnUsable
	br       *bufio.Reader
	bw       *bufio.Writer
	pool     *connPool
	limit    int64 // bytes the reader may still take (the header bound)
	readAny  bool  // this request read a byte of response
	lastUsed time.Time
}

func newDirectConn(conn net.Conn, p *connPool) *directConn {
	c := &directConn{conn: conn, raw: rawConnOf(conn), pool: p, limit: math.MaxInt64}
	c.br = bufio.NewReader(c)
	c.bw = bufio.NewWriter(conn)
	return c
}

// Read feeds br from the connection within the header bound.
func (c *directConn) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errUpstreamHeaderTooLarge
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.conn.Read(p)
	c.limit -= int64(n)
	if n > 0 {
		c.readAny = true
	}
	return n, err
}

func (c *directConn) close() { c.conn.Close() }

// roundTrip writes req and reads its response, relaying 1xx responses to
// the request's client trace. The returned body gives the connection back
// to the pool when it has been read to its end.
func (c *directConn) roundTrip(ctx context.Context, req *http.Request, headerTimeout time.Duration) (*http.Response, error) {
	c.readAny = false
	if headerTimeout > 0 {
		c.conn.SetReadDeadline(time.Now().Add(headerTimeout))
	}
	// The route's deadline and the client going away close the
	// connection, wherever it blocks, body included (a connection whose
	// request ended is never reused: see directBody.finish).
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	trace := httptrace.ContextClientTrace(ctx)
	c.limit = maxUpstreamHeaderBytes
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			return nil, err
		}
		if code := resp.StatusCode; code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			if trace != nil && trace.Got1xxResponse != nil {
				if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
					stop()
					return nil, err
				}
				// The relay bounds how many it takes; each gets the
				// whole header bound. Unexamined ones share one.
				c.limit = maxUpstreamHeaderBytes
			}
			continue
		}
		c.limit = math.MaxInt64
		if resp.StatusCode == http.StatusSwitchingProtocols {
			stop()
			return nil, errUnrequestedSwitch
		}
		if headerTimeout > 0 {
			c.conn.SetReadDeadline(time.Time{}) // the body may take longer than its header
		}
		resp.Body = &directBody{rc: resp.Body, c: c, stop: stop, keep: !resp.Close && !req.Close}
		return resp, nil
	}
}

// directBody is a response body on the direct exchange. Read to its end,
// it returns the connection to the pool; closed before that, or broken, it
// closes the connection (what is left of the body is never drained: it
// may not end). Its first error (io.EOF included) is returned to every
// later Read, as http.Transport's body does: readers that put a head back
// in front of the body (io.MultiReader) read it again after EOF.
type directBody struct {
	rc     io.ReadCloser
	c      *directConn // nil once finished
	stop   func() bool
	keep   bool // the exchange allows another request on the connection
	err    error
	closed bool
}

func (b *directBody) Read(p []byte) (int, error) {
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.err != nil:
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	if err != nil {
		b.err = err
		b.finish(err == io.EOF)
	}
	return n, err
}

func (b *directBody) Close() error {
	b.closed = true
	if b.c != nil {
		b.finish(false)
	}
	return nil
}

func (b *directBody) finish(complete bool) {
	c := b.c
	if c == nil {
		return
	}
	b.c = nil
	// stop fails when the request's context ended first: the connection
	// is being closed.
	if b.stop() && complete && b.keep {
		b.rc.Close()
		c.pool.put(c)
		return
	}
	c.close()
}

// connPool holds one target's idle connections, most recently used last.
type connPool struct {
	addr        string // host:port to dial
	log         *slog.Logger
	mu          sync.Mutex
	idle        []*directConn
	max         int
	idleTimeout time.Duration // 0: kept until the target closes them
	reaper      *time.Timer   // pending while idle connections can expire
	closed      bool          // CloseIdleConnections ran: nothing is pooled again
}

// get returns the most recently used idle connection that may carry a
// request, or nil when there is none; the others it finds are closed.
func (p *connPool) get() (c *directConn, reused bool) {
	for {
		now := time.Now()
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil, false
		}
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if p.idleTimeout > 0 && now.Sub(c.lastUsed) >= p.idleTimeout {
			c.close()
			continue
		}
		if ok, unsolicited := idleConnUsable(c.raw); !ok {
			c.close()
			if len(unsolicited) > 0 {
				// As http.Transport logs it (the logger redacts what the
				// bytes may carry): a target that answers what nobody
				// asked is broken, or something on the path is.
				p.log.Warn(fmt.Sprintf("Unsolicited response received on idle upstream connection starting with %q; closed", unsolicited),
					"target", p.addr)
			}
			continue
		}
		return c, true
	}
}

func (p *connPool) put(c *directConn) {
	c.lastUsed = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= p.max || c.br.Buffered() > 0 {
		// Bytes after the response's end answer nothing that was asked.
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	if p.idleTimeout > 0 && p.reaper == nil {
		p.reaper = time.AfterFunc(p.idleTimeout, p.reap)
	}
}

// reap closes the connections idle for idleTimeout (the oldest come
// first) and runs again when the next one will have been.
func (p *connPool) reap() {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].lastUsed) >= p.idleTimeout {
		p.idle[n].close()
		n++
	}
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	if rest == 0 {
		p.reaper = nil
		return
	}
	p.reaper = time.AfterFunc(p.idle[0].lastUsed.Add(p.idleTimeout).Sub(now), p.reap)
}

// closeIdle closes the idle connections, and those that become idle
// later (the upstream is being replaced: a reload must not leave its
// connections open).
func (p *connPool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		c.close()
	}
	clear(p.idle)
	p.idle = p.idle[:0]
}

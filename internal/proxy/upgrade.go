package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Protocol upgrades are forwarded only where a route opts in, and only to
// WebSocket. Everywhere else the Upgrade header is removed and the request
// goes upstream as an ordinary one (RFC 9110 §7.8 lets a server ignore
// Upgrade): the client gets the upstream's normal answer, no tunnel, and
// an upstream that switches protocols anyway is refused by the reverse
// proxy (502). h2c is never forwarded: it would hand the upstream an HTTP/2
// connection that bypasses the gateway's request checks.

// TunnelLimits bound a WebSocket tunnel once the upstream answered 101.
type TunnelLimits struct {
	// Idle closes a tunnel after this long without a byte either way.
	Idle time.Duration
	// MaxLifetime closes a tunnel this long after it opened.
	MaxLifetime time.Duration
}

// AllowWebSocket lets the route forward WebSocket upgrades and tunnel them
// within limits (and no longer than the credential that opened them is
// valid). Call it before serving.
func (f *Forwarder) AllowWebSocket(limits TunnelLimits) {
	f.tunnel = &limits
}

// isWebSocketUpgrade reports whether r asks for exactly a WebSocket
// upgrade, the way RFC 6455 §4.1 opens one: HTTP/1.1 GET without a body,
// "Connection: upgrade" and "Upgrade: websocket" alone (a list could
// smuggle h2c).
func isWebSocketUpgrade(r *http.Request) bool {
	up := r.Header["Upgrade"]
	return r.Method == http.MethodGet && r.ProtoMajor == 1 && r.ProtoMinor >= 1 &&
		(r.Body == nil || r.Body == http.NoBody) &&
		len(up) == 1 && strings.EqualFold(strings.TrimSpace(up[0]), "websocket") &&
		httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade")
}

// dropUpgrade makes the outbound request an ordinary one: the reverse proxy
// re-adds Upgrade and "Connection: Upgrade" after removing hop-by-hop
// headers, and switches protocols only when they are there.
func dropUpgrade(h http.Header) {
	delete(h, "Upgrade")
	delete(h, "Connection")
}

// serveUpgrade forwards an allowed WebSocket upgrade. The route timeout
// bounds the exchange up to the upstream's 101; from there the tunnel's own
// limits apply, so the timer is stopped when the connection is handed over
// (a deadline on the context would cut every tunnel at the route timeout).
func (f *Forwarder) serveUpgrade(w http.ResponseWriter, r *http.Request, info *reqinfo.Info) error {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	timer := time.AfterFunc(f.timeout, func() { cancel(context.DeadlineExceeded) })
	defer timer.Stop()
	tw := &tunnelWriter{ResponseWriter: w, limits: *f.tunnel, routeTimer: timer}
	if p := info.Principal; p != nil {
		tw.expiry = p.Expiry
	}
	f.rp.ServeHTTP(tw, r.WithContext(ctx))
	if tw.conn != nil {
		if err := tw.conn.closedBy(); err != nil && info.Err == nil {
			info.Err = err // why the gateway ended the tunnel, for the log
		}
	}
	if err := info.UpstreamErr; err != nil {
		return classify(r.Context(), err)
	}
	return nil
}

// tunnelWriter hands the reverse proxy the client connection, bounded by
// the tunnel's limits, when it switches protocols.
type tunnelWriter struct {
	http.ResponseWriter
	limits     TunnelLimits
	expiry     time.Time // the credential's expiry; zero when unknown
	routeTimer *time.Timer
	conn       *tunnelConn
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (tw *tunnelWriter) Unwrap() http.ResponseWriter { return tw.ResponseWriter }

// Hijack is called by the reverse proxy after the upstream's 101.
func (tw *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(tw.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	tw.routeTimer.Stop()
	tw.conn = newTunnelConn(conn, tw.limits, tw.expiry, time.Now())
	return tw.conn, brw, nil
}

// tunnelClosedError says why the gateway closed a tunnel (for the log).
type tunnelClosedError struct{ Reason string }

func (e *tunnelClosedError) Error() string { return "tunnel closed by the gateway: " + e.Reason }

// tunnelConn is the client side of a tunnel. It closes itself when no byte
// has passed either way for the idle timeout, at the maximum lifetime, or
// when the credential that opened it expires, whichever comes first;
// closing it ends the reverse proxy's copy and so the upstream side too.
type tunnelConn struct {
	net.Conn
	idle       time.Duration
	lastActive atomic.Int64 // unix nanoseconds
	idleTimer  *time.Timer
	endTimer   *time.Timer
	reason     atomic.Pointer[tunnelClosedError]
	closeOnce  sync.Once
}

func newTunnelConn(c net.Conn, l TunnelLimits, expiry, now time.Time) *tunnelConn {
	tc := &tunnelConn{Conn: c, idle: l.Idle}
	tc.lastActive.Store(now.UnixNano())
	end, why := now.Add(l.MaxLifetime), "maximum lifetime "+l.MaxLifetime.String()+" reached"
	if !expiry.IsZero() && expiry.Before(end) {
		end, why = expiry, "the credential that opened it expired"
	}
	// Both timers are armed only once assigned: their functions use them.
	tc.idleTimer = time.AfterFunc(time.Hour, tc.checkIdle)
	tc.endTimer = time.AfterFunc(time.Hour, func() { tc.shut(why) })
	tc.idleTimer.Reset(l.Idle)
	tc.endTimer.Reset(max(end.Sub(now), 0))
	return tc
}

func (c *tunnelConn) checkIdle() {
	quiet := time.Since(time.Unix(0, c.lastActive.Load()))
	if quiet >= c.idle {
		c.shut("idle for " + c.idle.String())
		return
	}
	c.idleTimer.Reset(c.idle - quiet)
}

func (c *tunnelConn) shut(reason string) {
	c.reason.CompareAndSwap(nil, &tunnelClosedError{Reason: reason})
	_ = c.Close()
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.lastActive.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.lastActive.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *tunnelConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		c.idleTimer.Stop()
		c.endTimer.Stop()
		err = c.Conn.Close()
	})
	return err
}

// closedBy returns why the gateway closed the tunnel, or nil when a peer
// ended it.
func (c *tunnelConn) closedBy() error {
	if r := c.reason.Load(); r != nil {
		return r
	}
	return nil
}

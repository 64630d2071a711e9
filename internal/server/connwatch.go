package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/secevent"
)

// connWatch makes visible what net/http answers or drops on its own,
// before any handler runs: a 400 for a malformed request line, header or
// Host, 431, 501 for an unknown Transfer-Encoding, 505, the HTTP/2 400s,
// header timeouts, failed TLS handshakes. net/http writes those straight
// to the connection, so the access log and the request metrics never see
// them. What it allows instead: ConnContext gives every connection a
// tracker that the handler marks, and ConnState reports each connection's
// active periods (an HTTP/1 request from its first byte to its response;
// HTTP/2 streams from the first opened to the last closed). A period, or a
// connection, that ends unmarked is counted and logged with the peer's IP
// and nothing of the request. HTTP/2 protocol errors are counted through
// http.HTTP2Config.CountError.
type connWatch struct {
	listener string
	log      *slog.Logger
	events   secevent.Sink // nil: no security monitor
	// counters by reason: tls_handshake, no_request, refused.
	handshake, noRequest, refused prometheus.Counter
	h2errors                      *prometheus.CounterVec
	conns                         sync.Map // net.Conn -> *connTrack
}

type connKey struct{}

// connTrack is what is known of one connection.
type connTrack struct {
	peer    string
	periods atomic.Int32 // active periods begun
	active  atomic.Bool  // inside one
	handled atomic.Bool  // the handler ran in the current period
}

func newConnWatch(listener string, log *slog.Logger, m *observe.Metrics, events secevent.Sink) *connWatch {
	return &connWatch{
		listener:  listener,
		log:       log,
		events:    events,
		handshake: m.Unhandled.WithLabelValues(listener, "tls_handshake"),
		noRequest: m.Unhandled.WithLabelValues(listener, "no_request"),
		refused:   m.Unhandled.WithLabelValues(listener, "refused"),
		h2errors:  m.HTTP2Errors.MustCurryWith(prometheus.Labels{"listener": listener}),
	}
}

// install hooks the watch into srv and wraps its handler.
func (cw *connWatch) install(srv *http.Server) {
	srv.ConnContext = cw.connContext
	srv.ConnState = cw.connState
	if srv.HTTP2 == nil {
		srv.HTTP2 = &http.HTTP2Config{}
	}
	srv.HTTP2.CountError = func(errType string) { cw.h2errors.WithLabelValues(errType).Inc() }
	next := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := r.Context().Value(connKey{}).(*connTrack); ok && !t.handled.Load() {
			t.handled.Store(true)
		}
		next.ServeHTTP(w, r)
	})
}

func (cw *connWatch) connContext(ctx context.Context, c net.Conn) context.Context {
	t := &connTrack{peer: c.RemoteAddr().String()}
	if host, _, err := net.SplitHostPort(t.peer); err == nil {
		t.peer = host
	}
	cw.conns.Store(c, t)
	return context.WithValue(ctx, connKey{}, t)
}

func (cw *connWatch) connState(c net.Conn, st http.ConnState) {
	v, ok := cw.conns.Load(c)
	if !ok {
		return
	}
	t := v.(*connTrack)
	switch st {
	case http.StateActive:
		t.handled.Store(false)
		t.periods.Add(1)
		t.active.Store(true)
	case http.StateIdle:
		if t.active.Swap(false) {
			cw.periodEnded(c, t)
		}
	case http.StateHijacked:
		cw.conns.Delete(c)
	case http.StateClosed:
		cw.conns.Delete(c)
		if t.active.Swap(false) {
			cw.periodEnded(c, t)
			return
		}
		n := t.periods.Load()
		if isH2(c) {
			n-- // the period net/http reports as the HTTP/2 connection starts
		}
		if n > 0 {
			return
		}
		if tc, ok := c.(*tls.Conn); ok && !tc.ConnectionState().HandshakeComplete {
			cw.handshake.Inc()
			cw.log.Debug("connection closed during the TLS handshake", "listener", cw.listener, "client_ip", t.peer)
			return
		}
		cw.noRequest.Inc()
		cw.log.Debug("connection closed before any request", "listener", cw.listener, "client_ip", t.peer)
	}
}

// periodEnded counts and logs an active period the handler never saw.
func (cw *connWatch) periodEnded(c net.Conn, t *connTrack) {
	if t.handled.Load() {
		return
	}
	proto := "HTTP/1.x"
	if isH2(c) {
		if t.periods.Load() == 1 {
			return // the HTTP/2 connection starting, not a request
		}
		proto = "HTTP/2"
	}
	cw.refused.Inc()
	if cw.events != nil {
		// The scanning detector counts these with the gateway's own 400s.
		ip, _ := netip.ParseAddr(t.peer)
		cw.events.Emit(secevent.Event{Type: secevent.RequestRefused, ClientIP: ip.Unmap(), Reason: secevent.ReasonParser})
	}
	cw.log.Info("request refused by the HTTP server before reaching the gateway (malformed, too large or timed out)",
		"listener", cw.listener, "client_ip", t.peer, "protocol", proto)
}

func isH2(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

package server_test

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Rapid reset (CVE-2023-44487): a client opens streams and resets each at
// once, so the server starts work that the stream limit never counts. This
// probes Go's own defence through the gateway instead of adding a counter
// of our own: however many HEADERS+RST_STREAM pairs arrive on one
// connection, at most MaxConcurrentStreams (250) gateway handlers, and so
// upstream requests, are in flight at once, and a client that queues more
// than 4x that many unstarted handlers is sent GOAWAY ENHANCE_YOUR_CALM
// (counted as conn_ENHANCE_YOUR_CALM_too_many_early_resets).
func TestRapidResetIsBoundedByGo(t *testing.T) {
	var inFlight, maxInFlight atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		select { // hold every request until the probe is over
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	w := startWatchedWith(t, up.URL)
	c := dialH2(t, w.addr, w.env.CA.Pool())
	// The server's frames are read while the pairs are written: a client
	// that stops reading makes the server block on its writes, and the
	// probe would then measure the socket buffers (and time out under
	// load) instead of Go's defence.
	_ = c.conn.SetDeadline(time.Now().Add(60 * time.Second))
	var mu sync.Mutex // the framer's write side
	type outcome struct {
		acked  bool
		goaway *http2.ErrCode
	}
	probe := [8]byte{'p', 'r', 'o', 'b', 'e'}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() { done <- o }()
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					mu.Lock()
					_ = c.fr.WriteSettingsAck()
					mu.Unlock()
				}
			case *http2.PingFrame:
				if f.IsAck() && f.Data == probe {
					o.acked = true
					return
				}
			case *http2.GoAwayFrame:
				code := f.ErrCode
				o.goaway = &code
			}
		}
	}()
	const pairs = 5000
	sent := 0
	for id := uint32(1); sent < pairs; id += 2 {
		block := c.headers(":method", "GET", ":scheme", "https", ":authority", w.addr, ":path", "/v1/slow/"+strconv.Itoa(int(id)))
		mu.Lock()
		err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
		if err == nil {
			err = c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		mu.Unlock()
		if err != nil {
			break // the server closed the connection
		}
		sent++
	}
	mu.Lock()
	_ = c.fr.WritePing(false, probe)
	mu.Unlock()
	o := <-done
	acked, goaway := o.acked, o.goaway
	calm := counterValue(w.srv.Metrics().HTTP2Errors.WithLabelValues("public", "conn_ENHANCE_YOUR_CALM_too_many_early_resets"))
	t.Logf("sent %d HEADERS+RST_STREAM pairs on one connection: ping acked %v, GOAWAY %v, too_many_early_resets %v; "+
		"%d reached the upstream, at most %d at once", sent, acked, goaway, calm, up.hits.Load(), maxInFlight.Load())
	if !acked && (goaway == nil || *goaway != http2.ErrCodeEnhanceYourCalm) {
		t.Errorf("the connection ended without GOAWAY ENHANCE_YOUR_CALM (GOAWAY %v)", goaway)
	}
	if got := maxInFlight.Load(); got > 250 {
		t.Errorf("%d upstream requests in flight at once from one connection, want at most 250", got)
	}
}

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// scriptedUpstream is a loopback target that answers each request read
// from a connection with the next of answers (raw bytes, so framing can be
// wrong on purpose); "" closes the connection instead, and an answer
// starting with "!" is written and then the connection closed; the part
// of an answer after "\x00later:" is written 20 ms after the rest
// (newScriptedUpstreamLater: another delay). It counts the
// connections it accepted and the requests it read.
type scriptedUpstream struct {
	ln       net.Listener
	answers  []string
	conns    atomic.Int64
	requests atomic.Int64
	closed   chan struct{} // a connection ended (the gateway closed it, or the script did)
	// wroteLater: an answer's part after "\x00later:" was written, 20 ms
	// after the rest.
	wroteLater chan struct{}
	later      time.Duration
	mu         sync.Mutex
	lines      []string // request lines, in order
}

func newScriptedUpstream(t *testing.T, answers ...string) *scriptedUpstream {
	t.Helper()
	return newScriptedUpstreamLater(t, 20*time.Millisecond, answers...)
}

// newScriptedUpstreamLater writes the part of an answer after
// "\x00later:" after the given delay.
func newScriptedUpstreamLater(t *testing.T, later time.Duration, answers ...string) *scriptedUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedUpstream{ln: ln, answers: answers, later: later, closed: make(chan struct{}, 64), wroteLater: make(chan struct{}, 64)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go s.serve(c)
		}
	}()
	return s
}

func (s *scriptedUpstream) serve(c net.Conn) {
	defer func() { c.Close(); s.closed <- struct{}{} }()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		n := int(s.requests.Add(1))
		s.mu.Lock()
		s.lines = append(s.lines, req.Method+" "+req.RequestURI+" ua="+strings.Join(req.Header["User-Agent"], ","))
		s.mu.Unlock()
		answer := s.answers[(n-1)%len(s.answers)]
		if answer == "" {
			return
		}
		answer, closeAfter := strings.CutPrefix(answer, "!")
		answer, later, _ := strings.Cut(answer, "\x00later:")
		if _, err := io.WriteString(c, answer); err != nil || closeAfter {
			return
		}
		if later != "" {
			time.Sleep(s.later)
			if _, err := io.WriteString(c, later); err != nil {
				return
			}
			s.wroteLater <- struct{}{}
		}
	}
}

func (s *scriptedUpstream) url() string { return "http://" + s.ln.Addr().String() }

// countingTransport records what reached the Transport path.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{StatusCode: 299, Body: http.NoBody, Header: http.Header{}}, nil
}

func directFor(s *scriptedUpstream, idle time.Duration, headerTimeout time.Duration) (*directTransport, *countingTransport) {
	next := &countingTransport{}
	d := newDirectTransport(next, []string{s.ln.Addr().String()}, (&net.Dialer{}).DialContext, headerTimeout, idle, 4, slog.New(slog.DiscardHandler))
	return d, next
}

func getVia(ctx context.Context, rt http.RoundTripper, method, url string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header["User-Agent"] = []string{""}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestDirectExchange drives the direct exchange against scripted targets:
// what the client gets, and how many connections the target saw for three
// requests in a row.
func TestDirectExchange(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		answers []string
		status  int
		body    string
		trailer string // a trailer the response must carry
		conns   int64  // connections for three requests
		reqs    int64  // requests the target read
	}{
		{"keep-alive is reused", "GET", []string{okAnswer}, 200, "ok", "", 1, 3},
		{"chunked with trailers, reused", "GET", []string{"HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 9\r\n\r\n"}, 200, "ok", "9", 1, 3},
		{"HEAD reads no body, reused", "HEAD", []string{"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"}, 200, "", "", 1, 3},
		{"204 has no body, reused", "GET", []string{"HTTP/1.1 204 No Content\r\n\r\n"}, 204, "", "", 1, 3},
		{"Connection: close is honoured", "GET", []string{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"}, 200, "ok", "", 3, 3},
		{"a body framed by the close is never reused", "GET", []string{"!HTTP/1.1 200 OK\r\n\r\nok"}, 200, "ok", "", 3, 3},
		{"HTTP/1.0 is never reused", "GET", []string{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}, 200, "ok", "", 3, 3},
		// The target closes every connection after its answer: each next
		// request still succeeds, on a new connection. (The peek finds the
		// close first; without it the retry would hide the dead connection,
		// so this row guards the outcome, not the peek: the unsolicited-
		// response rows below are the ones that need it.)
		{"a connection closed while idle: the next request succeeds on a new one", "GET", []string{"!" + okAnswer}, 200, "ok", "", 3, 3},
		// The target reads every second request and closes without a word:
		// it is sent again on a new connection, as http.Transport does.
		{"a connection closed before any answer is retried once", "GET", []string{okAnswer, ""}, 200, "ok", "", 3, 5},
		// Bytes after a response's end answer nothing that was asked: the
		// connection is not reused, so they never pass for the next
		// request's response (in the same segment, or arriving while idle).
		{"an unsolicited response in the same write", "GET", []string{okAnswer + "HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n"}, 200, "ok", "", 3, 3},
		{"an unsolicited response while idle", "GET", []string{okAnswer + "\x00later:HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n"}, 200, "ok", "", 3, 3},
		{"OPTIONS", "OPTIONS", []string{"HTTP/1.1 200 OK\r\nAllow: GET\r\nContent-Length: 0\r\n\r\n"}, 200, "", "", 1, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScriptedUpstream(t, tc.answers...)
			d, next := directFor(s, time.Minute, 5*time.Second)
			defer d.CloseIdleConnections()
			for i := range 3 {
				resp, body, err := getVia(context.Background(), d, tc.method, s.url()+"/p?q=1")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if resp.StatusCode != tc.status || body != tc.body {
					t.Fatalf("request %d: %d %q, want %d %q", i, resp.StatusCode, body, tc.status, tc.body)
				}
				if got := resp.Trailer.Get("X-Sum"); got != tc.trailer {
					t.Fatalf("request %d: trailer %q, want %q", i, got, tc.trailer)
				}
				if strings.HasPrefix(tc.answers[0], "!") {
					<-s.closed // the next request meets a connection closed while idle
				}
				if strings.Contains(tc.answers[0], "\x00later:") {
					<-s.wroteLater
					time.Sleep(20 * time.Millisecond) // for the bytes to arrive
				}
			}
			if got := s.conns.Load(); got != tc.conns {
				t.Errorf("connections = %d, want %d", got, tc.conns)
			}
			if got := s.requests.Load(); got != tc.reqs {
				t.Errorf("requests read = %d, want %d", got, tc.reqs)
			}
			if next.n.Load() != 0 {
				t.Errorf("%d requests took the Transport path", next.n.Load())
			}
			s.mu.Lock()
			first := s.lines[0]
			s.mu.Unlock()
			if want := tc.method + " /p?q=1 ua="; first != want {
				t.Errorf("request line %q, want %q (no User-Agent of Go's)", first, want)
			}
		})
	}
}

// TestDirectExchangeFailures: every broken answer is an error (or a cut
// body), and the connection it came on is never used again.
func TestDirectExchangeFailures(t *testing.T) {
	huge := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxUpstreamHeaderBytes) + "\r\nContent-Length: 0\r\n\r\n"
	// The target keeps its connection open after a broken answer and
	// would answer the next request on it: only a second connection shows
	// the broken one was dropped. A body cut short needs the close.
	cases := []struct {
		name   string
		answer string
		err    string // in RoundTrip's error ("": the body read fails)
	}{
		{"unrequested 101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", errUnrequestedSwitch.Error()},
		{"header section past the bound", huge, errUpstreamHeaderTooLarge.Error()},
		{"1xx past the bound together", strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: "+strings.Repeat("b", 60<<10)+"\r\n\r\n", 5) + okAnswer, errUpstreamHeaderTooLarge.Error()},
		{"malformed status line", "HTTP/1.1 2x0 OK\r\n\r\n", "malformed HTTP status code"},
		{"body cut short", "!HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", ""},
		{"chunked body cut short", "!HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScriptedUpstream(t, tc.answer, okAnswer)
			d, _ := directFor(s, time.Minute, 5*time.Second)
			defer d.CloseIdleConnections()
			_, _, err := getVia(context.Background(), d, "GET", s.url()+"/")
			switch {
			case err == nil:
				t.Fatal("no error")
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q, want %q", err, tc.err)
			}
			if _, body, err := getVia(context.Background(), d, "GET", s.url()+"/"); err != nil || body != "ok" {
				t.Fatalf("the next request: %q %v", body, err)
			}
			if got := s.conns.Load(); got != 2 {
				t.Errorf("connections = %d, want 2 (the broken one is closed)", got)
			}
		})
	}
}

// TestDirectExchangeRelays1xx: 1xx responses go to the request's client
// trace, each within its own header bound, and the final response follows.
func TestDirectExchangeRelays1xx(t *testing.T) {
	hints := "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
	s := newScriptedUpstream(t, strings.Repeat(hints, 2)+okAnswer)
	d, _ := directFor(s, time.Minute, 5*time.Second)
	defer d.CloseIdleConnections()
	var got []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, h.Get("Link"))
			return nil
		},
	})
	resp, body, err := getVia(ctx, d, "GET", s.url()+"/")
	if err != nil || resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%v %v %q", resp, err, body)
	}
	if len(got) != 2 || got[0] != "</a.css>; rel=preload" {
		t.Fatalf("1xx relayed: %q", got)
	}
	refused := errors.New("too many")
	ctx = httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error { return refused },
	})
	if _, _, err := getVia(ctx, d, "GET", s.url()+"/"); !errors.Is(err, refused) {
		t.Fatalf("a relay's refusal ends the exchange: %v", err)
	}
}

// TestDirectExchangeTimeouts: a silent target times out (not retried,
// even on a reused connection), and a request whose context ends stops at
// once, in the header or in the body.
func TestDirectExchangeTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					switch req.URL.Path {
					case "/ok":
						_, _ = io.WriteString(c, okAnswer)
					case "/stall-body":
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok")
					} // "/silent": nothing
				}
			}()
		}
	}()
	url := "http://" + ln.Addr().String()
	next := &countingTransport{}
	d := newDirectTransport(next, []string{ln.Addr().String()}, (&net.Dialer{}).DialContext, 200*time.Millisecond, time.Minute, 4, slog.New(slog.DiscardHandler))
	defer d.CloseIdleConnections()
	if _, _, err := getVia(context.Background(), d, "GET", url+"/ok"); err != nil {
		t.Fatal(err)
	}
	_, _, err = getVia(context.Background(), d, "GET", url+"/silent")
	if !isTimeout(err) {
		t.Fatalf("silent target: %v, want a timeout", err)
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("a timeout was retried: %d connections", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	d.headerTimeout = 0
	start := time.Now()
	if _, _, err := getVia(ctx, d, "GET", url+"/silent"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ended context in the header: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, _, err := getVia(ctx2, d, "GET", url+"/stall-body"); err == nil {
		t.Fatal("ended context in the body: no error")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("waited %v for two ended contexts", waited)
	}
}

// TestDirectExchangeIdleTimeout: idle connections are closed after
// idle_conn_timeout without further traffic.
func TestDirectExchangeIdleTimeout(t *testing.T) {
	s := newScriptedUpstream(t, okAnswer)
	d, _ := directFor(s, 50*time.Millisecond, 5*time.Second)
	if _, _, err := getVia(context.Background(), d, "GET", s.url()+"/"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was not closed")
	}
	p := d.pools[s.ln.Addr().String()]
	p.mu.Lock()
	n := len(p.idle)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle connections left in the pool", n)
	}
}

// TestDirectExchangeFallback: what the direct exchange does not take goes
// to the Transport, and which upstreams have it at all.
func TestDirectExchangeFallback(t *testing.T) {
	s := newScriptedUpstream(t, okAnswer)
	d, next := directFor(s, time.Minute, 5*time.Second)
	defer d.CloseIdleConnections()
	requests := []func() *http.Request{
		func() *http.Request { r, _ := http.NewRequest("POST", s.url()+"/", nil); return r },
		func() *http.Request { r, _ := http.NewRequest("DELETE", s.url()+"/", nil); return r },
		func() *http.Request {
			r, _ := http.NewRequest("GET", s.url()+"/", strings.NewReader("x"))
			return r
		},
		func() *http.Request {
			r, _ := http.NewRequest("GET", s.url()+"/", nil)
			r.Header.Set("Upgrade", "websocket")
			return r
		},
		func() *http.Request { r, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil); return r },
	}
	for i, mk := range requests {
		if _, err := d.RoundTrip(mk()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if got := next.n.Load(); got != int64(len(requests)) {
		t.Fatalf("%d of %d took the Transport", got, len(requests))
	}
	if s.requests.Load() != 0 {
		t.Fatal("the direct exchange sent one of them")
	}

	for _, tc := range []struct {
		name   string
		uc     config.Upstream
		direct bool
	}{
		{"http target", config.Upstream{Targets: []string{"http://127.0.0.1:1"}}, true},
		{"https only", config.Upstream{Targets: []string{"https://127.0.0.1:1"}}, false},
		{"h2c", config.Upstream{Targets: []string{"http://127.0.0.1:1"}, Protocol: config.UpstreamProtocolH2C}, false},
		{"max_conns_per_target", config.Upstream{Targets: []string{"http://127.0.0.1:1"}, MaxConnsPerTarget: 8}, false},
	} {
		tc.uc.Name = "u"
		u := newTestUpstream(t, tc.uc)
		if _, ok := u.transport.(*directTransport); ok != tc.direct {
			t.Errorf("%s: direct exchange %v, want %v", tc.name, ok, tc.direct)
		}
	}
}

// TestDirectAddress: a target written without a port is dialled at 80,
// as http.Transport does.
func TestDirectAddress(t *testing.T) {
	for host, want := range map[string]string{
		"backend": "backend:80", "backend:8080": "backend:8080", "backend:": "backend:80",
		"10.0.0.1": "10.0.0.1:80", "[::1]": "[::1]:80", "[::1]:9000": "[::1]:9000",
	} {
		if got := dialAddr(host); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", host, got, want)
		}
	}
	var dialed []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("refused")}
	}
	d := newDirectTransport(&countingTransport{}, []string{"backend"}, dial, time.Second, time.Minute, 4, slog.New(slog.DiscardHandler))
	req, _ := http.NewRequest("GET", "http://backend/x", nil)
	if _, err := d.RoundTrip(req); !connectFailure(err) {
		t.Fatalf("a dial failure must stay a dial failure (retries to other targets): %v", err)
	}
	if len(dialed) != 1 || dialed[0] != "backend:80" {
		t.Fatalf("dialled %q", dialed)
	}
}

// TestDirectBodyEnds: the body's first error is its answer to every later
// read (a stage that reads a head and puts it back in front of the body
// reads it again after io.EOF), and a body cut short never returns its
// connection to the pool, however often it is read.
func TestDirectBodyEnds(t *testing.T) {
	s := newScriptedUpstream(t, okAnswer)
	d, _ := directFor(s, time.Minute, 5*time.Second)
	defer d.CloseIdleConnections()
	req, _ := http.NewRequest("GET", s.url()+"/", nil)
	resp, err := d.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, 2))
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(io.MultiReader(bytes.NewReader(head), resp.Body))
	if err != nil || string(all) != "ok" {
		t.Fatalf("relayed %q, %v", all, err)
	}
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err != http.ErrBodyReadAfterClose {
		t.Fatalf("read after Close: %v", err)
	}

	cut := newScriptedUpstream(t, "!HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok")
	d2, _ := directFor(cut, time.Minute, 5*time.Second)
	defer d2.CloseIdleConnections()
	req, _ = http.NewRequest("GET", cut.url()+"/", nil)
	resp, err = d2.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a body cut short read as complete")
	}
	if _, err := resp.Body.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Fatalf("read again after the cut: %v, want the same error", err)
	}
	resp.Body.Close()
	if n := idleCount(d2, cut); n != 0 {
		t.Fatalf("%d connection(s) pooled after a body cut short", n)
	}
}

func idleCount(d *directTransport, s *scriptedUpstream) int {
	p := d.pools[s.ln.Addr().String()]
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// TestDirectConnectionLifetimes: what happens to a connection when its
// request ends early, when the body is slower than the header timeout,
// when the upstream is closed under a request in flight, and when a
// reused connection breaks mid-answer.
func TestDirectConnectionLifetimes(t *testing.T) {
	t.Run("the request's context ends: the connection is closed at once", func(t *testing.T) {
		s := newScriptedUpstream(t, okAnswer)
		d, _ := directFor(s, time.Minute, 5*time.Second)
		defer d.CloseIdleConnections()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", s.url()+"/", nil)
		if _, err := d.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		cancel() // the body is never read nor closed
		select {
		case <-s.closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection stayed open after its request ended")
		}
	})
	t.Run("a context that ended before sending sends nothing", func(t *testing.T) {
		s := newScriptedUpstream(t, okAnswer)
		d, _ := directFor(s, time.Minute, 5*time.Second)
		defer d.CloseIdleConnections()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := getVia(ctx, d, "GET", s.url()+"/"); !errors.Is(err, context.Canceled) {
			t.Fatalf("%v", err)
		}
		if s.conns.Load() != 0 {
			t.Fatal("a connection was made for an ended request")
		}
	})
	t.Run("a body slower than response_header_timeout is not cut", func(t *testing.T) {
		s := newScriptedUpstreamLater(t, time.Second, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\x00later:ok")
		d, _ := directFor(s, time.Minute, 300*time.Millisecond)
		defer d.CloseIdleConnections()
		if _, body, err := getVia(context.Background(), d, "GET", s.url()+"/"); err != nil || body != "ok" {
			t.Fatalf("%q %v", body, err)
		}
	})
	t.Run("closed while a request is in flight: its connection is not pooled", func(t *testing.T) {
		s := newScriptedUpstream(t, okAnswer)
		d, _ := directFor(s, 0, 5*time.Second)
		req, _ := http.NewRequest("GET", s.url()+"/", nil)
		resp, err := d.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		d.CloseIdleConnections() // a reload replaces the upstream
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if n := idleCount(d, s); n != 0 {
			t.Fatalf("%d connection(s) kept by a closed pool", n)
		}
		select {
		case <-s.closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection was not closed")
		}
	})
	t.Run("a reused connection that breaks mid-answer is not retried", func(t *testing.T) {
		s := newScriptedUpstream(t, okAnswer, "!HTTP/1.1 2")
		d, _ := directFor(s, time.Minute, 5*time.Second)
		defer d.CloseIdleConnections()
		if _, _, err := getVia(context.Background(), d, "GET", s.url()+"/"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := getVia(context.Background(), d, "GET", s.url()+"/"); err == nil {
			t.Fatal("no error")
		}
		if c, r := s.conns.Load(), s.requests.Load(); c != 1 || r != 2 {
			t.Fatalf("%d connections, %d requests: a started answer was retried", c, r)
		}
	})
	t.Run("each relayed 1xx gets the whole header bound", func(t *testing.T) {
		hint := "HTTP/1.1 103 Early Hints\r\nLink: " + strings.Repeat("b", 60<<10) + "\r\n\r\n"
		s := newScriptedUpstream(t, strings.Repeat(hint, 5)+okAnswer)
		d, _ := directFor(s, time.Minute, 5*time.Second)
		defer d.CloseIdleConnections()
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			Got1xxResponse: func(int, textproto.MIMEHeader) error { return nil },
		})
		if _, body, err := getVia(ctx, d, "GET", s.url()+"/"); err != nil || body != "ok" {
			t.Fatalf("%q %v", body, err)
		}
	})
}

// TestDirectConcurrency: many requests on a small pool with its reaper
// running and requests ending at random, for the race detector.
func TestDirectConcurrency(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") != "" {
			time.Sleep(time.Millisecond)
		}
		_, _ = io.WriteString(w, strings.Repeat("x", len(r.URL.RawQuery)*300))
	}))
	defer srv.Close()
	d := newDirectTransport(&countingTransport{}, []string{strings.TrimPrefix(srv.URL, "http://")},
		(&net.Dialer{}).DialContext, time.Second, 5*time.Millisecond, 2, slog.New(slog.DiscardHandler))
	defer d.CloseIdleConnections()
	var wg sync.WaitGroup
	var ok atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+(g+i)%4)*time.Millisecond)
				q := "?n=" + strings.Repeat("1", i%30)
				if i%3 == 0 {
					q += "&slow=1"
				}
				if _, _, err := getVia(ctx, d, "GET", srv.URL+"/"+q); err == nil {
					ok.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if ok.Load() == 0 {
		t.Fatal("no request succeeded")
	}
}

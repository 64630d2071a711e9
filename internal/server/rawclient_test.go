package server_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Conn is a raw HTTP/2 connection to the gateway, for requests net/http's
// client refuses to send (a body shorter than its content-length, an
// invalid :method).
type h2Conn struct {
	t    *testing.T
	conn *tls.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
	next uint32
}

func dialH2(t *testing.T, g *gw) *h2Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.base, "https://"), &tls.Config{RootCAs: g.ca.Pool(), NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &h2Conn{t: t, conn: conn, fr: http2.NewFramer(conn, conn), next: 1}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// request sends one stream: HEADERS with fields (pseudo-headers first), then
// data in one DATA frame ending the stream, or no DATA when data is nil. It
// returns the response status and body; status 0 means the gateway reset
// the stream.
func (c *h2Conn) request(fields [][2]string, data []byte) (int, string) {
	c.t.Helper()
	id := c.next
	c.next += 2
	c.hbuf.Reset()
	for _, f := range fields {
		if err := c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(),
		EndHeaders: true, EndStream: data == nil}); err != nil {
		c.t.Fatal(err)
	}
	if data != nil {
		if err := c.fr.WriteData(id, true, data); err != nil {
			c.t.Fatal(err)
		}
	}
	status := 0
	var body strings.Builder
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("reading stream %d: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v on stream %d", f.ErrCode, id)
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return 0, ""
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			if s := f.PseudoValue("status"); s != "" && s[0] != '1' {
				status = atoi(c.t, s)
			}
			if f.StreamEnded() {
				return status, body.String()
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			body.Write(f.Data())
			if len(f.Data()) > 0 {
				// Keep the gateway's send window open for long bodies.
				_ = c.fr.WriteWindowUpdate(0, uint32(len(f.Data())))
				_ = c.fr.WriteWindowUpdate(id, uint32(len(f.Data())))
			}
			if f.StreamEnded() {
				return status, body.String()
			}
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// dialH1 opens a raw HTTP/1.1 connection to the gateway over TLS.
func dialH1(t *testing.T, g *gw) *tls.Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.base, "https://"), &tls.Config{RootCAs: g.ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// readResponse reads one HTTP/1.1 response and its whole body.
func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// problemType returns the slug of a problem+json body.
func problemType(t *testing.T, body string) string {
	t.Helper()
	var p struct{ Type string }
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("not problem+json: %q", body)
	}
	return strings.TrimPrefix(p.Type, "https://portcullis.dev/problems/")
}

// waitAccessLine polls the access log (bounded) for a line match accepts.
func (g *gw) waitAccessLine(match func(map[string]any) bool) map[string]any {
	g.t.Helper()
	for range 200 {
		b, err := os.ReadFile(g.access)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			g.t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var m map[string]any
			if len(line) > 0 && json.Unmarshal(line, &m) == nil && match(m) {
				return m
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	g.t.Fatalf("no matching access log line in:\n%s", readAccess(g))
	return nil
}

func readAccess(g *gw) string {
	s, _ := readFile(g.access)
	return s
}

// protocol is a client transport a case runs over.
type protocol struct {
	name   string
	client *http.Client
}

// protocols returns clients for HTTP/1.1 and HTTP/2 to g.
func protocols(g *gw) []protocol {
	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()}, ForceAttemptHTTP2: true}
	g.t.Cleanup(h1.CloseIdleConnections)
	g.t.Cleanup(h2.CloseIdleConnections)
	return []protocol{
		{"HTTP/1.1", &http.Client{Transport: h1, Timeout: 10 * time.Second}},
		{"HTTP/2", &http.Client{Transport: h2, Timeout: 10 * time.Second}},
	}
}

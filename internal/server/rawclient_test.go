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
)

// dialGW is a raw HTTP/2 connection (h2raw_test.go) to the gateway g.
func dialGW(t *testing.T, g *gw) *h2conn {
	t.Helper()
	return dialH2(t, strings.TrimPrefix(g.base, "https://"), g.ca.Pool())
}

// exchange sends one stream on the next client stream id: HEADERS with
// fields (pseudo-headers first), then data in one DATA frame ending the
// stream, or no DATA when data is nil. It returns the response status and
// body; status 0 means the gateway reset the stream.
func (c *h2conn) exchange(fields [][2]string, data []byte) (int, string) {
	c.t.Helper()
	if c.next == 0 {
		c.next = 1
	}
	id := c.next
	c.next += 2
	flat := make([]string, 0, 2*len(fields))
	for _, f := range fields {
		flat = append(flat, f[0], f[1])
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headers(flat...),
		EndHeaders: true, EndStream: data == nil}); err != nil {
		c.t.Fatal(err)
	}
	if data != nil {
		if err := c.fr.WriteData(id, true, data); err != nil {
			c.t.Fatal(err)
		}
	}
	res := c.await(id)
	switch {
	case res.goaway:
		c.t.Fatalf("GOAWAY %v on stream %d", res.code, id)
	case res.readErr != nil:
		c.t.Fatalf("reading stream %d: %v", id, res.readErr)
	case res.rst != 0:
		return 0, ""
	}
	return res.status, res.body
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

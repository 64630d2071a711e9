package server_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const framingConfig = gatewayHead + `
routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
`

// Requests whose framing two HTTP parsers can read differently end their
// connection: net/http drops Content-Length when Transfer-Encoding:
// chunked is present, and ignores Transfer-Encoding on HTTP/1.0 (without
// a trace the handler could see), so a front proxy that reads the other
// header forwards bytes the gateway would take for a second request. After
// any HTTP/1.0 request and any chunked HTTP/1.1 request the gateway
// answers with Connection: close and closes; the bytes after the request
// are never parsed. Ordinary keep-alive (HTTP/1.1 with Content-Length)
// is kept.
func TestAmbiguousFramingClosesTheConnection(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	g := startGateway(t, framingConfig, map[string]string{"UP": up.URL})
	host := strings.TrimPrefix(g.base, "https://")
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	tests := []struct {
		name, request string
		keepAlive     bool // the second request is a legitimate pipelined one and is answered
	}{
		{"HTTP/1.1 Content-Length and Transfer-Encoding",
			"POST /first HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, false},
		{"HTTP/1.1 Transfer-Encoding and Content-Length",
			"POST /first HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled, false},
		{"HTTP/1.1 chunked",
			"POST /first HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled, false},
		{"HTTP/1.0 keep-alive with Transfer-Encoding (ignored by net/http)",
			"POST /first HTTP/1.0\r\nHost: " + host + "\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, false},
		{"HTTP/1.0 keep-alive GET with Transfer-Encoding",
			"GET /first HTTP/1.0\r\nHost: " + host + "\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, false},
		{"HTTP/1.0 keep-alive with Content-Length",
			"POST /first HTTP/1.0\r\nHost: " + host + "\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc" + smuggled, false},
		{"HTTP/1.1 Content-Length keeps the connection",
			"POST /first HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\n\r\nabc" + smuggled, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			paths = nil
			mu.Unlock()
			conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: g.ca.Pool(), NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("first response %d %q", resp.StatusCode, body)
			}
			if resp.Close == tt.keepAlive { // Close: "Connection: close" was sent
				t.Fatalf("Connection: close = %v, want %v", resp.Close, !tt.keepAlive)
			}
			second, err := http.ReadResponse(br, nil)
			if tt.keepAlive {
				if err != nil || second.StatusCode != 200 {
					t.Fatalf("pipelined request on a keep-alive connection: %v", err)
				}
				second.Body.Close()
			} else if err == nil {
				second.Body.Close()
				t.Fatalf("the bytes after the request were parsed as a request: %s", second.Status)
			} else if err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("after the response: %v, want the connection closed", err)
			}
			mu.Lock()
			defer mu.Unlock()
			want := "[/first]"
			if tt.keepAlive {
				want = "[/first /smuggled]"
			}
			if got := "[" + strings.Join(paths, " ") + "]"; got != want {
				t.Errorf("upstream saw %s, want %s", got, want)
			}
		})
	}
}

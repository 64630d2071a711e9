package server_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testissuer"
)

// wsUpstream answers an upgrade request with 101 and echoes every byte
// back; any other request gets 200 with what it saw of Upgrade,
// Connection and HTTP2-Settings. ended receives once per tunnel when the gateway closed it.
func wsUpstream(t *testing.T) (*upstream, chan struct{}) {
	ended := make(chan struct{}, 16)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ordinary request; upgrade="+r.Header.Get("Upgrade")+"; connection="+r.Header.Get("Connection")+
				"; http2-settings="+r.Header.Get("Http2-Settings"))
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + r.Header.Get("Upgrade") + "\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(conn, brw.Reader)
		ended <- struct{}{}
	})
	return u, ended
}

// upgrade sends an upgrade request over a raw HTTP/1.1 connection and reads
// the response head (and body, unless it is a 101).
func upgrade(t *testing.T, g *gw, path, upgradeTo string, extra ...string) (*tls.Conn, *bufio.Reader, *http.Response, string) {
	t.Helper()
	conn := dialH1(t, g)
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: " + upgradeTo +
		"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for i := 0; i+1 < len(extra); i += 2 {
		req += extra[i] + ": " + extra[i+1] + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return conn, br, resp, ""
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return conn, br, resp, string(b)
}

// echo writes msg into the tunnel and reads it back.
func echo(t *testing.T, conn net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
		t.Fatalf("echo: %q, %v; want %q", got, err, msg)
	}
}

// waitClosed reads until the gateway closes the tunnel (bounded).
func waitClosed(t *testing.T, conn net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := br.ReadByte()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("tunnel still open after 10s (read: %v)", err)
	}
}

const wsConfig = gatewayHead + `authenticators:
  - name: idp
    jwt:
      issuers:
        - issuer: "{{ISS}}"
          audiences: [api]
          jwks_url: "{{JWKS}}"
          ca_file: "{{ISSCA}}"
routes:
  - name: plain
    path: /plain
    upstream: api
    auth: none
  - name: ws
    path: /ws
    upstream: api
    auth: none
    websocket: true
  - name: ws-idle
    path: /ws-idle
    upstream: api
    auth: none
    websocket: true
    websocket_idle_timeout: 300ms
  - name: ws-short
    path: /ws-short
    upstream: api
    auth: none
    websocket: true
    websocket_max_lifetime: 500ms
  - name: ws-token
    path: /ws-token
    upstream: api
    auth: {authenticators: [idp]}
    websocket: true
logging:
  access:
    output: "{{ACCESS}}"
    flush_interval: 50ms
`

func startWSGateway(t *testing.T) (*gw, chan struct{}, *testissuer.Issuer) {
	t.Helper()
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = is.Close() })
	caFile := filepath.Join(t.TempDir(), "issuer-ca.pem")
	if err := is.CA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	up, ended := wsUpstream(t)
	g := startGateway(t, wsConfig, map[string]string{"UP": up.URL, "ISS": is.URL(), "JWKS": is.JWKSURL(), "ISSCA": caFile})
	return g, ended, is
}

// Upgrades are forwarded only on a route with websocket: true, and only to
// WebSocket: elsewhere the upstream sees an ordinary request (no Upgrade,
// no Connection) and the client gets its ordinary answer.
func TestUpgradeOnlyWhereAllowed(t *testing.T) {
	g, _, _ := startWSGateway(t)
	tests := []struct {
		name, path, upgradeTo string
		extra                 []string
	}{
		{name: "websocket on a route without websocket: true", path: "/plain", upgradeTo: "websocket"},
		{name: "h2c on a websocket route", path: "/ws", upgradeTo: "h2c", extra: []string{"HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"}},
		{name: "h2c smuggled in a list", path: "/ws", upgradeTo: "websocket, h2c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, resp, body := upgrade(t, g, tt.path, tt.upgradeTo, tt.extra...)
			if resp.StatusCode != 200 || body != "ordinary request; upgrade=; connection=; http2-settings=" {
				t.Fatalf("got %d %q; want the upstream's ordinary 200", resp.StatusCode, body)
			}
			if resp.Header.Get("Upgrade") != "" || resp.Header.Get("X-Request-Id") == "" {
				t.Fatalf("headers %v", resp.Header)
			}
		})
	}
}

// HTTP/2 has no Upgrade (RFC 9113 §8.2.2): a request that carries one is
// malformed, and net/http answers 400 itself before the gateway sees it.
func TestHTTP2UpgradeIsRefused(t *testing.T) {
	g, _, _ := startWSGateway(t)
	c := dialGW(t, g)
	st, body := c.exchange([][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "127.0.0.1"},
		{":path", "/ws"}, {"connection", "upgrade"}, {"upgrade", "websocket"}}, nil)
	if st != 400 || body != "request header \"Connection\" is not valid in HTTP/2\n" {
		t.Fatalf("got %d %q; want net/http's own 400", st, body)
	}
}

// On a websocket route the tunnel works, and the access log records it as
// 101 with the bytes tunnelled each way.
func TestWebSocketTunnelIsLogged(t *testing.T) {
	g, ended, _ := startWSGateway(t)
	conn, br, resp, _ := upgrade(t, g, "/ws", "websocket")
	if resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("got %d %v; want 101 to websocket", resp.StatusCode, resp.Header)
	}
	rid := resp.Header.Get("X-Request-Id")
	echo(t, conn, br, "ping")
	echo(t, conn, br, "hello tunnel")
	conn.Close()
	line := g.waitAccessLine(func(m map[string]any) bool { return m["request_id"] == rid })
	if line["status"] != float64(101) || line["route"] != "ws" || line["bytes_in"] != float64(16) || line["bytes_out"] != float64(16) {
		t.Fatalf("access log line %v; want status 101, route ws, 16 bytes each way", line)
	}
	if _, ok := line["error"]; ok {
		t.Fatalf("a tunnel the client closed logged an error: %v", line["error"])
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream side of the tunnel stayed open")
	}
}

// A tunnel is closed, on both sides, when it is idle too long, when it
// reaches its maximum lifetime, and when the token that opened it expires;
// the access log says which.
func TestWebSocketTunnelLimits(t *testing.T) {
	g, ended, is := startWSGateway(t)
	tests := []struct {
		name, path string
		header     func() []string
		wantError  string
	}{
		{name: "idle timeout", path: "/ws-idle", wantError: "tunnel closed by the gateway: idle for 300ms"},
		{name: "maximum lifetime", path: "/ws-short", wantError: "tunnel closed by the gateway: maximum lifetime 500ms reached"},
		{name: "token expiry", path: "/ws-token", wantError: "tunnel closed by the gateway: the credential that opened it expired",
			header: func() []string {
				return []string{"Authorization", "Bearer " + is.Sign(is.Claims("api", "alice", "", time.Now(), 2*time.Second))}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			if tt.header != nil {
				extra = tt.header()
			}
			conn, br, resp, _ := upgrade(t, g, tt.path, "websocket", extra...)
			if resp.StatusCode != 101 {
				t.Fatalf("got %d, want 101", resp.StatusCode)
			}
			rid := resp.Header.Get("X-Request-Id")
			echo(t, conn, br, "ping")
			waitClosed(t, conn, br)
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream side of the tunnel stayed open")
			}
			line := g.waitAccessLine(func(m map[string]any) bool { return m["request_id"] == rid })
			if line["status"] != float64(101) || line["error"] != tt.wantError || line["bytes_in"] != float64(4) || line["bytes_out"] != float64(4) {
				t.Fatalf("access log line %v; want status 101, error %q, 4 bytes each way", line, tt.wantError)
			}
		})
	}
	t.Run("no token, no tunnel", func(t *testing.T) {
		_, _, resp, body := upgrade(t, g, "/ws-token", "websocket")
		if resp.StatusCode != 401 || problemType(t, body) != "unauthenticated" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
}

package server_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/http2"

	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/testenv"
)

// watched is a running gateway whose application log is kept.
type watched struct {
	srv  *server.Server
	addr string
	env  *gatewaytest.Env
	logs *testenv.SyncBuffer
}

func startWatched(t *testing.T) *watched {
	t.Helper()
	return startWatchedWith(t, "")
}

// startWatchedWith is startWatched with upstream instead of the env's echo
// server ("" keeps it).
func startWatchedWith(t *testing.T, upstream string) *watched {
	t.Helper()
	env := gatewaytest.NewEnv(t)
	if upstream != "" {
		env.Upstream = upstream
	}
	w := &watched{env: env, logs: &testenv.SyncBuffer{}}
	yaml := env.Base("none") + `
routes:
  - name: all
    prefix: /
    upstream: echo
    auth: none
`
	log := slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(gatewaytest.Parse(t, yaml), server.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	w.srv, w.addr = srv, srv.Addr("public")
	return w
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func (w *watched) unhandled(reason string) float64 {
	return counterValue(w.srv.Metrics().Unhandled.WithLabelValues("public", reason))
}

// waitFor polls cond (the server counts a connection once it has closed
// it, after the client saw the answer); it bounds a hang, not a duration.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// logLines returns the application log lines with message msg.
func (w *watched) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(w.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

const refusedMsg = "request refused by the HTTP server before reaching the gateway (malformed, too large or timed out)"

// secret stands for request content (a path, a header value) that must
// never reach a log line about a refusal.
const secret = "4111111111111111"

// What net/http refuses on its own, before any handler runs, is counted
// (portcullis_connections_unhandled_total) and logged with the client IP
// and nothing of the request; HTTP/2 protocol errors are counted by type
// (portcullis_http2_errors_total).
func TestProtocolRefusalsAreCountedAndLogged(t *testing.T) {
	w := startWatched(t)
	pool := w.env.CA.Pool()
	h1 := []struct {
		name, request, status string
	}{
		{"malformed header line", "GET /" + secret + " HTTP/1.1\r\nHost: a\r\nX-Card " + secret + "\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"invalid Host", "GET /" + secret + " HTTP/1.1\r\nHost: a b\r\n\r\n", "HTTP/1.1 400 Bad Request: malformed Host header"},
		{"missing Host", "GET /" + secret + " HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request: missing required Host header"},
		{"headers over max_header_bytes", "GET /" + secret + " HTTP/1.1\r\nHost: a\r\nX-Pad: " + strings.Repeat(secret, 4096) + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
		{"unknown transfer-coding", "POST /" + secret + " HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 Not Implemented"},
		{"unsupported HTTP version", "GET /" + secret + " HTTP/3.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version"},
		{"request cut off", "GET /" + secret + " HTTP/1.1\r\nHost: a\r\n", ""},
	}
	for _, tt := range h1 {
		t.Run("HTTP/1.1/"+tt.name, func(t *testing.T) {
			before, lines := w.unhandled("refused"), len(w.logLines(t, refusedMsg))
			conn, err := tls.Dial("tcp", w.addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			if tt.status == "" {
				conn.Close()
			} else {
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				conn.Close()
				if got := resp.Proto + " " + resp.Status; got != tt.status {
					t.Fatalf("status line %q, want %q", got, tt.status)
				}
			}
			waitFor(t, "the refusal to be counted", func() bool { return w.unhandled("refused") == before+1 })
			// The line is written after the count: wait for it too.
			waitFor(t, "the refusal to be logged", func() bool { return len(w.logLines(t, refusedMsg)) > lines })
			got := w.logLines(t, refusedMsg)
			if len(got) != lines+1 {
				t.Fatalf("%d new log lines, want 1", len(got)-lines)
			}
			l := got[len(got)-1]
			if l["level"] != "INFO" || l["listener"] != "public" || l["client_ip"] != "127.0.0.1" || l["protocol"] != "HTTP/1.x" {
				t.Errorf("log line %v", l)
			}
		})
	}

	t.Run("HTTP/2/connection-specific header", func(t *testing.T) {
		before, lines := w.unhandled("refused"), len(w.logLines(t, refusedMsg))
		c := dialH2(t, w.addr, pool)
		c.request(1, ":method", "GET", ":scheme", "https", ":authority", w.addr, ":path", "/"+secret, "connection", "keep-alive")
		res := c.await(1)
		if res.status != 400 || res.header["content-type"] != "text/plain; charset=utf-8" {
			t.Fatalf("got %+v, want net/http's own 400", res)
		}
		waitFor(t, "the refused stream to be counted", func() bool { return w.unhandled("refused") == before+1 })
		waitFor(t, "the refused stream to be logged", func() bool { return len(w.logLines(t, refusedMsg)) > lines })
		got := w.logLines(t, refusedMsg)
		if l := got[len(got)-1]; l["protocol"] != "HTTP/2" || l["client_ip"] != "127.0.0.1" {
			t.Errorf("log line %v", l)
		}
	})

	t.Run("HTTP/2/protocol error", func(t *testing.T) {
		errs := w.srv.Metrics().HTTP2Errors.WithLabelValues("public", "frame_data_stream_0")
		before := counterValue(errs)
		c := dialH2(t, w.addr, pool)
		c.fr.AllowIllegalWrites = true
		if err := c.fr.WriteData(0, true, []byte(secret)); err != nil {
			t.Fatal(err)
		}
		if res := c.await(1); !res.goaway || res.code != http2.ErrCodeProtocol {
			t.Fatalf("got %+v, want GOAWAY PROTOCOL_ERROR", res)
		}
		waitFor(t, "the HTTP/2 error to be counted", func() bool { return counterValue(errs) == before+1 })
	})

	t.Run("TLS handshake failure", func(t *testing.T) {
		before := w.unhandled("tls_handshake")
		conn, err := net.Dial("tcp", w.addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, "GET /"+secret+" HTTP/1.1\r\nHost: a\r\n\r\n") // plain HTTP to a TLS port
		_, _ = io.Copy(io.Discard, conn)
		conn.Close()
		waitFor(t, "the failed handshake to be counted", func() bool { return w.unhandled("tls_handshake") == before+1 })
	})

	for _, p := range []string{"http/1.1", "h2"} {
		t.Run(p+"/no request", func(t *testing.T) {
			before := w.unhandled("no_request")
			conn, err := tls.Dial("tcp", w.addr, &tls.Config{RootCAs: pool, NextProtos: []string{p}})
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			waitFor(t, "the idle connection to be counted", func() bool { return w.unhandled("no_request") == before+1 })
		})
	}

	t.Run("served requests are not counted", func(t *testing.T) {
		waitFor(t, "the server to see every connection closed", func() bool { return w.srv.OpenConns() == 0 })
		before := w.unhandled("refused") + w.unhandled("no_request") + w.unhandled("tls_handshake")
		for _, p := range protos {
			c := p.client(t, pool)
			for range 3 {
				resp, err := c.Get("https://" + w.addr + "/v1/accounts")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				p.checkProto(t, resp)
			}
			c.CloseIdleConnections()
		}
		waitFor(t, "the server to see every connection closed", func() bool { return w.srv.OpenConns() == 0 })
		if after := w.unhandled("refused") + w.unhandled("no_request") + w.unhandled("tls_handshake"); after != before {
			t.Errorf("served connections counted as unhandled: %v -> %v", before, after)
		}
	})

	if strings.Contains(w.logs.String(), secret) {
		t.Errorf("request content reached the log:\n%s", w.logs.String())
	}
}

// "OPTIONS *" is answered by the gateway (400 problem+json with a request
// id, HSTS and an access log line), not by net/http's silent 200.
func TestOptionsAsteriskIsTheGatewaysAnswer(t *testing.T) {
	w := startWatched(t)
	pool := w.env.CA.Pool()
	check := func(t *testing.T, status int, ct, hsts, rid, body string) {
		t.Helper()
		want := strings.ReplaceAll(problemInvalidPath, "RID", rid)
		if status != 400 || ct != "application/problem+json" || hsts == "" || rid == "" || strings.TrimSpace(body) != want {
			t.Fatalf("got %d %q HSTS %q id %q: %s", status, ct, hsts, rid, body)
		}
	}
	t.Run("HTTP/1.1", func(t *testing.T) {
		conn, err := tls.Dial("tcp", w.addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: "+w.addr+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(t, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Strict-Transport-Security"), resp.Header.Get("X-Request-Id"), string(body))
	})
	t.Run("HTTP/2", func(t *testing.T) {
		c := dialH2(t, w.addr, pool)
		c.request(1, ":method", "OPTIONS", ":scheme", "https", ":authority", w.addr, ":path", "*")
		res := c.await(1)
		check(t, res.status, res.header["content-type"], res.header["strict-transport-security"], res.header["x-request-id"], res.body)
	})
	if n := w.unhandled("refused"); n != 0 {
		t.Errorf("OPTIONS * counted as refused %v times", n)
	}
}

// The plain-HTTP redirect listener refuses "OPTIONS *" too, instead of
// redirecting to "https://host*".
func TestRedirectListenerRefusesOptionsAsterisk(t *testing.T) {
	g, _ := startBase(t, "")
	conn, err := net.Dial("tcp", g.srv.Addr("public-redirect"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: api.example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := strings.ReplaceAll(problemInvalidPath, `,"request_id":"RID"`, "")
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || strings.TrimSpace(string(body)) != want {
		t.Fatalf("got %d Location %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

package server_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const bodyLimitConfig = gatewayHead + `
routes:
  - name: upload
    path: /v1/upload
    methods: [POST]
    upstream: api
    auth: none
    max_body_bytes: 4KiB
`

const problem413 = `{"type":"https://portcullis.dev/problems/payload-too-large","title":"Content Too Large","status":413,"detail":"The request body exceeds the limit of 4096 bytes.","request_id":"RID"}`

// A body over the route's limit gets its 413 as soon as the limit is
// crossed, while the client is still sending: the sender below never
// finishes its body (it stops after 64 KiB, far below the 256 KiB net/http
// would otherwise drain first), so the response can only arrive if the
// gateway answers without waiting for the rest. Over HTTP/1.1 the
// connection is closed after the 413 (the rest of the body is never
// parsed as a request).
func TestBodyLimitAnswersWhileTheClientIsStillSending(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, bodyLimitConfig, map[string]string{"UP": up.URL})
	for _, p := range protos {
		for _, declared := range []bool{false, true} {
			name := p.name + "/chunked"
			if declared {
				name = p.name + "/declared length"
			}
			t.Run(name, func(t *testing.T) {
				c := p.client(t, g.ca.Pool())
				pr, pw := io.Pipe()
				req, _ := http.NewRequest("POST", g.base+"/v1/upload", pr)
				req.ContentLength = -1
				if declared {
					req.ContentLength = 200 << 10 // announced, never all sent
				}
				// Bounds the test when no response comes: the transport
				// keeps reading the open body until it ends.
				stop := time.AfterFunc(15*time.Second, func() { pw.CloseWithError(errors.New("no response while the body was open")) })
				defer stop.Stop()
				done := make(chan struct{})
				sent := make(chan int, 1)
				go func() {
					n := 0
					chunk := []byte(strings.Repeat("x", 1024))
					for n < 64<<10 {
						select {
						case <-done:
							sent <- n
							return
						default:
						}
						if _, err := pw.Write(chunk); err != nil {
							sent <- n
							return
						}
						n += len(chunk)
					}
					sent <- n // and the body stays open
				}()
				resp, err := c.Do(req)
				close(done)
				pw.CloseWithError(errors.New("test over"))
				n := <-sent
				if err != nil {
					t.Fatalf("no response while the body was still open (%d bytes sent): %v", n, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				p.checkProto(t, resp)
				if resp.StatusCode != 413 {
					t.Fatalf("status = %d, want 413; body %s", resp.StatusCode, body)
				}
				if want := strings.ReplaceAll(problem413, "RID", resp.Header.Get("X-Request-Id")); strings.TrimSpace(string(body)) != want {
					t.Errorf("body = %s\nwant   %s", body, want)
				}
				if p.major == 1 && !resp.Close {
					t.Error("HTTP/1.1 connection kept open after a 413 with an unread body")
				}
				if up.hits.Load() != 0 {
					t.Error("the upstream received part of the body")
				}
			})
		}
	}
}

// Over raw HTTP/1.1: once the 413 is written the connection closes, so
// bytes the client sends after the limit (here a complete second request
// hidden in the body) are never parsed as a request.
func TestBodyLimitClosesTheConnection(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, bodyLimitConfig, map[string]string{"UP": up.URL})
	host := strings.TrimPrefix(g.base, "https://")
	smuggled := "GET /v1/upload HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	over := strings.Repeat("x", 5000)
	for _, tt := range []struct{ name, head, body string }{
		{"chunked", "Transfer-Encoding: chunked\r\n", fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(over), over)},
		{"content-length", fmt.Sprintf("Content-Length: %d\r\n", len(over)), over},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: g.ca.Pool(), NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, "POST /v1/upload HTTP/1.1\r\nHost: "+host+"\r\n"+tt.head+"\r\n"+tt.body+smuggled); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 413 || !resp.Close { // Close: "Connection: close" was sent
				t.Fatalf("got %d, close %v; want 413 and Connection: close", resp.StatusCode, resp.Close)
			}
			if rest, err := io.ReadAll(br); len(rest) != 0 {
				t.Fatalf("a second response followed (%v): %q", err, rest)
			}
			if up.hits.Load() != 0 {
				t.Error("the upstream received a request")
			}
		})
	}
}

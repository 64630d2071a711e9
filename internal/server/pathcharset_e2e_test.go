package server_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const pathCharsetConfig = gatewayHead + `
routes:
  - name: open
    prefix: /open
    upstream: api
    auth: none
  - name: strict
    prefix: /strict
    upstream: api
    auth: none
    path_charset: ascii
`

// Invalid and overlong UTF-8 is refused on every route (a lenient decoder
// in a backend turns %c0%ae into "."); valid Unicode passes unless the
// route says path_charset: ascii, which also refuses full-width look-alikes
// of "." and "/" that a backend folding Unicode (NFKC) would turn into "..".
func TestPathCharset(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, pathCharsetConfig, map[string]string{"UP": up.URL})
	tests := []struct {
		name, path string
		status     int
		upstream   string // the path the upstream saw, when it is reached
	}{
		{"overlong dot, 2 bytes", "/open/%c0%ae%c0%ae/admin", 400, ""},
		{"overlong dot, 3 bytes", "/open/%e0%80%ae%e0%80%ae/admin", 400, ""},
		{"overlong slash", "/open/..%c0%af..%c0%afadmin", 400, ""},
		{"lone continuation byte", "/open/a%80b", 400, ""},
		{"latin-1 byte", "/open/caf%e9", 400, ""},
		{"utf-8 on an open route", "/open/caf%C3%A9", 200, "/open/café"},
		{"full-width dots on an open route", "/open/%EF%BC%8E%EF%BC%8E/admin", 200, "/open/\uff0e\uff0e/admin"},
		{"ascii on a strict route", "/strict/accounts", 200, "/strict/accounts"},
		{"overlong on a strict route", "/strict/%c0%ae%c0%ae/admin", 400, ""},
		{"utf-8 on a strict route", "/strict/caf%C3%A9", 400, ""},
		{"full-width dots on a strict route", "/strict/%EF%BC%8E%EF%BC%8E/admin", 400, ""},
		{"full-width solidus on a strict route", "/strict/a%EF%BC%8Fb", 400, ""},
	}
	for _, p := range protos {
		c := p.client(t, g.ca.Pool())
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				before := up.hits.Load()
				req, _ := http.NewRequest("GET", g.base+tt.path, nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				p.checkProto(t, resp)
				if resp.StatusCode != tt.status {
					t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
				}
				if tt.status == 400 {
					want := strings.ReplaceAll(problemInvalidPath, "RID", resp.Header.Get("X-Request-Id"))
					if strings.TrimSpace(string(body)) != want || resp.Header.Get("Content-Type") != "application/problem+json" {
						t.Errorf("body = %s (%s)\nwant   %s", body, resp.Header.Get("Content-Type"), want)
					}
					if up.hits.Load() != before {
						t.Error("the upstream received the request")
					}
					return
				}
				var got struct{ Path string }
				if err := json.Unmarshal(body, &got); err != nil || got.Path != tt.upstream {
					t.Errorf("upstream path = %q (%v), want %q", got.Path, err, tt.upstream)
				}
			})
		}
	}

	// Raw bytes in the request line, as no client library sends them.
	for _, tt := range []struct{ name, target, status string }{
		{"raw overlong", "/open/\xc0\xae\xc0\xae/admin", "HTTP/1.1 400 Bad Request"},
		{"raw latin-1", "/open/caf\xe9", "HTTP/1.1 400 Bad Request"},
		{"raw utf-8 on a strict route", "/strict/caf\xc3\xa9", "HTTP/1.1 400 Bad Request"},
	} {
		t.Run("raw/"+tt.name, func(t *testing.T) {
			before := up.hits.Load()
			host := strings.TrimPrefix(g.base, "https://")
			conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: g.ca.Pool(), NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, "GET "+tt.target+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Proto + " " + resp.Status; got != tt.status {
				t.Fatalf("status line %q, want %q", got, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q: not the gateway's answer", ct)
			}
			if up.hits.Load() != before {
				t.Error("the upstream received the request")
			}
		})
	}
}

package observe

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// TestAccessLogLine: one line per request, the fields a reader expects,
// credentials and card numbers redacted, and no allocation of its own for
// an ordinary request (the line is encoded into a pooled buffer).
func TestAccessLogLine(t *testing.T) {
	var out bytes.Buffer
	a := &AccessLog{out: NewBufferedWriter(&out, nil, 64<<10, time.Hour)}
	a.Configure(config.AccessLog{Headers: []string{"x-partner", "authorization"}})
	r := httptest.NewRequest("GET", "https://api.example/v1/cards?pan=4111111111111111&access_token=s3cr3t", nil)
	r.Header.Set("Authorization", "Bearer s3cr3t")
	r.Header.Set("X-Partner", "acme")
	r.Header.Set("User-Agent", "curl/8.0")
	r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
	info := &reqinfo.Info{ID: "req-1", ClientIP: netip.MustParseAddr("192.0.2.7"), Route: "cards", Upstream: "core",
		UpstreamLatency: 1500 * time.Microsecond, Principal: &principal.Principal{ConsumerID: "c1", Method: "jwt"}}
	a.Log(r, info, Entry{Status: 200, BytesOut: 12, Duration: 2 * time.Millisecond})
	if err := a.out.Flush(); err != nil {
		t.Fatal(err)
	}
	line := out.String()
	if strings.Count(line, "\n") != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", line, err)
	}
	want := map[string]any{
		"level": "INFO", "msg": "access", "request_id": "req-1", "client_ip": "192.0.2.7", "method": "GET",
		"host": "api.example", "path": "/v1/cards", "status": 200.0, "bytes_in": 0.0, "bytes_out": 12.0,
		"duration_ms": 2.0, "route": "cards", "upstream": "core", "upstream_latency_ms": 1.5, "user_agent": "curl/8.0",
		"tls_version": "TLS1.3", "consumer": "c1", "auth_method": "jwt", "header.X-Partner": "acme",
		"header.Authorization": Redacted,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	for _, secret := range []string{"s3cr3t", "4111111111111111"} {
		if strings.Contains(line, secret) {
			t.Errorf("the line holds %q: %s", secret, line)
		}
	}

	if raceEnabled {
		t.Log("allocation count not checked under the race detector")
		return
	}
	r.URL.RawQuery = ""
	if n := testing.AllocsPerRun(200, func() { a.Log(r, info, Entry{Status: 200}) }); n != 0 {
		t.Errorf("a line allocates %.1f times, want 0", n)
	}
}

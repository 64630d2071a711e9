package secmon_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The attack's payloads: a SQL injection carrying a card number, and a
// JSON body the validation refuses that carries the same card number.
// Neither may reach the security log or the events.
const (
	burstCard = "4111111111111111"
	burstSQLi = burstCard + "' OR '1'='1' --"
)

// A burst of WAF-blocked requests from one client IP trips
// rejection_bursts (a detection, then the configured block), over HTTP/1.1
// and HTTP/2 through the real TLS gateway; a benign set of the same volume
// from another IP does not; and no request value reaches the security log
// or the events.
func TestRejectionBurstsThroughTheGateway(t *testing.T) {
	w := newWorld(t)
	const n = 12 // threshold is 10 (e2e_helpers_test.go)
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto+"/attack", func(t *testing.T) {
			g := w.start(gwOptions{})
			g.t = t
			g.useProto(t, w, proto)
			const ip = "203.0.113.50"
			for i := range n {
				r := g.doProto(proto, ip, "GET", "/v1/search?q="+url.QueryEscape(burstSQLi), "", "")
				if i < 10 && (r.status != 403 || !strings.Contains(r.body, `"type":"https://portcullis.dev/problems/waf-blocked"`)) {
					t.Fatalf("request %d: %d %s", i, r.status, r.body)
				}
			}
			// One validation refusal (invalid JSON after the card number).
			r := g.doProto(proto, "203.0.113.51", "POST", "/v1/search", "application/json", `{"card":"`+burstCard+`","x":`)
			if r.status != 400 || !strings.Contains(r.body, `"type":"https://portcullis.dev/problems/invalid-json"`) {
				t.Fatalf("validation: %d %s", r.status, r.body)
			}
			det := g.waitDetection("rejection_bursts")
			if det.Action != "block" || det.Subject != "ip:"+ip || det.Evidence["rejections"] < 10 {
				t.Fatalf("detection = %+v", det)
			}
			g.waitEvent("block_imposed", "rejection_bursts")
			// The response: the source is refused everywhere, others are not.
			if r := g.doProto(proto, ip, "GET", "/status", "", ""); r.status != 403 ||
				!strings.Contains(r.body, `"type":"https://portcullis.dev/problems/security-blocked"`) {
				t.Fatalf("after the burst: %d %s", r.status, r.body)
			}
			if r := g.doProto(proto, "203.0.113.60", "GET", "/status", "", ""); r.status != 200 {
				t.Fatalf("another source after the burst: %d %s", r.status, r.body)
			}
			waf := g.events("type=waf_rejected&client_ip=" + ip)
			if len(waf) < 10 || waf[0].Status != 403 || !strings.HasPrefix(waf[0].Reason, "waf-blocked request rule_ids=") {
				t.Fatalf("waf events = %+v", waf)
			}
			val := g.events("type=validation_rejected")
			if len(val) != 1 || val[0].Status != 400 || !strings.HasPrefix(val[0].Reason, "invalid-json") {
				t.Fatalf("validation events = %+v", val)
			}
			// No request value in the log or the events: only rule ids,
			// pointers and kinds.
			log := g.waitLog(`"type":"waf_rejected"`, `"type":"validation_rejected"`, `"type":"block_imposed"`)
			all, _ := json.Marshal(g.events(""))
			for _, v := range []string{burstCard, "OR '1'", "OR \\u00271", "OR+", "%27"} {
				if strings.Contains(log, v) || strings.Contains(string(all), v) {
					t.Errorf("request value %q reached the security log or events", v)
				}
			}
		})
		t.Run(proto+"/benign", func(t *testing.T) {
			g := w.start(gwOptions{})
			g.t = t
			g.useProto(t, w, proto)
			for i := range n + 1 {
				if r := g.doProto(proto, "203.0.113.70", "GET", "/v1/search?q=savings+account", "", ""); r.status != 200 {
					t.Fatalf("request %d: %d %s", i, r.status, r.body)
				}
			}
			g.drained()
			if evs := g.events("type=detection"); len(evs) > 0 {
				t.Fatalf("benign traffic triggered: %+v", evs)
			}
			if evs := g.events("type=waf_rejected"); len(evs) > 0 {
				t.Fatalf("benign traffic was rejected: %+v", evs)
			}
		})
	}
}

// useProto sets the gateway client to speak proto.
func (g *gw) useProto(t *testing.T, w *world, proto string) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}, ForceAttemptHTTP2: proto == "HTTP/2.0"}
	g.client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
}

// doProto sends one request as client ip and checks it went over proto.
func (g *gw) doProto(proto, ip, method, path, ctype, body string) reply {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", ip)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Proto != proto {
		g.t.Fatalf("%s %s went over %s, want %s", method, path, resp.Proto, proto)
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b.String()}
}

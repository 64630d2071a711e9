package secmon_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/secmon"
	"github.com/portcullis/portcullis/internal/testenv"
)

// A credential stuffing run against the real gateway reaches every sink:
// the security log, a syslog collector over TLS (valid RFC 5425 frames of
// valid RFC 5424 messages) and a webhook receiver (each POST signed, the
// signature verifying, only the configured types); and no sink, nor the
// admin API, ever holds a key, a token or the webhook secret that was
// used.
func TestShippingAndNoSecrets(t *testing.T) {
	w := newWorld(t)
	siem := startSyslogReceiver(t, w.ca, "127.0.0.1:0")
	hook := startHookReceiver(t, w.ca)
	ca := filepath.Join(w.dir, "ca.crt")
	g := w.start(gwOptions{extra: `  syslog:
    enabled: true
    address: "` + siem.ln.Addr().String() + `"
    tls: {ca_file: "` + ca + `"}
    min_severity: info
    hostname: gw-test
  webhooks:
    - name: soc
      url: "` + hook.srv.URL + `/hooks/portcullis"
      ca_file: "` + ca + `"
      secret: ${WEBHOOK_SECRET}
      retry_backoff: 10ms
`})
	g.replay(loadTraffic(t, "credential_stuffing.attack"))
	used := append([]string(nil), g.sentKeys...) // every credential text the clients sent
	for i, k := range g.keys {
		used = append(used, k)
		g.do(fmt.Sprintf("203.0.113.%d", 50+i), "GET", "/v1/accounts", k)
		// A valid key in the query string of a route that does not take
		// one: refused, and the query never reaches an event.
		g.do("203.0.113.60", "GET", "/v1/nope?api_key="+k, "")
	}
	used = append(used, g.adminToken, webhookSecret)
	g.adminDo("GET", "/v1/whoami", g.adminToken+"x")
	det := g.waitDetection("credential_stuffing")
	g.drained()

	// Syslog: the detection and the block, with the event's fields.
	var sawDetection, sawBlock bool
	eventually(t, "syslog delivery", func() bool {
		sawDetection, sawBlock = false, false
		for _, m := range siem.messages() {
			if m.SDID != "portcullis@32473" || m.App != "portcullis" || m.Host != "gw-test" || m.Version != 1 {
				t.Fatalf("syslog message header: %+v", m)
			}
			switch m.MsgID {
			case "detection":
				sawDetection = m.Params["detector"] == "credential_stuffing" && m.Params["id"] == det.ID &&
					m.Pri == 10*8+3 && m.Params["subject"] == "ip:203.0.113.10"
			case "block_imposed":
				sawBlock = m.Params["block_id"] != ""
			}
		}
		return sawDetection && sawBlock
	})

	// Webhooks: signed, verifiable, only the default types.
	var hookTypes []string
	eventually(t, "webhook delivery", func() bool { return len(hook.requests()) >= 2 })
	for _, r := range hook.requests() {
		if err := secmon.VerifySignature([]byte(webhookSecret), r.header.Get(secmon.SignatureHeader), r.body, time.Now(), 5*time.Minute); err != nil {
			t.Fatalf("webhook signature: %v (%q)", err, r.header.Get(secmon.SignatureHeader))
		}
		var ev secmon.EventView
		if err := json.Unmarshal(r.body, &ev); err != nil || ev.ID != r.header.Get(secmon.EventIDHeader) {
			t.Fatalf("webhook body %s: %v", r.body, err)
		}
		hookTypes = append(hookTypes, ev.Type)
	}
	if strings.Join(hookTypes, ",") != "detection,block_imposed" {
		t.Fatalf("webhook got %v", hookTypes)
	}
	// A body changed on the way does not verify.
	r0 := hook.requests()[0]
	if err := secmon.VerifySignature([]byte(webhookSecret), r0.header.Get(secmon.SignatureHeader),
		[]byte(strings.Replace(string(r0.body), "high", "info", 1)), time.Now(), 5*time.Minute); err == nil {
		t.Fatal("a tampered body verified")
	}

	// No secret anywhere.
	log := g.waitLog(`"type":"block_imposed"`, `"type":"admin_auth_failure"`)
	events := g.adminDo("GET", "/v1/security/events?limit=500", g.adminToken).body
	var hooks strings.Builder
	for _, r := range hook.requests() {
		hooks.Write(r.body)
		fmt.Fprint(&hooks, r.header)
	}
	for sink, out := range map[string]string{"security log": log, "syslog": siem.bytes(), "webhooks": hooks.String(), "admin API events": events} {
		for _, c := range used {
			for _, piece := range keystest.Secretish(c) {
				if strings.Contains(out, piece) {
					t.Errorf("%s holds a secret (%q...)", sink, piece[:12])
				}
			}
		}
	}
	if !strings.Contains(events, `"type":"auth_failure"`) || !strings.Contains(events, `"credential_id":"`) {
		t.Fatalf("admin API events lack the failures: %s", events)
	}
}

func monitorConfig(mod func(*config.Security)) config.Security {
	var sc config.Security
	off := false
	sc.Log.Enabled = &off
	if mod != nil {
		mod(&sc)
	}
	return config.WithDefaults(sc)
}

// A syslog collector that is down costs nothing to the emitters: events
// wait in the bounded buffer, what does not fit is dropped and counted,
// and once the collector is up the buffered ones arrive. Every event is
// either delivered or counted as dropped.
func TestSyslogCollectorDown(t *testing.T) {
	w := newWorld(t)
	port := testenv.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	m, err := secmon.New(secmon.Options{Config: monitorConfig(func(sc *config.Security) {
		sc.Syslog = config.Syslog{Enabled: true, Address: addr, TLS: config.SyslogTLS{CAFile: filepath.Join(w.dir, "ca.crt")},
			BufferSize: 5, MinSeverity: "info", RetryInterval: config.Duration(20 * time.Millisecond)}
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const n = 40
	for i := range n {
		m.Emit(secevent.Event{Type: secevent.AuthFailure, Reason: "event " + strconv.Itoa(i)})
	}
	dropped := func() float64 { return metricValue(t, m, "portcullis_security_sink_dropped_total", "sink", "syslog") }
	eventually(t, "the monitor to hand every event to syslog", func() bool {
		return metricValue(t, m, "portcullis_security_queue_length") == 0 && dropped() >= n-6
	})
	eventually(t, "a connection error", func() bool {
		return metricValue(t, m, "portcullis_security_sink_errors_total", "sink", "syslog") >= 1
	})
	if up := metricValue(t, m, "portcullis_security_syslog_connected"); up != 0 {
		t.Fatalf("syslog_connected = %v while the collector is down", up)
	}
	siem := startSyslogReceiver(t, w.ca, addr)
	eventually(t, "the buffered events to arrive", func() bool { return float64(len(siem.messages()))+dropped() == n })
	if got := metricValue(t, m, "portcullis_security_sink_events_total", "sink", "syslog"); got != float64(len(siem.messages())) {
		t.Fatalf("sent %v, received %d", got, len(siem.messages()))
	}
	if metricValue(t, m, "portcullis_security_syslog_connected") != 1 {
		t.Fatal("not reported connected")
	}
	// Delivered in order: the oldest buffered event first.
	first := siem.messages()[0].Params["reason"]
	if first != "event 0" {
		t.Fatalf("first delivered %q", first)
	}
}

// A webhook receiver that fails is retried with backoff, then the event
// is a dead letter (counted); a receiver that hangs fills the bounded
// queue, and what does not fit is dropped and counted, never waited for.
func TestWebhookReceiverDown(t *testing.T) {
	w := newWorld(t)
	hook := startHookReceiver(t, w.ca)
	mk := func(queue int) *secmon.Monitor {
		m, err := secmon.New(secmon.Options{Config: monitorConfig(func(sc *config.Security) {
			sc.Webhooks = []config.Webhook{{Name: "soc", URL: hook.srv.URL, CAFile: filepath.Join(w.dir, "ca.crt"),
				Secret: webhookSecret, MaxRetries: 2, RetryBackoff: config.Duration(5 * time.Millisecond), QueueSize: queue}}
		})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		return m
	}
	t.Run("failing receiver: retries, then a dead letter", func(t *testing.T) {
		hook.mu.Lock()
		hook.status, hook.got = 503, nil
		hook.mu.Unlock()
		m := mk(10)
		m.Emit(secevent.Event{Type: secevent.Detection, Detector: "scanning"})
		eventually(t, "a dead letter", func() bool {
			return metricValue(t, m, "portcullis_security_webhook_dead_letters_total", "webhook", "soc") == 1
		})
		if got := len(hook.requests()); got != 3 {
			t.Fatalf("%d attempts, want 1 + max_retries (2)", got)
		}
		if got := metricValue(t, m, "portcullis_security_sink_errors_total", "sink", "webhook"); got != 3 {
			t.Fatalf("errors = %v", got)
		}
	})
	t.Run("hanging receiver: the queue is bounded", func(t *testing.T) {
		hold := make(chan struct{})
		hook.mu.Lock()
		hook.status, hook.got, hook.hold = 200, nil, hold
		hook.mu.Unlock()
		m := mk(2)
		const n = 10
		for range n {
			m.Emit(secevent.Event{Type: secevent.BlockImposed})
		}
		// Not a webhook type: never queued.
		m.Emit(secevent.Event{Type: secevent.AuthFailure})
		dropped := func() float64 { return metricValue(t, m, "portcullis_security_sink_dropped_total", "sink", "webhook") }
		eventually(t, "the queue to fill", func() bool {
			return metricValue(t, m, "portcullis_security_queue_length") == 0 && dropped() >= n-3
		})
		hook.mu.Lock()
		hook.hold = nil
		hook.mu.Unlock()
		close(hold)
		sent := func() float64 { return metricValue(t, m, "portcullis_security_sink_events_total", "sink", "webhook") }
		eventually(t, "the queued events", func() bool { return sent()+dropped() == n })
		if got := len(hook.requests()); float64(got) != sent() {
			t.Fatalf("receiver got %d, sent %v", got, sent())
		}
	})
}

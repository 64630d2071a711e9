package secmon_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/secmon"
)

// syslogReceiver is a SIEM's TLS syslog input: it reads RFC 5425 frames
// and parses each RFC 5424 message; a frame or message that does not
// parse fails the test.
type syslogReceiver struct {
	t    *testing.T
	ln   net.Listener
	mu   sync.Mutex
	raw  []byte
	msgs []secmon.Message5424
}

func startSyslogReceiver(t *testing.T, ca *pki.CA, addr string) *syslogReceiver {
	t.Helper()
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "siem", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	r := &syslogReceiver{t: t, ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return r
}

func (r *syslogReceiver) serve(c net.Conn) {
	defer c.Close()
	var buf []byte
	chunk := make([]byte, 32<<10)
	for {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		r.mu.Lock()
		r.raw = append(r.raw, chunk[:n]...)
		for {
			msg, rest, ok, ferr := secmon.ReadFrame(buf)
			if ferr != nil {
				r.t.Errorf("syslog receiver: bad frame %q", buf)
				r.mu.Unlock()
				return
			}
			if !ok {
				break
			}
			m, perr := secmon.Parse5424(msg)
			if perr != nil {
				r.t.Errorf("syslog receiver: bad RFC 5424 message %q", msg)
			}
			r.msgs = append(r.msgs, m)
			buf = rest
		}
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (r *syslogReceiver) messages() []secmon.Message5424 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]secmon.Message5424(nil), r.msgs...)
}

func (r *syslogReceiver) bytes() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.raw)
}

// hookReceiver is a webhook receiver over TLS: it records what it got
// and answers with status (200 unless changed).
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []hookRequest
	status int
	hold   chan struct{} // when set, requests wait for it to close
}

type hookRequest struct {
	header http.Header
	body   []byte
}

func startHookReceiver(t *testing.T, ca *pki.CA) *hookReceiver {
	t.Helper()
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "soc", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{status: 200}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, hookRequest{header: r.Header.Clone(), body: b})
		status, hold := h.status, h.hold
		h.mu.Unlock()
		if hold != nil {
			<-hold
		}
		w.WriteHeader(status)
	}))
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// metricValue reads one series of the monitor's metrics (labels as
// name=value pairs).
func metricValue(t *testing.T, m *secmon.Monitor, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range m.Collectors() {
		reg.MustRegister(c)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(s, labels[i], labels[i+1]) {
					continue series
				}
			}
			if c := s.GetCounter(); c != nil {
				return c.GetValue()
			}
			return s.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func hasLabel(s *dto.Metric, name, value string) bool {
	for _, l := range s.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// eventually polls cond (which waits on another goroutine) for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package proxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// upstreamFor builds an upstream whose targets are ejected when half of
// at least minRequests requests in a window fail (0: the defaults).
func upstreamFor(t *testing.T, targets []string, retries, minRequests int) *Upstream {
	t.Helper()
	return newTestUpstream(t, config.Upstream{Name: "u", Targets: targets, Retries: &retries,
		PassiveEjection: config.PassiveEjection{MinRequests: minRequests}})
}

// newTestUpstream builds uc with defaults applied, closed when t ends.
func newTestUpstream(t *testing.T, uc config.Upstream) *Upstream {
	t.Helper()
	cfg := config.WithDefaults(config.Config{Upstreams: []config.Upstream{uc}})
	u, err := NewUpstream(cfg.Upstreams[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func okServer(t *testing.T, hits *atomic.Int64) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func send(u *Upstream, method string, body io.Reader) (int, error) {
	req := httptest.NewRequest(method, "http://gateway/x", body)
	req.RequestURI = ""
	resp, err := u.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestRetriesOnlyIdempotentWithoutBody(t *testing.T) {
	var hits atomic.Int64
	dead, live := deadAddr(t), okServer(t, &hits)
	tests := []struct {
		name   string
		method string
		body   io.Reader
		ok     bool
	}{
		{"GET retried on the live target", "GET", nil, true},
		{"DELETE retried", "DELETE", nil, true},
		{"POST never retried", "POST", strings.NewReader("{}"), false},
		{"PUT with a body not retried", "PUT", strings.NewReader("{}"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := upstreamFor(t, []string{dead, live}, 1, 100)
			u.next.Store(uint64(len(u.Targets)) - 1) // next pick is the dead target
			code, err := send(u, tt.method, tt.body)
			if tt.ok && (err != nil || code != 200) {
				t.Fatalf("got %d, %v; want 200 via retry", code, err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("got %d; want the connect error (no retry)", code)
			}
		})
	}
}

func TestPassiveEjection(t *testing.T) {
	var hits atomic.Int64
	dead, live := deadAddr(t), okServer(t, &hits)
	u := upstreamFor(t, []string{dead, live}, 0, 4)
	now := time.Unix(1000, 0)
	u.now = func() time.Time { return now }
	failures := 0
	for i := 0; i < 20; i++ {
		if _, err := send(u, "POST", nil); err != nil {
			failures++
		}
	}
	// The dead target served 4 requests, all failed: ratio 1 over the
	// minimum of 4 ejects it; everything after goes to the live one.
	if failures != 4 || hits.Load() != 16 {
		t.Fatalf("failures=%d live hits=%d; want 4 and 16", failures, hits.Load())
	}
	if u.Targets[0].Available(now) {
		t.Fatal("dead target still available")
	}
	now = now.Add(31 * time.Second)
	if !u.Targets[0].Available(now) {
		t.Fatal("dead target not back after eject_for")
	}
}

// A retry that finds no other target returns the cause of the failure it
// retried (502 with the cause logged), not ErrNoHealthyTarget (503).
func TestRetryWithoutAnotherTarget(t *testing.T) {
	u := upstreamFor(t, []string{deadAddr(t)}, 1, 0)
	_, err := send(u, "GET", nil)
	if !connectFailure(err) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want the connect error", err)
	}
}

// The only target of an upstream is never ejected: requests keep reaching
// it and the upstream stays ready.
func TestOnlyTargetNeverEjected(t *testing.T) {
	u := upstreamFor(t, []string{deadAddr(t)}, 0, 2)
	now := time.Unix(1000, 0)
	u.now = func() time.Time { return now }
	for range 10 {
		if _, err := send(u, "GET", nil); err == nil || errors.Is(err, ErrNoHealthyTarget) {
			t.Fatalf("err = %v, want the connect error", err)
		}
	}
	if !u.Healthy() || u.Targets[0].Ejected(now) {
		t.Fatal("the only target was ejected")
	}
}

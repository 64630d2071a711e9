// Package proxy owns the way to the backends: upstreams with round-robin
// targets, active health checks and passive ejection, one tuned
// http.Transport per upstream, retries for idempotent requests, and the
// forwarder that sends a route's requests (its own exchange on the
// Transport; httputil.ReverseProxy only for WebSocket tunnels) and maps
// upstream failures to 502/503/504 problems.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/lifecycle"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// ErrNoHealthyTarget is returned when every target of an upstream is down
// or ejected.
var ErrNoHealthyTarget = errors.New("no healthy upstream target")

// Upstream is a named set of targets reached through one Transport.
type Upstream struct {
	Name    string
	Targets []*Target

	spanName    string // "upstream <Name>", for client spans
	tracerCache atomic.Pointer[cachedTracer]

	next         atomic.Uint64
	retries      int
	preserveHost bool
	outlier      outlierDetection
	ejectMu      sync.Mutex // serialises ejection decisions
	transport    http.RoundTripper
	closeIdle    func()
	checks       sync.WaitGroup // health-check loops, waited for by Close
	health       *config.HealthCheck
	log          *slog.Logger
	now          func() time.Time
}

// NewUpstream builds an upstream from its config. It loads TLS material and
// builds the transport; it starts nothing (see StartHealthChecks).
func NewUpstream(cfg config.Upstream, log *slog.Logger) (*Upstream, error) {
	u := &Upstream{
		Name:         cfg.Name,
		spanName:     "upstream " + cfg.Name,
		retries:      *cfg.Retries,
		preserveHost: cfg.PreserveHost,
		health:       cfg.HealthCheck,
		log:          log,
		now:          time.Now,
	}
	anyTLS := false
	for i, raw := range cfg.Targets {
		tu, err := url.Parse(raw)
		if err != nil {
			return nil, config.FieldError{Path: fmt.Sprintf("targets[%d]", i), Message: "invalid URL"}
		}
		anyTLS = anyTLS || tu.Scheme == "https"
		u.Targets = append(u.Targets, newTarget(tu))
	}
	u.outlier = newOutlierDetection(cfg.PassiveEjection, len(u.Targets))
	var tlsCfg *tls.Config
	if anyTLS || cfg.TLS.CAFile != "" || cfg.TLS.CertFile != "" {
		c, err := tlsconf.ClientConfig(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.ServerName)
		if err != nil {
			return nil, config.FieldError{Path: "tls", Message: err.Error()}
		}
		tlsCfg = c
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout.D(), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                  nil, // never route upstream traffic through an environment proxy
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsCfg,
		TLSHandshakeTimeout:    cfg.ConnectTimeout.D(),
		ForceAttemptHTTP2:      anyTLS,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerTarget,
		MaxConnsPerHost:        cfg.MaxConnsPerTarget,
		IdleConnTimeout:        cfg.IdleConnTimeout.D(),
		ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout.D(),
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // pass the client's Accept-Encoding through untouched
		MaxResponseHeaderBytes: maxUpstreamHeaderBytes,
	}
	switch cfg.Protocol {
	case config.UpstreamProtocolHTTP1:
		tr.ForceAttemptHTTP2 = false
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(true)
	case config.UpstreamProtocolH2C:
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	u.transport, u.closeIdle = tr, tr.CloseIdleConnections
	if d := newDirectTransport(tr, directHosts(cfg, u.Targets), dialer.DialContext, cfg.ResponseHeaderTimeout.D(),
		cfg.IdleConnTimeout.D(), cfg.MaxIdleConnsPerTarget, log); d != nil {
		u.transport, u.closeIdle = d, d.CloseIdleConnections
	}
	return u, nil
}

// directHosts lists the targets the direct exchange may reach: plain
// HTTP/1.1 ones, unless the upstream bounds its connections per target
// (the bound must count every connection, and those of the direct
// exchange are not the Transport's).
func directHosts(cfg config.Upstream, targets []*Target) []string {
	if cfg.Protocol == config.UpstreamProtocolH2C || cfg.MaxConnsPerTarget > 0 {
		return nil
	}
	var hosts []string
	for _, t := range targets {
		if t.URL.Scheme == "http" {
			hosts = append(hosts, t.URL.Host)
		}
	}
	return hosts
}

// pick returns the next available target after skipping tried, round-robin.
func (u *Upstream) pick(now time.Time, tried *Target) *Target {
	n := uint64(len(u.Targets))
	start := u.next.Add(1)
	for i := uint64(0); i < n; i++ {
		t := u.Targets[(start+i)%n]
		if t != tried && t.Available(now) {
			return t
		}
	}
	return nil
}

// Healthy reports whether at least one target is available.
func (u *Upstream) Healthy() bool {
	now := u.now()
	for _, t := range u.Targets {
		if t.Available(now) {
			return true
		}
	}
	return false
}

// Close waits for the health checks to end (their context must be done)
// and releases idle connections; in-flight requests are unaffected.
func (u *Upstream) Close() error {
	u.checks.Wait()
	if u.closeIdle != nil {
		u.closeIdle()
	}
	return nil
}

// Ready reports "upstream:<name>": an error when no target is available.
func (u *Upstream) Ready() map[string]error {
	var err error
	if !u.Healthy() {
		err = errNoHealthyTargetReady
	}
	return map[string]error{"upstream:" + u.Name: err}
}

var errNoHealthyTargetReady = errors.New("no healthy target")

var (
	_ lifecycle.Closer    = (*Upstream)(nil)
	_ lifecycle.Readiness = (*Upstream)(nil)
)

// UseTransport replaces the network transport, for benchmarks of the
// request path without the network. Not for production use.
func (u *Upstream) UseTransport(rt http.RoundTripper) {
	u.transport, u.closeIdle = rt, nil
}

// StartHealthChecks runs active health checks until ctx ends (no-op when
// none are configured).
func (u *Upstream) StartHealthChecks(ctx context.Context) {
	if u.health == nil {
		return
	}
	for _, t := range u.Targets {
		u.checks.Add(1)
		go func() {
			defer u.checks.Done()
			u.checkLoop(ctx, t)
		}()
	}
}

// InheritHealth copies the active health verdicts of prev's targets with
// the same URLs (a reload keeps what the checks already learned), so a
// target known to be down is not tried again until a check says it is up.
func (u *Upstream) InheritHealth(prev *Upstream) {
	if prev == nil || u.health == nil || prev.health == nil {
		return
	}
	was := make(map[string]bool, len(prev.Targets))
	for _, t := range prev.Targets {
		was[t.URL.String()] = t.healthy.Load()
	}
	for _, t := range u.Targets {
		if h, ok := was[t.URL.String()]; ok {
			t.healthy.Store(h)
		}
	}
}

func (u *Upstream) checkLoop(ctx context.Context, t *Target) {
	h := u.health
	client := &http.Client{
		Transport: u.transport,
		Timeout:   h.Timeout.D(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	checkURL := *t.URL
	checkURL.Path = t.basePath + h.Path
	ok, bad := 0, 0
	tick := time.NewTicker(h.Interval.D())
	defer tick.Stop()
	for first := true; ; first = false {
		healthy := u.probe(ctx, client, checkURL.String())
		if ctx.Err() != nil {
			return
		}
		if healthy {
			u.endEjection(t)
		}
		switch {
		case first && !healthy && t.healthy.Load():
			// The state a target starts with (healthy, or inherited over a
			// reload) is a guess; the first check replaces it without
			// waiting for the thresholds.
			t.healthy.Store(false)
			bad = h.UnhealthyThreshold
			u.log.Warn("upstream target unhealthy", "upstream", u.Name, "target", t.URL.Host)
		case first && healthy && !t.healthy.Load():
			t.healthy.Store(true)
			ok = h.HealthyThreshold
			u.log.Info("upstream target healthy", "upstream", u.Name, "target", t.URL.Host)
		case healthy:
			ok, bad = ok+1, 0
			if !t.healthy.Load() && ok >= h.HealthyThreshold {
				t.healthy.Store(true)
				u.log.Info("upstream target healthy", "upstream", u.Name, "target", t.URL.Host)
			}
		default:
			ok, bad = 0, bad+1
			if t.healthy.Load() && bad >= h.UnhealthyThreshold {
				t.healthy.Store(false)
				u.log.Warn("upstream target unhealthy", "upstream", u.Name, "target", t.URL.Host)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (u *Upstream) probe(ctx context.Context, c *http.Client, target string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "portcullis-health-check")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // lets the connection be reused
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

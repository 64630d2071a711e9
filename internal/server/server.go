// Package server owns the processes' listeners: the HTTPS (and optional
// redirect or explicitly insecure) listeners with their timeouts and limits,
// the ops listener, certificate watching, configuration reload on SIGHUP or
// file change, and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// Options configure a Server beyond its Config.
type Options struct {
	// ConfigPath is re-read on reload ("" disables file reloads).
	ConfigPath string
	// Log is the application logger.
	Log *slog.Logger
	// LogLevel, when set, is Log's level; a reload sets it from
	// logging.level.
	LogLevel *slog.LevelVar
	// Deps are passed to every gateway.Build.
	Deps gateway.Deps
	// ReadyChecks are extra /readyz checks by name (e.g. a key store).
	ReadyChecks map[string]func() error
	// Collectors are extra metrics for /metrics (e.g. the rate-limit
	// stores'), registered once.
	Collectors []prometheus.Collector
}

// Server runs a configuration's listeners.
type Server struct {
	opts        Options
	log         *slog.Logger
	metrics     *observe.Metrics
	gw          *gateway.Gateway
	access      *observe.AccessLog
	tracing     *observe.Tracing // nil when tracing is off
	readyChecks map[string]func() error

	mu  sync.Mutex // guards cfg and reloads
	cfg *config.Config

	https     []*http.Server
	others    []*http.Server // redirect and ops
	listeners []boundListener
	certs     []*tlsconf.Server
	watches   []*connWatch
	redirects []redirectFor
	bgCancel  context.CancelFunc
	draining  atomic.Bool
	// reloadFailed is the /readyz warning of the last reload when it
	// failed; nil once one succeeds.
	reloadFailed atomic.Pointer[string]

	shutdownOnce sync.Once
	shutdownErr  error

	statusMu sync.Mutex
	status   ConfigStatus
}

// redirectFor ties a redirect handler to the HTTPS listener it points at,
// whose port is only known once bound (":0" in tests).
type redirectFor struct {
	handler       *redirectHandler
	httpsListener string
}

type boundListener struct {
	name     string
	ln       net.Listener
	srv      *http.Server
	maxConns int
}

// New builds everything cfg describes (loading certificates, building the
// runtime) without binding any port.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Deps.Log == nil {
		opts.Deps.Log = opts.Log
	}
	s := &Server{log: opts.Log, cfg: cfg, metrics: observe.NewMetrics(), readyChecks: opts.ReadyChecks}
	if opts.Deps.Metrics == nil {
		opts.Deps.Metrics = s.metrics
	}
	s.opts = opts
	if err := registerAll(s.metrics.Registry, opts.Collectors); err != nil {
		return nil, err
	}
	rt, err := gateway.Build(cfg, opts.Deps)
	if err != nil {
		return nil, err
	}
	declareMetrics(s.metrics, cfg)
	if *cfg.Logging.Access.Enabled {
		if s.access, err = observe.NewAccessLog(accessLogConfig(cfg)); err != nil {
			rt.Stop()
			return nil, err
		}
	}
	s.gw = gateway.New(rt, s.access, s.metrics, s.log)
	s.setStatus(cfg, nil, false)
	if cfg.Tracing.Enabled {
		if s.tracing, err = observe.NewTracing(cfg.Tracing); err != nil {
			rt.Stop()
			if s.access != nil {
				_ = s.access.Close()
			}
			return nil, err
		}
		s.gw.SetTracing(s.tracing)
	}

	var errs config.Errors
	for i, lc := range cfg.Listeners {
		srv := s.newHTTPServer(lc.Name, lc, s.gw.Handler(lc))
		if lc.TLS != nil {
			cs, err := newCertServer(lc.TLS, s.log)
			if err != nil {
				errs.Add(config.Join(config.Index("listeners", i), "tls"), "%v", err)
				continue
			}
			s.certs = append(s.certs, cs)
			srv.TLSConfig = cs.Config()
			s.metrics.CertExpiry.Watch(lc.Name, cs.NotAfter)
		}
		s.https = append(s.https, srv)
		s.listeners = append(s.listeners, boundListener{name: lc.Name, srv: srv, maxConns: lc.Limits.MaxConnections})
		if lc.HTTPRedirect != "" {
			rh := newRedirectHandler(lc.Address)
			s.redirects = append(s.redirects, redirectFor{handler: rh, httpsListener: lc.Name})
			rs := s.newHTTPServer(lc.Name+"-redirect", lc, rh)
			rs.Addr = lc.HTTPRedirect
			s.others = append(s.others, rs)
			s.listeners = append(s.listeners, boundListener{name: lc.Name + "-redirect", srv: rs, maxConns: lc.Limits.MaxConnections})
		}
	}
	if !cfg.Ops.Disabled {
		ops := &http.Server{
			Addr:              cfg.Ops.Address,
			Handler:           s.opsHandler(cfg.Ops.Pprof),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       60 * time.Second,
		}
		s.others = append(s.others, ops)
		s.listeners = append(s.listeners, boundListener{name: "ops", srv: ops, maxConns: 256})
	}
	if len(errs) > 0 {
		s.closeBuilt()
		return nil, errs
	}
	return s, nil
}

// declareMetrics creates cfg's route and upstream series at zero.
func declareMetrics(m *observe.Metrics, cfg *config.Config) {
	routes := map[string][]string{}
	for _, r := range cfg.Routes {
		routes[r.Name] = r.Methods
	}
	var ups []string
	for _, u := range cfg.Upstreams {
		ups = append(ups, u.Name)
	}
	m.Declare(routes, ups)
}

func registerAll(reg *prometheus.Registry, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}

// accessLogConfig adds every header that carries a credential by
// configuration (an api_key authenticator's header, in cfg or in any of
// also) to the redacted ones, so logging that header by name can never
// print a key.
func accessLogConfig(cfg *config.Config, also ...*config.Config) config.AccessLog {
	a := cfg.Logging.Access
	a.RedactHeaders = append([]string(nil), a.RedactHeaders...)
	for _, c := range append([]*config.Config{cfg}, also...) {
		for _, ac := range c.Authenticators {
			if ac.APIKey != nil && ac.APIKey.Header != "" {
				a.RedactHeaders = append(a.RedactHeaders, ac.APIKey.Header)
			}
		}
	}
	return a
}

// CheckConfig builds everything cfg describes without binding or starting
// anything, and returns every problem (the validate command).
func CheckConfig(cfg *config.Config, opts Options) error {
	opts.Log = slog.New(slog.DiscardHandler)
	opts.Deps.Log = opts.Log
	cfg2 := *cfg
	cfg2.Logging.Access.Enabled = new(bool) // do not open log files
	s, err := New(&cfg2, opts)
	if err != nil {
		return err
	}
	s.closeBuilt()
	return nil
}

// CheckCertificates loads the certificate, key and client CA of every TLS
// listener of cfg whose section sound reports as without problems, and
// returns every failure: validate's check of the listeners when the rest
// of the configuration is too broken to build.
func CheckCertificates(cfg *config.Config, sound func(path string) bool) error {
	var errs config.Errors
	log := slog.New(slog.DiscardHandler)
	for i, lc := range cfg.Listeners {
		p := config.Join(config.Index("listeners", i), "tls")
		if lc.TLS == nil || !sound(p) {
			continue
		}
		if _, err := newCertServer(lc.TLS, log); err != nil {
			errs.Add(p, "%v", err)
		}
	}
	return errs.Err()
}

func (s *Server) closeBuilt() {
	s.gw.Runtime().Stop()
	if s.access != nil {
		_ = s.access.Close()
	}
	if s.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.tracing.Shutdown(ctx)
	}
}

func newCertServer(t *config.ListenerTLS, log *slog.Logger) (*tlsconf.Server, error) {
	minV, err := tlsconf.ParseMinVersion(t.MinVersion)
	if err != nil {
		return nil, err
	}
	ca, err := tlsconf.ParseClientAuth(t.ClientAuth)
	if err != nil {
		return nil, err
	}
	suites, err := tlsconf.ParseProfile(t.Profile)
	if err != nil {
		return nil, err
	}
	return tlsconf.NewServer(tlsconf.ServerOptions{
		CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile,
		ClientAuth: ca, MinVersion: minV, CipherSuites: suites,
	}, log)
}

// newHTTPServer is the http.Server of a public listener (or its redirect
// listener), name.
func (s *Server) newHTTPServer(name string, lc config.Listener, h http.Handler) *http.Server {
	lim := lc.Limits
	srv := &http.Server{
		Addr:    lc.Address,
		Handler: closeWhileDraining(&s.draining, closeAmbiguousFraming(h)),
		// "OPTIONS *" reaches the handler, which refuses it like any
		// target that is not a path (400 problem+json, logged), instead
		// of net/http's silent 200.
		DisableGeneralOptionsHandler: true,
		ReadHeaderTimeout:            lim.ReadHeaderTimeout.D(),
		ReadTimeout:                  lim.ReadTimeout.D(),
		WriteTimeout:                 lim.WriteTimeout.D(),
		IdleTimeout:                  lim.IdleTimeout.D(),
		MaxHeaderBytes:               int(lim.MaxHeaderBytes),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 250,
			// The protocol's default frame size, not Go's 1 MiB: a
			// connection keeps a read buffer as large as the largest
			// frame it was sent, so 1 MiB frames let each of
			// max_connections pin a megabyte.
			MaxReadFrameSize: 16 << 10,
		},
		// Redacted and at warn: net/http quotes what clients sent.
		ErrorLog: observe.ErrorLog(s.log),
	}
	var events secevent.Sink
	if s.opts.Deps.Security != nil {
		events = s.opts.Deps.Security
	}
	cw := newConnWatch(name, s.log, s.metrics, events)
	cw.install(srv)
	s.watches = append(s.watches, cw)
	return srv
}

// Start binds every listener and starts serving. On a bind error nothing is
// left listening.
func (s *Server) Start() error {
	for i := range s.listeners {
		bl := &s.listeners[i]
		ln, err := net.Listen("tcp", bl.srv.Addr)
		if err != nil {
			for _, prev := range s.listeners[:i] {
				prev.ln.Close()
			}
			return fmt.Errorf("listener %s: %w", bl.name, err)
		}
		bl.ln = ln
	}
	for _, rf := range s.redirects {
		rf.handler.setPort(s.Addr(rf.httpsListener))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.bgCancel = cancel
	s.gw.Runtime().Start()
	for i, lc := range s.cfg.Listeners {
		if lc.TLS != nil {
			go s.certForListener(i).Watch(ctx, lc.TLS.ReloadInterval.D())
		}
		if lc.Insecure {
			s.log.Warn("listener serves plain HTTP (insecure: true); never expose it beyond a trusted network", "listener", lc.Name, "address", lc.Address)
		}
		if len(lc.ServerNames) == 0 && !config.IsLoopback(lc.Address) {
			s.log.Warn("listener accepts requests for any host; set server_names to the hosts it serves (others get 421)", "listener", lc.Name, "address", lc.Address)
		}
	}
	go s.upstreamGauges(ctx)
	for _, bl := range s.listeners {
		// Log before serving: ServeTLS adjusts srv.TLSConfig in its goroutine.
		s.log.Info("listening", "listener", bl.name, "address", bl.ln.Addr().String(), "tls", bl.srv.TLSConfig != nil)
		go s.serve(bl)
	}
	return nil
}

func (s *Server) certForListener(i int) *tlsconf.Server {
	n := 0
	for j := 0; j < i; j++ {
		if s.cfg.Listeners[j].TLS != nil {
			n++
		}
	}
	return s.certs[n]
}

func (s *Server) serve(bl boundListener) {
	var err error
	ln := newLimitListener(bl.ln, bl.maxConns)
	if bl.srv.TLSConfig != nil {
		err = bl.srv.ServeTLS(ln, "", "")
	} else {
		err = bl.srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("listener stopped", "listener", bl.name, "error", err)
	}
}

func (s *Server) upstreamGauges(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		for _, u := range s.gw.Runtime().Upstreams() {
			n := 0
			now := time.Now()
			for _, tg := range u.Targets {
				if tg.Available(now) {
					n++
				}
			}
			s.metrics.UpstreamHealthy.WithLabelValues(u.Name).Set(float64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Addr returns the bound address of the named listener ("ops" for the ops
// listener, "<name>-redirect" for a redirect listener), or "".
func (s *Server) Addr(name string) string {
	for _, bl := range s.listeners {
		if bl.name == name && bl.ln != nil {
			return bl.ln.Addr().String()
		}
	}
	return ""
}

// Gateway returns the request-serving gateway.
func (s *Server) Gateway() *gateway.Gateway { return s.gw }

// Metrics returns the metrics registry holder.
func (s *Server) Metrics() *observe.Metrics { return s.metrics }

// Reload builds cfg and swaps it in. If building fails the current
// configuration keeps serving and the error is returned. The log level, the
// access log's logged and redacted headers and the reload settings change
// with it; the restartOnly settings are reported, not applied.
func (s *Server) Reload(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, err := gateway.Build(cfg, s.opts.Deps)
	if err == nil && s.opts.Deps.Security != nil {
		// Before the swap: if the new shipping destinations cannot be
		// opened, the running configuration keeps serving.
		if err = s.opts.Deps.Security.Configure(cfg.Security); err != nil {
			rt.Stop()
		}
	}
	if err != nil {
		s.reloadFailure(err)
		s.setStatus(cfg, err, true)
		return err
	}
	kept, changed := keepRunning(s.cfg, cfg)
	for _, key := range changed {
		s.log.Warn("config change needs a restart; not applied", "section", key)
	}
	if s.access != nil {
		// Before the swap: the new runtime's api_key headers must already
		// be redacted when its first request is logged, and the old one's
		// stay redacted for requests still in flight on it.
		s.access.Configure(accessLogConfig(cfg, s.cfg))
	}
	if s.opts.LogLevel != nil {
		observe.SetLevel(s.opts.LogLevel, cfg.Logging.Level)
	}
	rt.InheritHealth(s.gw.Runtime())
	rt.Start()
	old := s.gw.Swap(rt)
	old.Stop()
	if reg := s.opts.Deps.JWKS; reg != nil {
		// Key sets no issuer of the new configuration uses are released.
		reg.Retain(rt.JWKSRemotes())
	}
	s.cfg = kept
	s.setStatus(kept, nil, true)
	declareMetrics(s.metrics, cfg)
	s.reloaded(true)
	s.reloadFailed.Store(nil)
	for _, c := range s.certs {
		if _, err := c.Reload(false); err != nil {
			s.log.Error("tls reload failed; keeping the current certificate", "error", err)
		}
	}
	return nil
}

// ReloadFile re-reads the configuration file and reloads it.
func (s *Server) ReloadFile() error {
	if s.opts.ConfigPath == "" {
		return errors.New("no configuration file to reload")
	}
	cfg, err := config.Load(s.opts.ConfigPath)
	if err != nil {
		s.reloadFailure(err)
		s.setStatus(nil, err, true)
		return err
	}
	return s.Reload(cfg)
}

// reloadFailure reports a failed reload and keeps /readyz warning about it
// until a reload succeeds: the instance serves, but not the configuration
// its operator just deployed. The warning names no problem (they are in
// the log): /readyz is not the place for configuration text.
func (s *Server) reloadFailure(err error) {
	s.reloaded(false)
	n := 1
	if errs, ok := err.(config.Errors); ok {
		n = len(errs)
	}
	msg := fmt.Sprintf("the last configuration reload failed (%d problem(s), see the log); the previous configuration keeps serving", n)
	s.reloadFailed.Store(&msg)
}

// reloaded counts a reload and reports it as a security event: a
// configuration change is a change of the security policy.
func (s *Server) reloaded(ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	s.metrics.Reloads.WithLabelValues(result).Inc()
	if sec := s.opts.Deps.Security; sec != nil {
		ev := secevent.Event{Type: secevent.ConfigReload, Reason: result}
		if !ok {
			ev.Severity, ev.SeveritySet = secevent.Warning, true
		}
		sec.Emit(ev)
	}
}

// Shutdown stops accepting connections, lets in-flight requests finish until
// ctx ends (then closes what is left), and flushes the logs. Before Start it
// releases what New built. Only the first call does anything; later calls
// return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.draining.Store(true)
	var wg sync.WaitGroup
	var forced atomic.Bool
	for _, bl := range s.listeners {
		if bl.ln == nil {
			continue
		}
		wg.Add(1)
		go func(srv *http.Server) {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				forced.Store(true)
				srv.Close()
			}
		}(bl.srv)
	}
	wg.Wait()
	if s.bgCancel != nil {
		s.bgCancel()
	}
	s.gw.Runtime().Stop()
	if s.access != nil {
		_ = s.access.Close()
	}
	if s.tracing != nil {
		// Queued spans get a few seconds of their own: the drain may have
		// used up ctx.
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.tracing.Shutdown(tctx); err != nil {
			s.log.Warn("exporting the last spans failed", "error", err.Error())
		}
		cancel()
	}
	if forced.Load() {
		return errors.New("drain timeout reached; remaining connections were closed")
	}
	return nil
}

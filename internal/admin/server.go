// Package admin owns the admin API: a JSON REST control plane on its own
// TLS listener (never the public one) to manage consumers, API keys,
// consumers' message-signing keys and identity mappings, and admin tokens,
// to resolve idempotency keys left in doubt, and to read the audit trail. Callers authenticate with admin
// tokens (stored hashed) or client certificates; roles admin, operator and
// auditor decide what they may do; every authenticated request is written
// to the audit trail. openapi.yaml in this package describes the API, and a
// test holds the server to it. The package also has the client the CLI
// uses.
package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/secmon"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// hsts is sent on every admin response. includeSubDomains: the admin API
// is usually on a host of its own (admin.example.com), and a subdomain
// served over plain HTTP must not be able to set cookies for it.
const hsts = "max-age=31536000; includeSubDomains"

// Deps are what the admin API works with.
type Deps struct {
	// Keys is the key service (the same one the gateway verifies with).
	Keys *keys.Service
	// Log receives one line per admin request and every failure.
	Log *slog.Logger
	// Now is the clock of failed-authentication blocking. Default time.Now.
	Now func() time.Time
	// Security is the security monitor: admin authentication failures and
	// key changes are reported to it, and the security operations list
	// and lift its blocks. Nil: those operations find nothing.
	Security *secmon.Monitor
	// Idempotency inspects and resolves idempotency keys in the shared
	// store (nil: the operations answer 404).
	Idempotency *idempotency.Admin
}

// Server is the admin API listener.
type Server struct {
	cfg     config.Admin
	keys    *keys.Service
	idem    *idempotency.Admin
	log     *slog.Logger
	router  router
	certMap []config.AdminClientCert
	guard   *authGuard // nil: failed authentications are not blocked
	// ceilings are the scopes each role may grant.
	ceilings map[Role]scopeCeiling
	security *secmon.Monitor
	tls      *tlsconf.Server
	srv      *http.Server
	ln       net.Listener
	cancel   context.CancelFunc
	// mounts are front ends served beside the API (Mount).
	mounts []mount
}

// NotAfter is the expiry of the certificate the admin listener serves
// now (it follows hot reloads).
func (s *Server) NotAfter() time.Time { return s.tls.NotAfter() }

// New builds the admin API from its config (defaults applied, validated):
// it loads the certificate and client CA now, so a bad file fails at
// startup.
func New(cfg config.Admin, deps Deps) (*Server, error) {
	if deps.Keys == nil {
		return nil, config.FieldError{Path: "admin", Message: "needs the key store (keys block)"}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	// Paths, request ids and credential hints come from clients: whatever
	// logger the caller gave, the admin API's lines are redacted.
	deps.Log = slog.New(observe.Redacting(deps.Log.Handler()))
	s := &Server{cfg: cfg, keys: deps.Keys, idem: deps.Idempotency, log: deps.Log, certMap: cfg.ClientCerts, ceilings: ceilings(cfg.Roles),
		security: deps.Security}
	if cfg.AuthFailureThreshold != nil {
		s.guard = newAuthGuard(*cfg.AuthFailureThreshold, deps.Now)
	}
	s.router = router{routes: s.routes()}
	minV, err := tlsconf.ParseMinVersion(cfg.TLS.MinVersion)
	if err != nil {
		return nil, config.FieldError{Path: "admin.tls.min_version", Message: err.Error()}
	}
	clientAuth := tls.NoClientCert
	if cfg.TLS.ClientCAFile != "" {
		// Asked for, verified when sent; tokens remain an alternative.
		clientAuth = tls.VerifyClientCertIfGiven
	}
	s.tls, err = tlsconf.NewServer(tlsconf.ServerOptions{
		CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, ClientCAFile: cfg.TLS.ClientCAFile,
		ClientAuth: clientAuth, MinVersion: minV, NextProtos: []string{"h2", "http/1.1"},
	}, deps.Log)
	if err != nil {
		return nil, config.FieldError{Path: "admin.tls", Message: err.Error()}
	}
	s.srv = &http.Server{
		Addr:              cfg.Address,
		Handler:           s,
		TLSConfig:         s.tls.Config(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          observe.ErrorLog(deps.Log),
	}
	return s, nil
}

// Start binds the listener and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	s.ln = ln
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.tls.Watch(ctx, 10*time.Second)
	go func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", "error", err.Error())
		}
	}()
	if !config.IsLoopback(ln.Addr().String()) {
		s.log.Warn("the admin API listens beyond loopback; restrict who can reach it", "address", ln.Addr().String())
	}
	s.log.Info("listening", "listener", "admin", "address", ln.Addr().String(), "tls", true)
	return nil
}

// Addr is the bound address ("" before Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting requests and waits for those in flight until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
	}
	if s.ln == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// CheckConfig loads the admin listener's certificate and client CA without
// starting anything (the validate command).
func CheckConfig(cfg config.Admin) error {
	minV, err := tlsconf.ParseMinVersion(cfg.TLS.MinVersion)
	if err != nil {
		return config.FieldError{Path: "admin.tls.min_version", Message: err.Error()}
	}
	_, err = tlsconf.NewServer(tlsconf.ServerOptions{
		CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, ClientCAFile: cfg.TLS.ClientCAFile,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: minV,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		return config.FieldError{Path: "admin.tls", Message: err.Error()}
	}
	return nil
}

package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ServerOptions is what a listener's TLS is built from.
type ServerOptions struct {
	CertFile, KeyFile string
	ClientCAFile      string
	ClientAuth        tls.ClientAuthType
	MinVersion        uint16
	// CipherSuites are the TLS 1.2 suites offered (ParseProfile). Default
	// TLS12CipherSuites.
	CipherSuites []uint16
	// NextProtos defaults to h2 and http/1.1.
	NextProtos []string
	// TicketKeyRotation is how often the session-ticket key changes
	// (the previous one still decrypts). Default DefaultTicketKeyRotation.
	TicketKeyRotation time.Duration
	// Now is the clock of ticket-key rotation. Default time.Now.
	Now func() time.Time
}

// Server serves a listener's TLS configuration and swaps in new
// certificates and client CAs when their files change. Handshakes read the
// current configuration with one atomic load. It owns the listener's
// session-ticket keys: random, rotated every TicketKeyRotation, and the
// same across certificate and configuration reloads (the Server outlives
// both), so a reload never invalidates a client's ticket.
type Server struct {
	opts    ServerOptions
	log     *slog.Logger
	current atomic.Pointer[tls.Config]
	mu      sync.Mutex // serialises reloads and ticket-key rotation
	// tickets are the session-ticket keys, newest (encrypting) first.
	tickets      [][32]byte
	nextRotation atomic.Int64 // unix nanoseconds
	stamp        string
	// failed is the stamp of files that failed to load, so a broken file is
	// reported once, not on every tick.
	failed string
	// NotAfter of the current leaf certificate, for metrics and warnings.
	notAfter atomic.Int64
}

// NewServer loads the files once and returns a Server, or an error naming
// the file that failed.
func NewServer(opts ServerOptions, log *slog.Logger) (*Server, error) {
	if len(opts.NextProtos) == 0 {
		opts.NextProtos = []string{"h2", "http/1.1"}
	}
	if opts.TicketKeyRotation <= 0 {
		opts.TicketKeyRotation = DefaultTicketKeyRotation
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.CipherSuites) == 0 {
		opts.CipherSuites = TLS12CipherSuites
	}
	s := &Server{opts: opts, log: log, tickets: [][32]byte{newTicketKey()}}
	s.nextRotation.Store(opts.Now().Add(opts.TicketKeyRotation).UnixNano())
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the tls.Config to give the listener. Its
// GetConfigForClient hands every handshake the current configuration.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion: s.opts.MinVersion,
		NextProtos: s.opts.NextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.rotateTickets()
			return s.current.Load(), nil
		},
	}
}

// NotAfter is the expiry of the current certificate.
func (s *Server) NotAfter() time.Time { return time.Unix(s.notAfter.Load(), 0) }

func (s *Server) fileStamp() string {
	st := ""
	for _, p := range []string{s.opts.CertFile, s.opts.KeyFile, s.opts.ClientCAFile} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			st += fmt.Sprintf("%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		} else {
			st += p + ":missing;"
		}
	}
	return st
}

func (s *Server) load() error {
	stamp := s.fileStamp()
	cert, err := tls.LoadX509KeyPair(s.opts.CertFile, s.opts.KeyFile)
	if err != nil {
		return fmt.Errorf("loading certificate %s / key %s: %w", s.opts.CertFile, s.opts.KeyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("parsing certificate %s: %w", s.opts.CertFile, err)
		}
	}
	c := &tls.Config{
		MinVersion:       s.opts.MinVersion,
		CipherSuites:     s.opts.CipherSuites,
		CurvePreferences: CurvePreferences,
		NextProtos:       s.opts.NextProtos,
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       s.opts.ClientAuth,
	}
	if s.opts.ClientCAFile != "" {
		pool, err := LoadCertPool(s.opts.ClientCAFile)
		if err != nil {
			return fmt.Errorf("loading client CA bundle: %w", err)
		}
		c.ClientCAs = pool
	}
	s.current.Store(s.withTickets(c))
	s.stamp = stamp
	s.notAfter.Store(cert.Leaf.NotAfter.Unix())
	if left := time.Until(cert.Leaf.NotAfter); left < 14*24*time.Hour && s.log != nil {
		s.log.Warn("tls certificate expires soon", "cert_file", s.opts.CertFile, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Reload re-reads the files if they changed (or always, if force). On error
// the previous certificate keeps serving and the error is returned.
func (s *Server) Reload(force bool) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp := s.fileStamp()
	if !force && (stamp == s.stamp || stamp == s.failed) {
		return false, nil
	}
	if err := s.load(); err != nil {
		s.failed = stamp
		return false, err
	}
	return true, nil
}

// Watch polls the files every interval until ctx ends, reloading on change
// and logging the outcome. Polling (rather than inotify) survives the
// atomic symlink swaps Kubernetes and cert-manager use; a half-written file
// fails to parse and is retried on the next tick while the old one serves.
func (s *Server) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := s.Reload(false)
			switch {
			case err != nil:
				s.log.Error("tls reload failed; keeping the current certificate", "cert_file", s.opts.CertFile, "error", err)
			case changed:
				s.log.Info("tls certificate reloaded", "cert_file", s.opts.CertFile, "not_after", s.NotAfter().UTC().Format(time.RFC3339))
			}
		}
	}
}

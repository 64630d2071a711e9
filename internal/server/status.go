package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// ConfigStatus is what an operator asks after a deploy or a reload: which
// configuration is serving, since when, and whether the last reload took.
type ConfigStatus struct {
	// Version is the start of the SHA-256 of the serving configuration as
	// loaded (secrets are references there, never values).
	Version  string
	LoadedAt time.Time
	// LastReload is "" before any reload, else "success" or the error.
	LastReload   string
	LastReloadAt time.Time
	// RateLimits is each route's rate-limit policies in the serving
	// configuration.
	RateLimits []RouteRateLimits
}

// configVersion is a short digest of cfg; equal configurations have equal
// versions across instances.
func configVersion(cfg *config.Config) string {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func (s *Server) setStatus(cfg *config.Config, reloadErr error, reloaded bool) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	now := time.Now().UTC()
	if reloaded {
		s.status.LastReloadAt = now
		s.status.LastReload = "success"
		if reloadErr != nil {
			s.status.LastReload = reloadErr.Error()
			return
		}
	}
	s.status.Version, s.status.LoadedAt = configVersion(cfg), now
	s.status.RateLimits = rateLimitStatus(cfg)
}

// Status reports the serving configuration (see ConfigStatus).
func (s *Server) Status() ConfigStatus {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	return s.status
}

// Readiness is /readyz's answer: its status code and body.
func (s *Server) Readiness() (int, map[string]any) { return s.readiness() }

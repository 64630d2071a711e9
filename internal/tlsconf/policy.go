// Package tlsconf owns the TLS of every listener and upstream: the protocol
// and cipher policy (BCP 195: TLS 1.2 or later, TLS 1.2 only with ECDHE and
// AEAD ciphers; the FAPI 2.0 profile: TLS 1.2 only with ECDHE and AES-GCM),
// certificate and client-CA files reloaded without a restart,
// and client TLS towards upstreams.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
)

// TLS12CipherSuites are the only TLS 1.2 suites offered: forward secret
// (ECDHE) and authenticated encryption (GCM, ChaCha20-Poly1305). TLS 1.3
// suites are not configurable in Go and are all AEAD.
var TLS12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// FAPI2CipherSuites are the TLS 1.2 suites of the FAPI 2.0 Security
// Profile (listener tls.profile: fapi2): ECDHE key exchange with AES-GCM
// only. TLS 1.3 is allowed as is.
var FAPI2CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// ParseProfile maps a listener's tls.profile to its TLS 1.2 cipher suites.
func ParseProfile(s string) ([]uint16, error) {
	switch s {
	case "", "default":
		return TLS12CipherSuites, nil
	case "fapi2":
		return FAPI2CipherSuites, nil
	}
	return nil, fmt.Errorf("unknown tls profile %q", s)
}

// FAPI2Connection reports whether a connection meets the FAPI 2.0 TLS
// rules: TLS 1.3, or TLS 1.2 with one of FAPI2CipherSuites.
func FAPI2Connection(cs *tls.ConnectionState) bool {
	switch {
	case cs == nil || !cs.HandshakeComplete:
		return false
	case cs.Version >= tls.VersionTLS13:
		return true
	case cs.Version == tls.VersionTLS12:
		return slices.Contains(FAPI2CipherSuites, cs.CipherSuite)
	}
	return false
}

// CurvePreferences puts the hybrid post-quantum exchange first.
var CurvePreferences = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}

// ParseMinVersion maps "1.2"/"1.3" to the tls constant.
func ParseMinVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unsupported TLS version %q", s)
}

// ParseClientAuth maps none/request/optional/require to the tls constant.
// "optional" verifies a certificate if one is sent; "request" asks for one
// and verifies nothing (the certificate of a certificate-bound token may be
// self-signed: the token's cnf, not a CA, vouches for it).
func ParseClientAuth(s string) (tls.ClientAuthType, error) {
	switch s {
	case "", "none":
		return tls.NoClientCert, nil
	case "request":
		return tls.RequestClientCert, nil
	case "optional":
		return tls.VerifyClientCertIfGiven, nil
	case "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("unknown client_auth %q", s)
}

// VersionName is the log name of a TLS version ("TLS1.3").
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLS1.3"
	case tls.VersionTLS12:
		return "TLS1.2"
	case 0:
		return ""
	}
	return "TLS(other)"
}

// LoadCertPool reads a PEM bundle; it fails if the file holds no certificate.
func LoadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := PoolFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pool, nil
}

// PoolFromPEM parses a PEM bundle; it fails if it holds no certificate.
func PoolFromPEM(pem []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificates found")
	}
	return pool, nil
}

// NewClientConfig is the policy for every outbound TLS connection (upstreams,
// JWKS, introspection, Redis): TLS 1.2 or later with the same ciphers and
// curves as the listeners. Callers add roots, certificates, server name.
func NewClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     TLS12CipherSuites,
		CurvePreferences: CurvePreferences,
	}
}

// ClientConfig is the TLS configuration for connections to an upstream.
// caFile replaces the system roots when set; certFile/keyFile add a client
// certificate; serverName overrides the verified name.
func ClientConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	c := NewClientConfig()
	c.ServerName = serverName
	if caFile != "" {
		pool, err := LoadCertPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		c.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

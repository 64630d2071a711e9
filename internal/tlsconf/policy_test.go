package tlsconf

import (
	"crypto/tls"
	"testing"
)

// A FAPI 2.0 connection is TLS 1.3, or TLS 1.2 with ECDHE and AES-GCM:
// what the fapi2 profile offers, and what a FAPI route checks again on
// every request.
func TestFAPI2Connection(t *testing.T) {
	tests := []struct {
		name string
		cs   *tls.ConnectionState
		want bool
	}{
		{"no TLS", nil, false},
		{"handshake not complete", &tls.ConnectionState{Version: tls.VersionTLS13}, false},
		{"TLS 1.3", &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, CipherSuite: tls.TLS_CHACHA20_POLY1305_SHA256}, true},
		{"TLS 1.2 ECDHE-RSA-AES256-GCM", &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}, true},
		{"TLS 1.2 ECDHE-ECDSA-CHACHA20", &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, false},
		{"TLS 1.1", &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS11, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FAPI2Connection(tt.cs); got != tt.want {
				t.Fatalf("FAPI2Connection = %v, want %v", got, tt.want)
			}
		})
	}
}

// Listener profiles and client_auth modes map to what crypto/tls needs;
// "request" asks for a certificate and verifies nothing.
func TestListenerPolicyNames(t *testing.T) {
	for _, tt := range []struct {
		auth string
		want tls.ClientAuthType
	}{{"none", tls.NoClientCert}, {"request", tls.RequestClientCert}, {"optional", tls.VerifyClientCertIfGiven}, {"require", tls.RequireAndVerifyClientCert}} {
		t.Run("client_auth "+tt.auth, func(t *testing.T) {
			if got, err := ParseClientAuth(tt.auth); err != nil || got != tt.want {
				t.Fatalf("ParseClientAuth(%q) = %v, %v; want %v", tt.auth, got, err, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		profile string
		want    []uint16
	}{{"default", TLS12CipherSuites}, {"fapi2", FAPI2CipherSuites}} {
		t.Run("profile "+tt.profile, func(t *testing.T) {
			if got, err := ParseProfile(tt.profile); err != nil || len(got) != len(tt.want) || &got[0] != &tt.want[0] {
				t.Fatalf("ParseProfile(%q) = %v, %v", tt.profile, got, err)
			}
		})
	}
	if _, err := ParseProfile("fapi"); err == nil {
		t.Fatal(`ParseProfile("fapi") accepted`)
	}
}

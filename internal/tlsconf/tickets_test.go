package tlsconf

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/testenv"
)

// handshake runs one real TLS handshake against srv's configuration and
// reports whether the client resumed a session from cache.
func handshake(t *testing.T, srv *Server, client *tls.Config) bool {
	t.Helper()
	c1, c2 := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(c2, srv.Config())
		defer s.Close()
		if err := s.Handshake(); err != nil {
			errc <- err
			return
		}
		// TLS 1.3 tickets are read by the client with the first data.
		_, err := s.Write([]byte("x"))
		errc <- err
		_, _ = io.Copy(io.Discard, s)
	}()
	c := tls.Client(c1, client)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("client read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server: %v", err)
	}
	return c.ConnectionState().DidResume
}

// Session-ticket keys are random, rotate every TicketKeyRotation and keep
// only the previous key for decryption, so a ticket resumes for at most two
// rotation periods (24 h by default, not Go's 7 days); a certificate
// reload keeps them, so it never costs clients their sessions.
func TestSessionTicketKeyRotation(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("tickets CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "gateway", Hosts: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := leaf.WriteFiles(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		after    time.Duration // from the ticket's issue to the resumption
		reload   bool          // certificate reload in between
		resumed  bool
		rotation time.Duration // 0: the default
	}{
		{name: "within the first period", after: 11 * time.Hour, resumed: true},
		{name: "one rotation later (previous key)", after: 13 * time.Hour, resumed: true},
		{name: "just before the second rotation", after: 23*time.Hour + 59*time.Minute, resumed: true},
		{name: "two rotations later (key dropped)", after: 24*time.Hour + time.Second, resumed: false},
		{name: "a week later (Go's default lifetime)", after: 6 * 24 * time.Hour, resumed: false},
		{name: "across a certificate reload", after: time.Hour, reload: true, resumed: true},
		{name: "across a reload and a rotation", after: 13 * time.Hour, reload: true, resumed: true},
		{name: "custom rotation", after: 2*time.Hour + time.Second, rotation: time.Hour, resumed: false},
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, tt := range tests {
			t.Run(VersionName(v)+"/"+tt.name, func(t *testing.T) {
				clk := testenv.NewClock(time.Now())
				srv, err := NewServer(ServerOptions{CertFile: certFile, KeyFile: keyFile, MinVersion: tls.VersionTLS12,
					TicketKeyRotation: tt.rotation, Now: clk.Now}, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: v,
					ClientSessionCache: tls.NewLRUClientSessionCache(4)}
				if handshake(t, srv, client) {
					t.Fatal("first handshake resumed")
				}
				if tt.reload {
					if _, err := srv.Reload(true); err != nil {
						t.Fatal(err)
					}
				}
				// Rotation happens on the first handshake after it is due;
				// step through it like a server under traffic would.
				for step := time.Hour; step < tt.after; step += time.Hour {
					clk.Set(clk.Now().Add(time.Hour))
					srv.rotateTickets()
				}
				clk.Set(clk.Now().Add(tt.after % time.Hour))
				if got := handshake(t, srv, client); got != tt.resumed {
					t.Fatalf("resumed = %v, want %v", got, tt.resumed)
				}
			})
		}
	}
}

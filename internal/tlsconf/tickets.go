package tlsconf

import (
	"crypto/rand"
	"crypto/tls"
	"time"
)

// DefaultTicketKeyRotation is how often a listener starts encrypting
// session tickets with a new key. The previous key is kept to decrypt
// tickets issued before, so no key lives longer than twice this: 24 hours.
// Go's own default keeps a key up to 7 days, and whoever obtains a ticket
// key can decrypt every TLS 1.2 session resumed, or started, with a ticket
// it encrypted.
const DefaultTicketKeyRotation = 12 * time.Hour

// newTicketKey returns a session-ticket key from crypto/rand.
func newTicketKey() [32]byte {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic("tlsconf: crypto/rand failed: " + err.Error()) // never returns an error on supported platforms
	}
	return k
}

// rotateTickets starts a new ticket key when the current one is due,
// keeping the previous one for decryption only, and gives the keys to the
// configuration handshakes use. It costs one atomic load per handshake
// until a rotation is due.
func (s *Server) rotateTickets() {
	now := s.opts.Now()
	if now.UnixNano() < s.nextRotation.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.UnixNano() < s.nextRotation.Load() {
		return // another handshake rotated first
	}
	s.tickets = [][32]byte{newTicketKey(), s.tickets[0]}
	s.nextRotation.Store(now.Add(s.opts.TicketKeyRotation).UnixNano())
	s.current.Load().SetSessionTicketKeys(s.tickets)
}

// withTickets gives c the listener's ticket keys, so a certificate
// reload (a new configuration) keeps every ticket valid.
func (s *Server) withTickets(c *tls.Config) *tls.Config {
	c.SetSessionTicketKeys(s.tickets)
	return c
}

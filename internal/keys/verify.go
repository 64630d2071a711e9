package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// Verified is who a valid key belongs to and what it grants. It is shared
// by every request using the key: treat it as read-only.
type Verified struct {
	KeyID        string
	ConsumerID   string
	ConsumerName string
	Scopes       []string
	Groups       []string
	// Tier is the key's rate-limit tier, or else its consumer's.
	Tier      string
	ExpiresAt time.Time
}

// Rejection is a credential that did not verify. Reason is for the log
// (it never contains the credential); KeyID is set when the credential was
// well formed, for brute-force counting. Every Rejection must look the same
// to the client.
type Rejection struct {
	Reason string
	KeyID  string
}

// Error implements error; it holds the reason, never the credential.
func (r *Rejection) Error() string { return "key rejected: " + r.Reason }

// record is what verification needs about one key, decrypted, immutable.
type record struct {
	env           string
	hash          []byte
	pepperVersion uint32
	state         string
	expiresAt     time.Time
	graceUntil    time.Time
	cidrs         []netip.Prefix
	// consumerOK is false when the consumer is deleted or disabled.
	consumerOK bool
	verified   Verified
}

// Verify checks a presented API key for a request from client. It returns
// the key's identity, a *Rejection (answer 401), or another error when the
// store cannot be reached and the key is not cached (answer 503).
func (s *Service) Verify(ctx context.Context, presented string, client netip.Addr) (*Verified, error) {
	tok, err := Parse(presented)
	if err != nil {
		var fe *FormatError
		errors.As(err, &fe)
		return nil, &Rejection{Reason: "malformed key: " + fe.Reason}
	}
	if tok.Kind != s.o.Environment {
		return nil, &Rejection{Reason: "key of kind " + string(tok.Kind) + " on a " + string(s.o.Environment) + " gateway", KeyID: tok.ID}
	}
	now := s.clock.Now()
	rec, err := s.lookup(ctx, tok.ID, now)
	if err != nil {
		return nil, err
	}
	// The hash is compared even for unknown ids, so an unknown id costs
	// the same work as a wrong secret.
	h, pv := s.pepperFor()
	if rec != nil && rec.pepperVersion != pv {
		if h, err = s.sec.Peppers.Hasher(rec.pepperVersion); err != nil {
			s.noteMissing(err)
			return nil, fmt.Errorf("key %s: %w", tok.ID, err)
		}
	}
	ok := h.Equal(presented, rec.hashOrDummy())
	switch {
	case rec == nil:
		return nil, &Rejection{Reason: "unknown key id", KeyID: tok.ID}
	case !ok:
		return nil, &Rejection{Reason: "wrong secret", KeyID: tok.ID}
	case rec.env != string(s.o.Environment):
		return nil, &Rejection{Reason: "key of another environment", KeyID: tok.ID}
	case !rec.consumerOK:
		return nil, &Rejection{Reason: "consumer deleted or disabled", KeyID: tok.ID}
	}
	switch effectiveState(rec.state, rec.expiresAt, rec.graceUntil, now) {
	case StateRevoked:
		return nil, &Rejection{Reason: "revoked", KeyID: tok.ID}
	case StateExpired:
		if rec.state == store.StateRotating {
			return nil, &Rejection{Reason: "rotated and past its grace period", KeyID: tok.ID}
		}
		return nil, &Rejection{Reason: "expired", KeyID: tok.ID}
	}
	if len(rec.cidrs) > 0 && !containsAddr(rec.cidrs, client) {
		return nil, &Rejection{Reason: "source address not allowed for this key", KeyID: tok.ID}
	}
	s.usage.record(tok.ID, now)
	if rec.pepperVersion != pv {
		old := rec.hash
		s.rehashLater("key:"+tok.ID, presented, old, func(ctx context.Context, newHash []byte, v uint32) (bool, error) {
			return s.st.RehashKey(ctx, tok.ID, old, newHash, v)
		})
	}
	return &rec.verified, nil
}

var dummyHash = make([]byte, 32)

func (r *record) hashOrDummy() []byte {
	if r == nil {
		return dummyHash
	}
	return r.hash
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lookup returns the record for id (nil: unknown id) from the cache, or
// from the store when the cached entry is missing or past its ttl. When the
// store fails, an entry past its ttl is still used for stale_if_error.
func (s *Service) lookup(ctx context.Context, id string, now time.Time) (*record, error) {
	e, ok := s.cache.get(id)
	if ok {
		ttl := s.o.CacheTTL
		if e.rec == nil {
			ttl = s.o.NegativeTTL
		}
		if now.Sub(e.loaded) < ttl {
			s.stats.Hits.Add(1)
			return e.rec, nil
		}
	}
	s.stats.Misses.Add(1)
	rec, err := s.load(ctx, id, now)
	if err != nil {
		if s.noteMissing(err) {
			// The store answered: the record needs a secret version this
			// instance lacks. A cached copy (read before it changed) is
			// still served, without calling the store unreachable.
			if ok && e.rec != nil && now.Sub(e.loaded) < s.o.CacheTTL+s.o.StaleIfError {
				return e.rec, nil
			}
			return nil, err
		}
		if ok && e.rec != nil && now.Sub(e.loaded) < s.o.CacheTTL+s.o.StaleIfError {
			s.markStoreDown(err)
			s.stats.Stale.Add(1)
			return e.rec, nil
		}
		return nil, err
	}
	s.markStoreUp()
	return rec, nil
}

// flight coalesces concurrent loads of one id into one query.
type flight struct {
	wg  sync.WaitGroup
	rec *record
	err error
}

func (s *Service) load(ctx context.Context, id string, now time.Time) (*record, error) {
	s.flightMu.Lock()
	if f, ok := s.flights[id]; ok {
		s.flightMu.Unlock()
		f.wg.Wait()
		return f.rec, f.err
	}
	f := &flight{}
	f.wg.Add(1)
	s.flights[id] = f
	s.flightMu.Unlock()

	gen := s.cache.generation()
	// The load is shared, so one caller giving up must not fail the others.
	f.rec, f.err = s.fetch(context.WithoutCancel(ctx), id)
	if f.err == nil {
		s.cache.put(id, f.rec, now, gen)
	}
	s.flightMu.Lock()
	delete(s.flights, id)
	s.flightMu.Unlock()
	f.wg.Done()
	return f.rec, f.err
}

func (s *Service) fetch(ctx context.Context, id string) (*record, error) {
	k, c, err := s.st.GetKeyForVerify(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec := &record{
		env: k.Environment, hash: k.Hash, pepperVersion: max(k.PepperVersion, 1), state: k.State,
		expiresAt: k.ExpiresAt, graceUntil: k.GraceUntil,
		consumerOK: c != nil && !c.Disabled,
		verified: Verified{
			KeyID: k.ID, ConsumerID: k.ConsumerID, Scopes: slices.Clip(k.Scopes),
			Tier: k.Tier, ExpiresAt: k.ExpiresAt,
		},
	}
	if c != nil {
		rec.verified.ConsumerName = c.Name
		rec.verified.Groups = slices.Clip(c.Groups)
		if rec.verified.Tier == "" {
			rec.verified.Tier = c.Tier
		}
	}
	if len(k.Sealed) > 0 {
		var ks keySecrets
		if err := s.openSealed(k.Sealed, "key", k.ID, &ks); err != nil {
			return nil, err
		}
		for _, cidr := range ks.AllowedCIDRs {
			p, err := netip.ParsePrefix(cidr)
			if err != nil {
				return nil, errors.New("key " + k.ID + ": stored allowed CIDR does not parse")
			}
			rec.cidrs = append(rec.cidrs, p)
		}
	}
	return rec, nil
}

func aad(kind, id string) []byte { return []byte("portcullis:" + kind + ":" + id) }

func (s *Service) seal(kind, id string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return s.sec.Keyring.SealVersion(s.writes().master, b, aad(kind, id))
}

func (s *Service) openSealed(sealed []byte, kind, id string, v any) error {
	b, err := s.sec.Keyring.Open(sealed, aad(kind, id))
	if err != nil {
		s.noteMissing(err)
		return fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return json.Unmarshal(b, v)
}

package keys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
)

// DefaultHeartbeat is how often an instance records itself in the store's
// registry; a row not refreshed for InstanceTTLFactor beats is dead.
const (
	DefaultHeartbeat  = 10 * time.Second
	InstanceTTLFactor = 3
)

// writeVersions are the secret versions new data is written under: the
// newest master key and pepper versions that this instance and every live
// instance in the registry hold, so whatever one instance writes, all can
// read. Adding a version to one instance's configuration therefore changes
// nothing until every instance has it; then writes move to it by
// themselves.
type writeVersions struct {
	master, pepper uint32
}

// writes returns the versions to write under now.
func (s *Service) writes() writeVersions { return *s.writeVer.Load() }

// pepperFor is the hasher and version new credentials are hashed with.
func (s *Service) pepperFor() (*Hasher, uint32) {
	v := s.writes().pepper
	h, _ := s.sec.Peppers.Hasher(v) // writes only names versions held here
	return h, v
}

// chainer is the audit chain key events are appended with.
func (s *Service) chainer() *audit.Chainer { return s.sec.Peppers.Chainer(s.writes().pepper) }

// newestCommon is the newest of mine that every one of others holds, or
// 0 when there is none.
func newestCommon(mine []uint32, others [][]uint32) uint32 {
	for i := len(mine) - 1; i >= 0; i-- {
		v := mine[i]
		all := true
		for _, o := range others {
			if !slices.Contains(o, v) {
				all = false
				break
			}
		}
		if all {
			return v
		}
	}
	return 0
}

// LoadVersions reads the live instances and sets the versions this
// Service writes under: the newest every live instance holds. Without a
// registry answer, or with no version in common, it writes under its own
// newest (and says so).
func (s *Service) LoadVersions(ctx context.Context) error {
	list, err := s.st.ListInstances(ctx, s.clock.Now())
	if err != nil {
		return err
	}
	var mks, pps [][]uint32
	for _, in := range list {
		if in.ID == s.instanceID {
			continue
		}
		mks = append(mks, in.MasterKeyVersions)
		pps = append(pps, in.PepperVersions)
	}
	w := writeVersions{
		master: newestCommon(s.sec.Keyring.Versions(), mks),
		pepper: newestCommon(s.sec.Peppers.Versions(), pps),
	}
	if w.master == 0 {
		w.master = s.sec.Keyring.Current()
		s.log.Warn("no master key version is held by every live instance; sealing under this instance's newest: instances without it cannot read what it writes",
			"version", w.master)
	}
	if w.pepper == 0 {
		w.pepper = s.sec.Peppers.Current()
		s.log.Warn("no pepper version is held by every live instance; hashing under this instance's newest: instances without it cannot verify what it issues",
			"version", w.pepper)
	}
	if old := s.writeVer.Swap(&w); *old != w {
		s.log.Info("secret versions for new data", "master_key", w.master, "pepper", w.pepper)
	}
	return nil
}

// instanceRow is this instance's registry row as of now.
func (s *Service) instanceRow() *store.Instance {
	now := s.clock.Now()
	return &store.Instance{
		ID: s.instanceID, Host: s.host, StartedAt: s.started,
		MasterKeyVersions: s.sec.Keyring.Versions(), PepperVersions: s.sec.Peppers.Versions(),
		HeartbeatAt: now, ExpiresAt: now.Add(InstanceTTLFactor * s.o.Heartbeat),
	}
}

// beat records this instance and re-reads the others.
func (s *Service) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.st.Heartbeat(ctx, s.instanceRow()); err != nil {
		s.log.Warn("recording this instance in the key store failed; retrying at the next heartbeat", "error", err.Error())
		return
	}
	if err := s.LoadVersions(ctx); err != nil {
		s.log.Warn("reading the live instances failed; keeping the current write versions", "error", err.Error())
	}
}

func (s *Service) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(s.o.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.beat(ctx)
		}
	}
}

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// LiveInstance is an instance the registry lists as alive.
type LiveInstance struct {
	ID                string    `json:"id"`
	Host              string    `json:"host"`
	MasterKeyVersions []uint32  `json:"master_key_versions"`
	PepperVersions    []uint32  `json:"pepper_versions"`
	HeartbeatAt       time.Time `json:"heartbeat_at"`
}

// LiveInstances lists the instances alive now.
func (s *Service) LiveInstances(ctx context.Context) ([]LiveInstance, error) {
	list, err := s.st.ListInstances(ctx, s.clock.Now())
	if err != nil {
		return nil, err
	}
	out := make([]LiveInstance, len(list))
	for i, in := range list {
		out[i] = LiveInstance{ID: in.ID, Host: in.Host, MasterKeyVersions: in.MasterKeyVersions,
			PepperVersions: in.PepperVersions, HeartbeatAt: in.HeartbeatAt}
	}
	return out, nil
}

// missing tracks the versions this instance found data written under
// but does not hold, for /readyz and one log line each.
type missing struct {
	mu   sync.Mutex
	seen map[MissingVersionError]bool
}

// note records err when it is a MissingVersionError, logging the first
// time; it reports whether it was one.
func (s *Service) noteMissing(err error) bool {
	mv, ok := asMissing(err)
	if !ok {
		return false
	}
	s.missing.mu.Lock()
	first := !s.missing.seen[*mv]
	if s.missing.seen == nil {
		s.missing.seen = map[MissingVersionError]bool{}
	}
	s.missing.seen[*mv] = true
	s.missing.mu.Unlock()
	if first {
		s.log.Error("data in the key store was written under a secret version this instance does not hold; it cannot serve it until restarted with it",
			"secret", "keys."+mv.Secret, "version", mv.Version)
	}
	return true
}

func asMissing(err error) (*MissingVersionError, bool) {
	var mv *MissingVersionError
	if err == nil || !errors.As(err, &mv) {
		return nil, false
	}
	return mv, true
}

// missingReport is the /readyz text for the versions noted, or "".
func (s *Service) missingReport() string {
	s.missing.mu.Lock()
	defer s.missing.mu.Unlock()
	if len(s.missing.seen) == 0 {
		return ""
	}
	var parts []string
	for mv := range s.missing.seen {
		parts = append(parts, fmt.Sprintf("keys.%s v%d", mv.Secret, mv.Version))
	}
	slices.Sort(parts)
	return "data in the key store needs " + strings.Join(parts, ", ") + ", which this instance does not hold: add it and restart"
}

// rehashLater re-hashes a credential that just verified under an older
// pepper version: the new hash is computed now (the secret is known only
// during its verification and is not kept), and stored in the background
// by swap, only if the stored hash is still the old one. One re-hash per
// credential at a time.
func (s *Service) rehashLater(id, presented string, old []byte, swap func(ctx context.Context, newHash []byte, version uint32) (bool, error)) {
	if _, busy := s.rehashing.LoadOrStore(id, true); busy {
		return
	}
	h, v := s.pepperFor()
	newHash := h.Sum(presented)
	s.rehashWG.Add(1)
	go func() {
		defer s.rehashWG.Done()
		defer s.rehashing.Delete(id)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := swap(ctx, newHash, v); err != nil {
			s.log.Warn("re-hashing a credential under the current pepper failed; it is tried again at its next use",
				"credential", id, "pepper", v, "error", err.Error())
		}
	}()
}

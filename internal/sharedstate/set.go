package sharedstate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Set is a small named collection of expiring members that every instance
// can list: the blocks detectors impose, which every instance enforces and
// the admin API lists. A Store entry is found by its key; a Set member is
// found by listing, so a Set is meant for hundreds or thousands of members,
// not millions (MaxMembers bounds it, and Members returns them all).
//
// Members have no owner: any instance, or an admin, may replace or remove
// one. Every member has its own TTL and disappears when it runs out.
type Set interface {
	// Put stores value under member, replacing what was there, for ttl.
	// ErrFull when the set holds MaxMembers live members and member is
	// not one of them.
	Put(ctx context.Context, set, member string, value []byte, ttl time.Duration) error
	// Remove deletes member and reports whether it was live.
	Remove(ctx context.Context, set, member string) (bool, error)
	// Members returns every live member, in no particular order.
	Members(ctx context.Context, set string) ([]Member, error)
}

// Member is one live member of a Set.
type Member struct {
	ID    string
	Value []byte
	// TTL is how long the member has left (to the millisecond).
	TTL time.Duration
}

// SetLimits bound a Set.
type SetLimits struct {
	// MaxMembers bounds the live members of one set (> 0).
	MaxMembers int
	// MaxValueBytes bounds one member's value.
	MaxValueBytes int
}

func (l SetLimits) validate() error {
	if l.MaxMembers <= 0 || l.MaxValueBytes < 0 {
		return fmt.Errorf("sharedstate: set limits %+v: max members must be positive", l)
	}
	return nil
}

func checkSetName(set string) error {
	if set == "" || strings.ContainsAny(set, "{}") {
		return fmt.Errorf("%w: set name empty or with a brace", ErrInvalid)
	}
	return nil
}

func checkSetArgs(set, member string) error {
	if err := checkSetName(set); err != nil {
		return err
	}
	if member == "" || len(set)+len(member) > MaxKeyBytes {
		return fmt.Errorf("%w: member empty or longer than %d bytes with the set name", ErrInvalid, MaxKeyBytes)
	}
	return nil
}

// MemorySet is the Set of a single instance.
type MemorySet struct {
	limits SetLimits
	now    func() time.Time

	mu   sync.Mutex
	sets map[string]map[string]setEntry
}

type setEntry struct {
	value []byte
	exp   time.Time
}

var _ Set = (*MemorySet)(nil)

// NewMemorySet returns an in-process Set; now nil means time.Now.
func NewMemorySet(limits SetLimits, now func() time.Time) (*MemorySet, error) {
	if err := limits.validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &MemorySet{limits: limits, now: now, sets: map[string]map[string]setEntry{}}, nil
}

// live returns set's members after dropping the expired ones. mu is held.
func (m *MemorySet) live(set string, now time.Time) map[string]setEntry {
	s := m.sets[set]
	for id, e := range s {
		if !now.Before(e.exp) {
			delete(s, id)
		}
	}
	return s
}

// Put implements Set.
func (m *MemorySet) Put(_ context.Context, set, member string, value []byte, ttl time.Duration) error {
	if err := checkSetArgs(set, member); err != nil {
		return err
	}
	ttl, err := checkTTL(ttl)
	if err != nil {
		return err
	}
	if err := checkSize("value", len(value), m.limits.MaxValueBytes); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s := m.live(set, now)
	if s == nil {
		s = map[string]setEntry{}
		m.sets[set] = s
	}
	if _, ok := s[member]; !ok && len(s) >= m.limits.MaxMembers {
		return ErrFull
	}
	s[member] = setEntry{value: clone(value), exp: now.Add(ttl)}
	return nil
}

// Remove implements Set.
func (m *MemorySet) Remove(_ context.Context, set, member string) (bool, error) {
	if err := checkSetArgs(set, member); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.live(set, m.now())
	_, ok := s[member]
	delete(s, member)
	return ok, nil
}

// Members implements Set.
func (m *MemorySet) Members(_ context.Context, set string) ([]Member, error) {
	if err := checkSetName(set); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s := m.live(set, now)
	out := make([]Member, 0, len(s))
	for id, e := range s {
		out = append(out, Member{ID: id, Value: clone(e.value), TTL: e.exp.Sub(now)})
	}
	return out, nil
}

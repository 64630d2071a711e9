package secmon

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/sharedstate"
)

// Block is an automatic response in force: requests from an IP (an IPv6
// /64), or by a consumer or credential, are refused (mode block), or
// limited to safe methods (mode read_only), until Until.
type Block struct {
	// ID names the block (12 base62 characters) in the admin API.
	ID string `json:"id"`
	// Kind is ip, consumer or credential.
	Kind string `json:"kind"`
	// Value is the IP address or IPv6 /64, the consumer id or the
	// credential id.
	Value string `json:"value"`
	// Mode is block or read_only.
	Mode     string    `json:"mode"`
	Detector string    `json:"detector"`
	Reason   string    `json:"reason"`
	Created  time.Time `json:"created"`
	Until    time.Time `json:"until"`
	// Offence is the step of the ladder this block took (1 for a first).
	Offence int `json:"offence"`
}

func (b *Block) subject() string { return b.Kind + ":" + b.Value }

// Set names in the shared store.
const (
	setBlocks   = "secmon:blocks"
	setOffences = "secmon:offences"
)

// blockStore keeps blocks in a sharedstate.Set (Redis, shared by every
// instance, or memory) and a local index that requests read without a
// lock or a round trip: an atomic pointer to an immutable index, replaced
// when this instance imposes or lifts a block and when a sync reads the
// shared set. A block imposed elsewhere is enforced here after at most one
// sync interval. When the shared store fails, blocks imposed here are kept
// locally and written again at the next sync.
type blockStore struct {
	set    sharedstate.Set
	shared bool // set is shared with other instances
	now    func() time.Time
	log    *slog.Logger
	onErr  func()
	forget time.Duration

	mu      sync.Mutex
	known   map[string]Block     // id -> block, as of the last sync plus local changes
	pending map[string]Block     // imposed here, not yet in the shared store
	lifted  map[string]time.Time // ids lifted here, ignored by syncs until then

	idx atomic.Pointer[blockIndex]
}

// blockIndex is what requests look up.
type blockIndex struct {
	ip         map[netip.Addr]*Block
	consumer   map[string]*Block
	credential map[string]*Block
	n          int
}

func newBlockStore(set sharedstate.Set, shared bool, forget time.Duration, now func() time.Time, log *slog.Logger, onErr func()) *blockStore {
	s := &blockStore{set: set, shared: shared, now: now, log: log, onErr: onErr, forget: forget,
		known: map[string]Block{}, pending: map[string]Block{}, lifted: map[string]time.Time{}}
	s.idx.Store(&blockIndex{})
	return s
}

// reindex rebuilds the index from known. s.mu is held.
func (s *blockStore) reindex() {
	now := s.now()
	ix := &blockIndex{}
	for id, b := range s.known {
		if !now.Before(b.Until) {
			delete(s.known, id)
			continue
		}
		b := b
		switch b.Kind {
		case KindIP:
			a, err := parseSource(b.Value)
			if err != nil {
				continue
			}
			if ix.ip == nil {
				ix.ip = map[netip.Addr]*Block{}
			}
			if cur := ix.ip[a]; cur == nil || stronger(&b, cur) {
				ix.ip[a] = &b
			}
		case KindConsumer:
			if ix.consumer == nil {
				ix.consumer = map[string]*Block{}
			}
			if cur := ix.consumer[b.Value]; cur == nil || stronger(&b, cur) {
				ix.consumer[b.Value] = &b
			}
		case KindCredential:
			if ix.credential == nil {
				ix.credential = map[string]*Block{}
			}
			if cur := ix.credential[b.Value]; cur == nil || stronger(&b, cur) {
				ix.credential[b.Value] = &b
			}
		default:
			continue
		}
		ix.n++
	}
	s.idx.Store(ix)
}

// stronger: a block beats read_only; then the later end wins.
func stronger(a, b *Block) bool {
	if a.Mode != b.Mode {
		return a.Mode == ModeBlock
	}
	return a.Until.After(b.Until)
}

// parseSource reads a Block value of kind ip: an address or an IPv6 /64.
func parseSource(v string) (netip.Addr, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		if p.Bits() != 64 || !p.Addr().Is6() {
			return netip.Addr{}, errors.New("not an IPv6 /64")
		}
		return p.Masked().Addr(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, err
	}
	return sourceOf(a), nil
}

func (s *blockStore) active() int { return s.idx.Load().n }

// lookups on the request path: nil when nothing applies. An expired block
// is ignored until the next reindex drops it.

func (s *blockStore) forIP(a netip.Addr, now time.Time) *Block {
	ix := s.idx.Load()
	if ix.ip == nil || !a.IsValid() {
		return nil
	}
	return live(ix.ip[sourceOf(a)], now)
}

func (s *blockStore) forConsumer(c string, now time.Time) *Block {
	ix := s.idx.Load()
	if ix.consumer == nil || c == "" {
		return nil
	}
	return live(ix.consumer[c], now)
}

func (s *blockStore) forCredential(c string, now time.Time) *Block {
	ix := s.idx.Load()
	if ix.credential == nil || c == "" {
		return nil
	}
	return live(ix.credential[c], now)
}

// empty reports whether no block is known at all (the common case: one
// atomic load per request).
func (s *blockStore) empty() bool { return s.idx.Load().n == 0 }

func live(b *Block, now time.Time) *Block {
	if b == nil || !now.Before(b.Until) {
		return nil
	}
	return b
}

// impose stores b (its ID, Offence and Until are set here from the
// ladder and the subject's past offences) and enforces it at once.
func (s *blockStore) impose(ctx context.Context, b Block, ladder []time.Duration) Block {
	now := s.now()
	offence := 1
	if n, ok := s.offences(ctx, b.subject()); ok {
		offence = n + 1
	}
	d := ladder[min(offence, len(ladder))-1]
	b.ID, b.Offence, b.Created, b.Until = newBlockID(), offence, now.UTC(), now.Add(d).UTC()
	val, _ := json.Marshal(b)
	err := s.set.Put(ctx, setBlocks, b.ID, val, d)
	if oerr := s.set.Put(ctx, setOffences, b.subject(), []byte(strconv.Itoa(offence)), d+s.forget); oerr != nil && err == nil {
		// The block holds; only its next step on the ladder may start
		// lower than it should.
		s.failed("recording an offence", oerr)
	}
	s.mu.Lock()
	s.known[b.ID] = b
	if err != nil {
		s.pending[b.ID] = b
	}
	s.reindex()
	s.mu.Unlock()
	if err != nil {
		s.failed("imposing a block", err)
	}
	return b
}

// offences returns how many blocks subject had within forget_after.
func (s *blockStore) offences(ctx context.Context, subject string) (int, bool) {
	ms, err := s.set.Members(ctx, setOffences)
	if err != nil {
		s.failed("reading offences", err)
		return 0, false
	}
	for _, m := range ms {
		if m.ID == subject {
			n, err := strconv.Atoi(string(m.Value))
			return n, err == nil
		}
	}
	return 0, false
}

// lift removes the block id everywhere; it reports the block when it was
// in force.
func (s *blockStore) lift(ctx context.Context, id string) (Block, bool, error) {
	b, ok := s.get(ctx, id)
	if !ok {
		return Block{}, false, nil
	}
	if _, err := s.set.Remove(ctx, setBlocks, id); err != nil {
		s.failed("lifting a block", err)
		return Block{}, false, err
	}
	s.mu.Lock()
	delete(s.known, id)
	delete(s.pending, id)
	s.lifted[id] = b.Until
	s.reindex()
	s.mu.Unlock()
	return b, true, nil
}

// get finds a live block by id (shared first, so a block imposed by
// another instance a moment ago can be lifted here).
func (s *blockStore) get(ctx context.Context, id string) (Block, bool) {
	if s.shared {
		_ = s.sync(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.known[id]
	if ok && !s.now().Before(b.Until) {
		ok = false
	}
	return b, ok
}

// list returns the blocks in force, soonest end first.
func (s *blockStore) list(ctx context.Context) []Block {
	if s.shared {
		_ = s.sync(ctx)
	}
	s.mu.Lock()
	now := s.now()
	out := make([]Block, 0, len(s.known))
	for _, b := range s.known {
		if now.Before(b.Until) {
			out = append(out, b)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Block) int { return a.Until.Compare(b.Until) })
	return out
}

// sync reads the shared set (writing back blocks imposed while it was
// unreachable) and rebuilds the index.
func (s *blockStore) sync(ctx context.Context) error {
	s.mu.Lock()
	var retry []Block
	for _, b := range s.pending {
		retry = append(retry, b)
	}
	s.mu.Unlock()
	for _, b := range retry {
		if d := b.Until.Sub(s.now()); d > 0 {
			val, _ := json.Marshal(b)
			if err := s.set.Put(ctx, setBlocks, b.ID, val, d); err != nil {
				s.failed("writing a pending block", err)
				return err
			}
		}
		s.mu.Lock()
		delete(s.pending, b.ID)
		s.mu.Unlock()
	}
	ms, err := s.set.Members(ctx, setBlocks)
	if err != nil {
		s.failed("reading the blocks", err)
		return err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]Block, len(ms))
	for _, m := range ms {
		var b Block
		if json.Unmarshal(m.Value, &b) != nil || b.ID != m.ID {
			continue
		}
		if until, gone := s.lifted[b.ID]; gone && now.Before(until) {
			continue
		}
		next[b.ID] = b
	}
	for id, b := range s.pending {
		next[id] = b
	}
	for id, until := range s.lifted {
		if !now.Before(until) {
			delete(s.lifted, id)
		}
	}
	s.known = next
	s.reindex()
	return nil
}

func (s *blockStore) failed(what string, err error) {
	s.onErr()
	s.log.Warn("security block store: "+what+" failed; blocks imposed here are enforced here only until it answers", "error", err.Error())
}

// newBlockID returns 12 base62 characters, the shape of every id the
// admin API takes.
func newBlockID() string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [12]byte
	var r [12]byte
	_, _ = rand.Read(r[:])
	for i := range b {
		b[i] = base62[int(r[i])%62]
	}
	return string(b[:])
}

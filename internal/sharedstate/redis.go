package sharedstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// An entry is a hash under prefix{Scope}ID: s state, o owner ("" for Seen
// markers), m meta, v value. Every script touches only KEYS[1], so Redis
// Cluster routes it by the key's slot, and keeps time only through
// PEXPIRE/PTTL, so no gateway's clock is ever compared with another's.
var (
	// ARGV: state, owner, meta, ttl ms.
	// Returns {1} if written, else {0, state, meta, value, pttl}.
	reserveScript = redis.NewScript(`
local e = redis.call('HMGET', KEYS[1], 's', 'm', 'v')
if e[1] then
  return {0, e[1], e[2] or '', e[3] or '', redis.call('PTTL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'o', ARGV[2], 'm', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1}
`)

	// Returns {0} if absent, else {1, state, meta, value, pttl}.
	getScript = redis.NewScript(`
local e = redis.call('HMGET', KEYS[1], 's', 'm', 'v')
if not e[1] then return {0} end
return {1, e[1], e[2] or '', e[3] or '', redis.call('PTTL', KEYS[1])}
`)

	// The owner's operations, so the owner rule is written once.
	// ARGV: owner, op (x extend, c complete, r release), ttl ms, state, value.
	// Returns 1 done, 0 absent, -1 another owner.
	ownedScript = redis.NewScript(`
local o = redis.call('HGET', KEYS[1], 'o')
if not o then return 0 end
if o ~= ARGV[1] then return -1 end
if ARGV[2] == 'r' then
  redis.call('DEL', KEYS[1])
  return 1
end
if ARGV[2] == 'c' then
  redis.call('HSET', KEYS[1], 's', ARGV[4], 'v', ARGV[5])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)
)

// Redis is the Store shared by every gateway instance using the same Redis.
// Each operation is one EVALSHA of a single-key script: one round trip,
// atomic, and valid on Redis Cluster.
//
// Redis must not evict these keys early, for the reason Memory refuses
// instead of evicting: run it with maxmemory-policy noeviction, so a full
// Redis refuses writes (ErrUnavailable) rather than dropping entries. A
// Redis restarted without persistence forgets every entry.
//
// How promptly an unreachable Redis is reported is set on the client:
// DialTimeout, ReadTimeout, WriteTimeout, PoolTimeout, and MaxRetries (-1
// is best: a retried Reserve or Seen that had succeeded would report the
// caller's own entry as someone else's, which fails closed but spuriously).
type Redis struct {
	client redis.UniversalClient
	prefix string
	limits Limits
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on client (which the caller keeps and closes)
// whose keys all start with prefix. The prefix must not contain a brace:
// it would take the hash tag from the Key's Scope.
func NewRedis(client redis.UniversalClient, prefix string, limits Limits) (*Redis, error) {
	if client == nil {
		return nil, errors.New("sharedstate: nil redis client")
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, errors.New("sharedstate: redis key prefix contains a brace")
	}
	if err := limits.validate(); err != nil {
		return nil, err
	}
	return &Redis{client: client, prefix: prefix, limits: limits}, nil
}

// redisKey is prefix{Scope}ID: unambiguous because Scope has no brace.
func (r *Redis) redisKey(k Key) []string {
	return []string{r.prefix + "{" + k.Scope + "}" + k.ID}
}

// Reserve implements Store.
func (r *Redis) Reserve(ctx context.Context, k Key, owner string, meta []byte, ttl time.Duration) (Entry, bool, error) {
	ttl, err := checkOwned(k, owner, ttl)
	if err != nil {
		return Entry{}, false, err
	}
	if err := checkSize("meta", len(meta), r.limits.MaxMetaBytes); err != nil {
		return Entry{}, false, err
	}
	return r.reserve(ctx, k, InFlight, owner, meta, ttl)
}

// Seen implements Store: a Reserve of a Done marker with no owner.
func (r *Redis) Seen(ctx context.Context, k Key, ttl time.Duration) (bool, error) {
	if err := checkKey(k); err != nil {
		return false, err
	}
	ttl, err := checkTTL(ttl)
	if err != nil {
		return false, err
	}
	_, first, err := r.reserve(ctx, k, Done, "", nil, ttl)
	return first, err
}

func (r *Redis) reserve(ctx context.Context, k Key, s State, owner string, meta []byte, ttl time.Duration) (Entry, bool, error) {
	raw, err := reserveScript.Run(ctx, r.client, r.redisKey(k), uint8(s), owner, meta, ttl.Milliseconds()).Slice()
	if err != nil {
		return Entry{}, false, unavailable(err)
	}
	if len(raw) == 1 && asInt(raw[0]) == 1 {
		return Entry{}, true, nil
	}
	e, err := parseEntry(raw)
	return e, false, err
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, k Key) (Entry, bool, error) {
	if err := checkKey(k); err != nil {
		return Entry{}, false, err
	}
	raw, err := getScript.Run(ctx, r.client, r.redisKey(k)).Slice()
	if err != nil {
		return Entry{}, false, unavailable(err)
	}
	if len(raw) == 1 && asInt(raw[0]) == 0 {
		return Entry{}, false, nil
	}
	e, err := parseEntry(raw)
	return e, err == nil, err
}

// Extend implements Store.
func (r *Redis) Extend(ctx context.Context, k Key, owner string, ttl time.Duration) error {
	ttl, err := checkOwned(k, owner, ttl)
	if err != nil {
		return err
	}
	return r.owned(ctx, k, owner, "x", ttl, 0, nil)
}

// Complete implements Store.
func (r *Redis) Complete(ctx context.Context, k Key, owner string, state State, value []byte, ttl time.Duration) error {
	ttl, err := checkOwned(k, owner, ttl)
	if err != nil {
		return err
	}
	if err := checkFinal(state); err != nil {
		return err
	}
	if err := checkSize("value", len(value), r.limits.MaxValueBytes); err != nil {
		return err
	}
	return r.owned(ctx, k, owner, "c", ttl, state, value)
}

// Release implements Store.
func (r *Redis) Release(ctx context.Context, k Key, owner string) error {
	if err := checkKey(k); err != nil {
		return err
	}
	if err := checkOwner(owner); err != nil {
		return err
	}
	return r.owned(ctx, k, owner, "r", 0, 0, nil)
}

func (r *Redis) owned(ctx context.Context, k Key, owner, op string, ttl time.Duration, s State, value []byte) error {
	n, err := ownedScript.Run(ctx, r.client, r.redisKey(k), owner, op, ttl.Milliseconds(), uint8(s), value).Int64()
	switch {
	case err != nil:
		return unavailable(err)
	case n == 0:
		return ErrNotFound
	case n == -1:
		return ErrNotOwner
	case n == 1:
		return nil
	}
	return unavailable(fmt.Errorf("unexpected script reply %d", n))
}

// parseEntry reads {flag, state, meta, value, pttl}; a reply of any other
// shape (a foreign key under our prefix) is an error, never a panic.
func parseEntry(raw []any) (Entry, error) {
	bad := unavailable(errors.New("unexpected script reply"))
	if len(raw) != 5 {
		return Entry{}, bad
	}
	st, _ := raw[1].(string)
	meta, ok1 := raw[2].(string)
	value, ok2 := raw[3].(string)
	pttl, ok3 := raw[4].(int64)
	n, err := strconv.ParseUint(st, 10, 8)
	s := State(n)
	if err != nil || s < InFlight || s > InDoubt || !ok1 || !ok2 || !ok3 {
		return Entry{}, bad
	}
	e := Entry{State: s, Meta: bytesOf(meta), Value: bytesOf(value)}
	if pttl > 0 {
		e.TTL = time.Duration(pttl) * time.Millisecond
	}
	return e, nil
}

func asInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

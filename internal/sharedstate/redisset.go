package sharedstate

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis set is one hash under prefix{set}: each field is a member, its
// value "<expiry ms>:<value>", the expiry on the Redis server's clock
// (TIME), so no gateway's clock is compared with another's. Expired
// members are dropped by whichever script next reads them; the key itself
// expires with its longest-lived member. The set's name is the hash tag:
// a set lives in one Cluster slot, which suits its size.
var (
	// ARGV: member, value, ttl ms, max members. Returns 1, or 0 when full.
	setPutScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    local c = string.find(all[i+1], ':', 1, true)
    local e = c and tonumber(string.sub(all[i+1], 1, c - 1))
    if not e or e <= now then redis.call('HDEL', KEYS[1], all[i]) end
  end
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + ttl) .. ':' .. ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`)

	// ARGV: member. Returns 1 if it was live, else 0.
	setRemoveScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local c = string.find(v, ':', 1, true)
local e = c and tonumber(string.sub(v, 1, c - 1))
if e and e > now then return 1 end
return 0
`)

	// Returns {member, value, ttl ms, ...} of the live members.
	setMembersScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local c = string.find(all[i+1], ':', 1, true)
  local e = c and tonumber(string.sub(all[i+1], 1, c - 1))
  if not e or e <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out+1] = all[i]
    out[#out+1] = string.sub(all[i+1], c + 1)
    out[#out+1] = e - now
  end
end
return out
`)
)

// RedisSet is the Set shared by every instance using the same Redis.
type RedisSet struct {
	client redis.UniversalClient
	prefix string
	limits SetLimits
}

var _ Set = (*RedisSet)(nil)

// NewRedisSet returns a Set on client (the caller keeps and closes it)
// whose keys start with prefix.
func NewRedisSet(client redis.UniversalClient, prefix string, limits SetLimits) (*RedisSet, error) {
	if client == nil {
		return nil, errors.New("sharedstate: nil redis client")
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, errors.New("sharedstate: redis key prefix contains a brace")
	}
	if err := limits.validate(); err != nil {
		return nil, err
	}
	return &RedisSet{client: client, prefix: prefix, limits: limits}, nil
}

func (r *RedisSet) key(set string) []string { return []string{r.prefix + "{" + set + "}"} }

// Put implements Set.
func (r *RedisSet) Put(ctx context.Context, set, member string, value []byte, ttl time.Duration) error {
	if err := checkSetArgs(set, member); err != nil {
		return err
	}
	ttl, err := checkTTL(ttl)
	if err != nil {
		return err
	}
	if err := checkSize("value", len(value), r.limits.MaxValueBytes); err != nil {
		return err
	}
	n, err := setPutScript.Run(ctx, r.client, r.key(set), member, value, ttl.Milliseconds(), r.limits.MaxMembers).Int64()
	switch {
	case err != nil:
		return unavailable(err)
	case n == 0:
		return ErrFull
	}
	return nil
}

// Remove implements Set.
func (r *RedisSet) Remove(ctx context.Context, set, member string) (bool, error) {
	if err := checkSetArgs(set, member); err != nil {
		return false, err
	}
	n, err := setRemoveScript.Run(ctx, r.client, r.key(set), member).Int64()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Members implements Set.
func (r *RedisSet) Members(ctx context.Context, set string) ([]Member, error) {
	if err := checkSetName(set); err != nil {
		return nil, err
	}
	raw, err := setMembersScript.Run(ctx, r.client, r.key(set)).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(raw)%3 != 0 {
		return nil, unavailable(errors.New("unexpected script reply"))
	}
	out := make([]Member, 0, len(raw)/3)
	for i := 0; i < len(raw); i += 3 {
		id, ok1 := raw[i].(string)
		v, ok2 := raw[i+1].(string)
		ms, ok3 := raw[i+2].(int64)
		if !ok1 || !ok2 || !ok3 {
			return nil, unavailable(errors.New("unexpected script reply"))
		}
		out = append(out, Member{ID: id, Value: bytesOf(v), TTL: time.Duration(ms) * time.Millisecond})
	}
	return out, nil
}

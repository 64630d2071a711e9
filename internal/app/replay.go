package app

import (
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// replayStore is where the process remembers DPoP proof jti values, for
// its whole life (a reload must not forget a proof that is still fresh):
// with rate_limits.store type redis, that Redis, through the rate-limit
// store's own connection pool, so every instance refuses a proof any of
// them accepted; otherwise memory, bounded like the rate-limit memory
// store (rate_limits.store.max_keys) and refusing new proofs when full.
// A change of rate_limits.store needs a restart, like the limits.
func replayStore(cfg *config.Config, limits *ratelimit.Stores) (sharedstate.Store, error) {
	if c := limits.RedisClient(); c != nil {
		return sharedstate.NewRedis(c, cfg.RateLimits.Store.Redis.KeyPrefix, sharedstate.Limits{})
	}
	return sharedstate.NewMemory(cfg.RateLimits.Store.MaxKeys, sharedstate.MemoryOptions{})
}

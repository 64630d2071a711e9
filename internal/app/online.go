package app

import (
	"context"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/ratelimit"
)

// online contacts what validate --online may reach: the key store (it
// must answer, and its schema must not be newer than this binary) and the
// Redis rate-limit store. Nothing is written.
func online(cfg *config.Config, sound func(string) bool, o Options) config.Errors {
	var errs config.Errors
	timeout := o.OpenTimeout
	if timeout == 0 {
		timeout = 10e9
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if cfg.KeysInUse() && sound("keys.store") {
		if err := keys.PingStore(ctx, cfg.Keys); err != nil {
			errs.Add("keys.store", "%v", err)
		}
	}
	if st := cfg.RateLimits.Store; st.Type == "redis" && sound("rate_limits.store") {
		stores, err := ratelimit.NewStores(st, ratelimit.Options{})
		if err != nil {
			errs.Merge("rate_limits.store", err)
			return errs
		}
		defer stores.Close()
		if err := stores.Ping(ctx); err != nil {
			errs.Add("rate_limits.store.redis", "Redis does not answer: %v", err)
		}
	}
	return errs
}

package config

// RateLimits configures rate-limit policies, their stores, brute-force
// defence and IP allow/deny lists.
type RateLimits struct{}

func (c *Config) defaultRateLimits() {}

func (c *Config) validateRateLimits(errs *Errors) {}

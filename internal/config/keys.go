package config

// Keys configures API key management: the store, the pepper and master key,
// and the verification cache.
type Keys struct{}

// Admin configures the admin API listener.
type Admin struct{}

func (c *Config) defaultKeys() {}

func (c *Config) validateKeys(errs *Errors) {}

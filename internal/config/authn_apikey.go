package config

// APIKeyAuth configures the apikey authenticator.
type APIKeyAuth struct{}

func (a *APIKeyAuth) applyDefaults() {}

func (a *APIKeyAuth) validate(errs *Errors, path string, _ *Config) {}

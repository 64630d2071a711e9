package config

// MTLSAuth configures the mtls authenticator.
type MTLSAuth struct{}

func (a *MTLSAuth) applyDefaults() {}

func (a *MTLSAuth) validate(errs *Errors, path string, _ *Config) {}

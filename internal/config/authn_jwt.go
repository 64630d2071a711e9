package config

// JWTAuth configures the jwt authenticator.
type JWTAuth struct{}

func (a *JWTAuth) applyDefaults() {}

func (a *JWTAuth) validate(errs *Errors, path string) {}

package config

// IntrospectionAuth configures the introspection authenticator.
type IntrospectionAuth struct{}

func (a *IntrospectionAuth) applyDefaults() {}

func (a *IntrospectionAuth) validate(errs *Errors, path string) {}

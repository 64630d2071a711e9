package config

// Constructors (package authn/...) build from a block alone: these apply the
// block's defaults and validate it, reporting paths relative to the block,
// so an authenticator built outside Load is checked the same way.

// Prepared returns a copy of a with defaults applied, and every problem.
func (a JWTAuth) Prepared() (JWTAuth, error) {
	a.Issuers = append([]JWTIssuer(nil), a.Issuers...)
	a.applyDefaults()
	var errs Errors
	a.validate(&errs, "")
	return a, errs.Err()
}

// Prepared returns a copy of a with defaults applied, and every problem.
func (a IntrospectionAuth) Prepared() (IntrospectionAuth, error) {
	a.applyDefaults()
	var errs Errors
	a.validate(&errs, "")
	return a, errs.Err()
}

// Prepared returns a copy of a with defaults applied, and every problem
// except the listener check, which needs the whole configuration.
func (a MTLSAuth) Prepared() (MTLSAuth, error) {
	a.applyDefaults()
	var errs Errors
	a.validate(&errs, "", nil)
	return a, errs.Err()
}

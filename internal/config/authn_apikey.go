package config

import "regexp"

// APIKeyAuth configures the api_key authenticator, which verifies
// Portcullis API keys against the key store (the keys block).
type APIKeyAuth struct {
	// Header carries the key. Default X-API-Key.
	Header string `yaml:"header"`
	// QueryParam, when set, also accepts the key from this query parameter.
	// Default: none. Keys in URLs end up in browser history and proxy logs,
	// so only give this authenticator to the routes that need it (clients
	// that cannot send headers). The access log never writes query values.
	QueryParam string `yaml:"query_param"`
}

var queryParamRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func (APIKeyAuth) defaults() any { return APIKeyAuth{Header: DefaultAPIKeyHeader} }

func (a *APIKeyAuth) validate(errs *Errors, path string, _ *Config) {
	validHeaderName(errs, Join(path, "header"), a.Header)
	if a.QueryParam != "" && !queryParamRe.MatchString(a.QueryParam) {
		errs.Add(Join(path, "query_param"), "must match %s", queryParamRe)
	}
}

package config

import "time"

// IntrospectionAuth configures the introspection authenticator: opaque
// bearer tokens checked with the authorisation server's RFC 7662 endpoint.
type IntrospectionAuth struct {
	// Endpoint is the https URL of the introspection endpoint. Required.
	Endpoint string `yaml:"endpoint"`
	// ClientID is the gateway's client id at the authorisation server.
	// Required.
	ClientID string `yaml:"client_id"`
	// ClientSecret authenticates the gateway (use ${ENV}). Required unless
	// AuthMethod is tls_client_auth. Never logged.
	ClientSecret string `yaml:"client_secret"`
	// AuthMethod is how the gateway authenticates: client_secret_basic
	// (default), client_secret_post or tls_client_auth (RFC 8705, needs
	// ClientCertFile and ClientKeyFile).
	AuthMethod string `yaml:"auth_method"`
	// ClientCertFile and ClientKeyFile are a client certificate presented to
	// the endpoint (mTLS). Default: none.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// CAFile is a PEM bundle trusted for the endpoint's certificate instead
	// of the system roots. Default: system roots.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one introspection call; when it passes the request
	// fails closed with 503. Default 3s.
	Timeout Duration `yaml:"timeout"`
	// CacheTTL bounds how long an active result is reused; never beyond the
	// token's exp. Default 2m.
	CacheTTL Duration `yaml:"cache_ttl"`
	// NegativeCacheTTL is how long an inactive result is reused, so a
	// replayed bad token does not reach the server each time. Default 10s.
	NegativeCacheTTL Duration `yaml:"negative_cache_ttl"`
	// Issuer, when set, must equal the response's "iss".
	Issuer string `yaml:"issuer"`
	// Audiences, when set, must include one of the response's "aud" values.
	Audiences []string `yaml:"audiences"`
	// ClientIDs, when set, are the only "client_id" values accepted.
	ClientIDs []string `yaml:"client_ids"`
	// TokenChecks are leeway, max_token_bytes, required_claims,
	// claim_rules and claims (see TokenChecks), applied to the response.
	TokenChecks `yaml:",inline"`
}

// Introspection defaults.
const (
	DefaultIntrospectionAuthMethod  = "client_secret_basic"
	DefaultIntrospectionTimeout     = 3 * time.Second
	DefaultIntrospectionCacheTTL    = 2 * time.Minute
	DefaultIntrospectionNegativeTTL = 10 * time.Second
	DefaultIntrospectionMaxToken    = 4 << 10
)

func (IntrospectionAuth) defaults() any {
	return IntrospectionAuth{
		AuthMethod:       DefaultIntrospectionAuthMethod,
		Timeout:          Duration(DefaultIntrospectionTimeout),
		CacheTTL:         Duration(DefaultIntrospectionCacheTTL),
		NegativeCacheTTL: Duration(DefaultIntrospectionNegativeTTL),
		TokenChecks: TokenChecks{Leeway: Duration(DefaultJWTLeeway), MaxTokenBytes: DefaultIntrospectionMaxToken,
			Claims: ClaimMapping{}.defaults().(ClaimMapping)},
	}
}

func (a *IntrospectionAuth) validate(errs *Errors, path string) {
	if a.Endpoint == "" {
		errs.Add(Join(path, "endpoint"), "is required")
	} else {
		validHTTPSURL(errs, Join(path, "endpoint"), a.Endpoint)
	}
	if a.ClientID == "" {
		errs.Add(Join(path, "client_id"), "is required")
	}
	switch a.AuthMethod {
	case "client_secret_basic", "client_secret_post":
		if a.ClientSecret == "" {
			errs.Add(Join(path, "client_secret"), "is required for %s", a.AuthMethod)
		}
	case "tls_client_auth":
		if a.ClientCertFile == "" {
			errs.Add(Join(path, "client_cert_file"), "is required for tls_client_auth")
		}
		if a.ClientSecret != "" {
			errs.Add(Join(path, "client_secret"), "must not be set with tls_client_auth")
		}
	default:
		errs.Add(Join(path, "auth_method"), "must be one of client_secret_basic, client_secret_post, tls_client_auth; got %q", a.AuthMethod)
	}
	if (a.ClientCertFile == "") != (a.ClientKeyFile == "") {
		errs.Add(path, "client_cert_file and client_key_file must be set together")
	}
	if a.Timeout.D() < 100*time.Millisecond || a.Timeout.D() > time.Minute {
		errs.Add(Join(path, "timeout"), "must be between 100ms and 1m")
	}
	if a.NegativeCacheTTL > a.CacheTTL {
		errs.Add(Join(path, "negative_cache_ttl"), "must not be longer than cache_ttl")
	}
	a.TokenChecks.validate(errs, path, 16)
}

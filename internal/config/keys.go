package config

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

// Keys configures API key management: the store, the pepper and master key,
// and the verification cache. It is needed when an api_key authenticator or
// the admin API is configured.
type Keys struct {
	// Store is where consumers, keys, admin tokens and audit events live.
	Store KeyStore `yaml:"store"`
	// Environment is the environment of the keys this deployment issues and
	// the only one it accepts: "live" (default, keys start pcl_live_) or
	// "test" (pcl_test_). A test key never opens a live gateway.
	Environment string `yaml:"environment"`
	// Pepper is the server secret every key and admin token is hashed with
	// (HMAC-SHA-256), at least 32 bytes. Default: the environment variable
	// PORTCULLIS_PEPPER. Changing it invalidates every key.
	Pepper SecretRef `yaml:"pepper"`
	// MasterKey encrypts sensitive consumer and key metadata at rest
	// (AES-256-GCM). Its value is one or more comma-separated "v<N>:<base64
	// of 32 bytes>" entries; the highest version encrypts, all decrypt (see
	// `portcullis keys rekey`). Default: the environment variable
	// PORTCULLIS_MASTER_KEY.
	MasterKey SecretRef `yaml:"master_key"`
	// RotationGrace is how long a rotated key keeps working after its
	// successor is issued, unless a rotation asks for another grace. Default
	// 24h; at most 30d; 0 stops the old key at once.
	RotationGrace Duration `yaml:"rotation_grace"`
	// Cache keeps verified keys in memory so requests do not wait on the
	// store.
	Cache KeyCache `yaml:"cache"`
	// Usage configures recording of last-used times and request counts.
	Usage KeyUsage `yaml:"usage"`
}

// KeyStore selects and configures the database.
type KeyStore struct {
	// Driver is "sqlite" (default: embedded, one gateway instance) or
	// "postgres" (several instances; revocations reach all of them within a
	// second through LISTEN/NOTIFY).
	Driver string `yaml:"driver"`
	// Path is the SQLite database file, created if missing. Required for
	// sqlite.
	Path string `yaml:"path"`
	// DSN is the PostgreSQL connection string or URL. Required for postgres;
	// write it as ${ENV} since it carries a password.
	DSN string `yaml:"dsn"`
	// MaxConns bounds open database connections. Default 10.
	MaxConns int `yaml:"max_conns"`
	// Timeout bounds each database operation. Default 2s.
	Timeout Duration `yaml:"timeout"`
}

// SecretRef says where a secret comes from: an environment variable or a
// file, never the configuration itself.
type SecretRef struct {
	// Env is the environment variable holding the secret.
	Env string `yaml:"env"`
	// File is a file holding the secret (trailing newline ignored), such as
	// a mounted Kubernetes secret. Mutually exclusive with Env.
	File string `yaml:"file"`
}

// KeyCache bounds the in-memory verification cache.
type KeyCache struct {
	// Size is the most keys kept. Default 100000.
	Size int `yaml:"size"`
	// TTL is how long a key's record is used before it is read again.
	// Revocations do not wait for it: they are pushed by the change feed.
	// Default 60s.
	TTL Duration `yaml:"ttl"`
	// NegativeTTL is how long an unknown key id is remembered, so floods of
	// made-up keys do not reach the database. Default 10s.
	NegativeTTL Duration `yaml:"negative_ttl"`
	// StaleIfError is how long after its TTL a cached key keeps working while
	// the store is unreachable. Default 15m; at most 24h; 0 never serves a
	// key past its TTL.
	StaleIfError Duration `yaml:"stale_if_error"`
}

// KeyUsage configures batched usage recording.
type KeyUsage struct {
	// FlushInterval is how often last-used times and request counts are
	// written, in one batch. Default 10s.
	FlushInterval Duration `yaml:"flush_interval"`
}

// Admin configures the admin API listener. It is separate from the public
// listeners and always TLS.
type Admin struct {
	// Enabled starts the admin API. Default false.
	Enabled bool `yaml:"enabled"`
	// Address is host:port. Default 127.0.0.1:9443. A non-loopback address
	// exposes the control plane to that network: prefer client certificates
	// there.
	Address string `yaml:"address"`
	// TLS is the listener's certificate. Required when enabled.
	TLS AdminTLS `yaml:"tls"`
	// ClientCerts map verified client certificates to roles; they need
	// tls.client_ca_file. Default: none (admin tokens only).
	ClientCerts []AdminClientCert `yaml:"client_certs"`
	// MaxPageSize bounds list pages. Default 500.
	MaxPageSize int `yaml:"max_page_size"`
	// AuthFailureThreshold failed token authentications from one client
	// IP within 10 minutes block that IP's token attempts for 1m, then 5m,
	// then 1h per repeat offence (429). Client certificates are not
	// affected. Default 10; 0 turns it off.
	AuthFailureThreshold *int `yaml:"auth_failure_threshold"`
	// Roles bound what each role may grant through the admin API.
	// Default: an admin may grant any scope, an operator none (it issues
	// and rotates only keys without scopes) until admin.roles.operator.
	// max_scopes lists the scopes it may hand out.
	Roles AdminRoles `yaml:"roles"`
	// Console is the web console under /console/ on this listener.
	Console AdminConsole `yaml:"console"`
}

// AdminConsole is the admin listener's web console.
type AdminConsole struct {
	// Enabled serves the console under /console/. Default true (it
	// exists only where the admin API is enabled).
	Enabled bool `yaml:"enabled"`
	// SessionTTL is how long a console sign-in lasts, from sign-in (not
	// sliding). Default 15m; between 1m and 12h.
	SessionTTL Duration `yaml:"session_ttl"`
}

// AdminRoles are per-role ceilings. The auditor role changes nothing, so
// it has none.
type AdminRoles struct {
	// Admin bounds the admin role. Default: no ceiling (max_scopes ["*"]).
	Admin AdminRole `yaml:"admin"`
	// Operator bounds the operator role. Default: max_scopes empty.
	Operator AdminRole `yaml:"operator"`
}

// AdminRole bounds one role.
type AdminRole struct {
	// MaxScopes are the only scopes the role may put on a key it issues or
	// rotates (exact scope names, or "*" alone for any scope); anything
	// else is refused with 403 and audited as denied. An empty list allows
	// only keys without scopes. Default: see AdminRoles.
	MaxScopes []string `yaml:"max_scopes"`
}

// AnyScope in max_scopes lets a role grant every scope.
const AnyScope = "*"

// AdminTLS is the admin listener's TLS.
type AdminTLS struct {
	// CertFile is the PEM certificate chain. Required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key. Required.
	KeyFile string `yaml:"key_file"`
	// MinVersion is "1.2" or "1.3" (default: the admin clients are ours).
	MinVersion string `yaml:"min_version"`
	// ClientCAFile verifies client certificates when one is sent. Default:
	// none (client certificates are not asked for).
	ClientCAFile string `yaml:"client_ca_file"`
}

// AdminClientCert grants a role to a client certificate, matched by its
// subject common name or a URI SAN (e.g. a SPIFFE id). Exactly one is set.
type AdminClientCert struct {
	// CommonName is the subject CN to match.
	CommonName string `yaml:"common_name"`
	// URI is a URI SAN to match.
	URI string `yaml:"uri"`
	// Role is admin, operator or auditor.
	Role string `yaml:"role"`
}

// Defaults of the keys and admin blocks.
const (
	DefaultKeyEnvironment    = "live"
	DefaultPepperEnv         = "PORTCULLIS_PEPPER"
	DefaultMasterKeyEnv      = "PORTCULLIS_MASTER_KEY"
	DefaultKeyStoreDriver    = "sqlite"
	DefaultKeyStoreMaxConns  = 10
	DefaultKeyStoreTimeout   = 2 * time.Second
	DefaultRotationGrace     = 24 * time.Hour
	MaxRotationGrace         = 30 * 24 * time.Hour
	DefaultKeyCacheSize      = 100000
	DefaultKeyCacheTTL       = 60 * time.Second
	DefaultKeyNegativeTTL    = 10 * time.Second
	DefaultKeyStaleIfError   = 15 * time.Minute
	DefaultUsageFlush        = 10 * time.Second
	DefaultAdminAddress      = "127.0.0.1:9443"
	DefaultAdminMinTLS       = "1.3"
	DefaultAdminMaxPageSize  = 500
	DefaultAdminAuthFailures = 10
	DefaultConsoleSessionTTL = 15 * time.Minute
	DefaultAPIKeyHeader      = "X-API-Key"
)

// adminRoles are the roles of the admin API.
var adminRoles = map[string]bool{"admin": true, "operator": true, "auditor": true}

// KeysInUse reports whether anything needs the key store: an api_key
// authenticator, the admin API, a route verifying message signatures
// (consumers' public keys live there), or a store that is configured
// anyway (for the admin and keys commands).
func (c *Config) KeysInUse() bool {
	if c.Admin.Enabled || c.Keys.Store.Path != "" || c.Keys.Store.DSN != "" || c.SignaturesInUse() {
		return true
	}
	for _, a := range c.Authenticators {
		if a.APIKey != nil {
			return true
		}
	}
	return false
}

func (Keys) defaults() any {
	return Keys{Environment: DefaultKeyEnvironment, RotationGrace: Duration(DefaultRotationGrace)}
}

func (KeyStore) defaults() any {
	return KeyStore{Driver: DefaultKeyStoreDriver, MaxConns: DefaultKeyStoreMaxConns, Timeout: Duration(DefaultKeyStoreTimeout)}
}

func (KeyCache) defaults() any {
	return KeyCache{
		Size:         DefaultKeyCacheSize,
		TTL:          Duration(DefaultKeyCacheTTL),
		NegativeTTL:  Duration(DefaultKeyNegativeTTL),
		StaleIfError: Duration(DefaultKeyStaleIfError),
	}
}

func (KeyUsage) defaults() any { return KeyUsage{FlushInterval: Duration(DefaultUsageFlush)} }

func (Admin) defaults() any {
	return Admin{Address: DefaultAdminAddress, MaxPageSize: DefaultAdminMaxPageSize, AuthFailureThreshold: ptr(DefaultAdminAuthFailures)}
}

func (AdminConsole) defaults() any {
	return AdminConsole{Enabled: true, SessionTTL: Duration(DefaultConsoleSessionTTL)}
}

func (AdminTLS) defaults() any { return AdminTLS{MinVersion: DefaultAdminMinTLS} }

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) validateKeys(errs *Errors) {
	if c.KeysInUse() {
		c.Keys.validate(errs, "keys")
	}
	if c.Admin.Enabled {
		c.Admin.validate(errs, "admin", c)
	}
}

func (k *Keys) validate(errs *Errors, p string) {
	sp := Join(p, "store")
	switch k.Store.Driver {
	case "sqlite":
		if k.Store.Path == "" {
			errs.Add(Join(sp, "path"), "is required for the sqlite driver (e.g. /var/lib/portcullis/keys.db)")
		}
		if k.Store.DSN != "" {
			errs.Add(Join(sp, "dsn"), "is only used by the postgres driver")
		}
	case "postgres":
		if k.Store.DSN == "" {
			errs.Add(Join(sp, "dsn"), "is required for the postgres driver (write it as ${ENV})")
		}
		if k.Store.Path != "" {
			errs.Add(Join(sp, "path"), "is only used by the sqlite driver")
		}
	default:
		errs.Add(Join(sp, "driver"), "must be sqlite or postgres, got %q", k.Store.Driver)
	}
	if k.Store.MaxConns < 1 || k.Store.MaxConns > 1000 {
		errs.Add(Join(sp, "max_conns"), "must be between 1 and 1000")
	}
	if d := k.Store.Timeout.D(); d < 100*time.Millisecond || d > time.Minute {
		errs.Add(Join(sp, "timeout"), "must be between 100ms and 1m")
	}
	switch k.Environment {
	case "live", "test":
	default:
		errs.Add(Join(p, "environment"), "must be live or test, got %q", k.Environment)
	}
	k.Pepper.validate(errs, Join(p, "pepper"))
	k.MasterKey.validate(errs, Join(p, "master_key"))
	if d := k.RotationGrace.D(); d > MaxRotationGrace {
		errs.Add(Join(p, "rotation_grace"), "must be at most 30d")
	}
	cp := Join(p, "cache")
	if k.Cache.Size < 1 || k.Cache.Size > 10_000_000 {
		errs.Add(Join(cp, "size"), "must be between 1 and 10000000")
	}
	if d := k.Cache.TTL.D(); d < time.Second || d > time.Hour {
		errs.Add(Join(cp, "ttl"), "must be between 1s and 1h")
	}
	if d := k.Cache.NegativeTTL.D(); d < time.Second || d > time.Hour {
		errs.Add(Join(cp, "negative_ttl"), "must be between 1s and 1h")
	}
	if d := k.Cache.StaleIfError.D(); d > 24*time.Hour {
		errs.Add(Join(cp, "stale_if_error"), "must be at most 24h")
	}
	if d := k.Usage.FlushInterval.D(); d < time.Second || d > time.Hour {
		errs.Add(Join(p, "usage.flush_interval"), "must be between 1s and 1h")
	}
}

// maxSecretFile bounds a secret file so a wrong path cannot exhaust memory.
const maxSecretFile = 64 << 10

// Read returns the secret s refers to: the environment variable (through
// env), or the file's content without its trailing newline. An error is a
// FieldError at "env" or "file" (relative to s) and never holds the secret.
func (s SecretRef) Read(env LookupEnv) (string, error) {
	if s.File != "" {
		f, err := os.Open(s.File)
		if err != nil {
			return "", FieldError{Path: "file", Message: fmt.Sprintf("cannot read the secret file: %v", err)}
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		if err != nil || len(b) > maxSecretFile {
			return "", FieldError{Path: "file", Message: "cannot read the secret file (or it is larger than 64KiB)"}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", FieldError{Path: "file", Message: "the secret file is empty"}
		}
		return v, nil
	}
	v, ok := env(s.Env)
	if !ok || v == "" {
		return "", FieldError{Path: "env", Message: fmt.Sprintf("environment variable %s is not set", s.Env)}
	}
	return v, nil
}

func (s SecretRef) validate(errs *Errors, p string) {
	switch {
	case s.Env != "" && s.File != "":
		errs.Add(p, "set env or file, not both")
	case s.Env == "" && s.File == "":
		errs.Add(p, "set env or file")
	case s.Env != "" && !envNameRe.MatchString(s.Env):
		errs.Add(Join(p, "env"), "must be an environment variable name, got %q", s.Env)
	}
}

func (a *Admin) validate(errs *Errors, p string, c *Config) {
	validAddress(errs, Join(p, "address"), a.Address)
	// Port 0 (any free port, in tests) never collides.
	fixed := !strings.HasSuffix(a.Address, ":0")
	for i, l := range c.Listeners {
		if fixed && l.Address == a.Address {
			errs.Add(Join(p, "address"), "is already used by listeners[%d]: the admin API never shares the public listener", i)
		}
	}
	if fixed && !c.Ops.Disabled && c.Ops.Address == a.Address {
		errs.Add(Join(p, "address"), "is already used by ops.address")
	}
	tp := Join(p, "tls")
	if a.TLS.CertFile == "" {
		errs.Add(Join(tp, "cert_file"), "is required: the admin API is always TLS")
	}
	if a.TLS.KeyFile == "" {
		errs.Add(Join(tp, "key_file"), "is required: the admin API is always TLS")
	}
	switch a.TLS.MinVersion {
	case "1.2", "1.3":
	default:
		errs.Add(Join(tp, "min_version"), "must be \"1.2\" or \"1.3\", got %q", a.TLS.MinVersion)
	}
	if len(a.ClientCerts) > 0 && a.TLS.ClientCAFile == "" {
		errs.Add(Join(tp, "client_ca_file"), "is required when client_certs are configured")
	}
	for i, cc := range a.ClientCerts {
		cp := Index(Join(p, "client_certs"), i)
		if (cc.CommonName == "") == (cc.URI == "") {
			errs.Add(cp, "set exactly one of common_name or uri")
		}
		if !adminRoles[cc.Role] {
			errs.Add(Join(cp, "role"), "must be admin, operator or auditor, got %q", cc.Role)
		}
	}
	if ttl := a.Console.SessionTTL.D(); ttl < time.Minute || ttl > 12*time.Hour {
		errs.Add(Join(Join(p, "console"), "session_ttl"), "must be between 1m and 12h")
	}
	if a.MaxPageSize < 1 || a.MaxPageSize > 10000 {
		errs.Add(Join(p, "max_page_size"), "must be between 1 and 10000")
	}
	if n := a.AuthFailureThreshold; n != nil && (*n < 0 || *n > 10000) {
		errs.Add(Join(p, "auth_failure_threshold"), "must be between 0 (off) and 10000")
	}
	rp := Join(p, "roles")
	validMaxScopes(errs, Join(Join(rp, "admin"), "max_scopes"), a.Roles.Admin.MaxScopes)
	validMaxScopes(errs, Join(Join(rp, "operator"), "max_scopes"), a.Roles.Operator.MaxScopes)
}

// scopeRe is the syntax of a key scope (the key service checks the same).
var scopeRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._/-]{0,127}$`)

// ValidScope reports whether s has the syntax of a key scope.
func ValidScope(s string) bool { return scopeRe.MatchString(s) }

func validMaxScopes(errs *Errors, p string, scopes []string) {
	seen := map[string]bool{}
	for i, sc := range scopes {
		switch {
		case sc == AnyScope && len(scopes) > 1:
			errs.Add(Index(p, i), `"*" allows every scope: write it alone`)
		case sc != AnyScope && !ValidScope(sc):
			errs.Add(Index(p, i), "invalid scope %q", sc)
		case seen[sc]:
			errs.Add(Index(p, i), "duplicate scope %q", sc)
		}
		seen[sc] = true
	}
}

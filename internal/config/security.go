package config

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Security configures security monitoring: the stream of security events
// (every authentication refused, block, refusal and admin change), the
// detectors that watch it, their automatic responses, and where events
// are shipped (a security log, syslog over TLS, signed webhooks).
type Security struct {
	// Enabled turns monitoring on. Default true. Off: no events, no
	// detectors, no blocks enforced.
	Enabled *bool `yaml:"enabled"`
	// QueueSize bounds the events waiting for the monitor; a request never
	// waits for it, and an event that does not fit is dropped and counted
	// (portcullis_security_events_dropped_total). Default 65536. Needs a
	// restart.
	QueueSize int `yaml:"queue_size"`
	// RecentEvents is how many recent events each instance keeps for the
	// admin API (GET /v1/security/events). Default 10000; 0 keeps none.
	// Needs a restart.
	RecentEvents int `yaml:"recent_events"`
	// Exempt are client IP ranges that detectors never block (carrier-
	// grade NAT, a corporate egress): their detections are still reported
	// as alerts. Default: none.
	Exempt []Prefix `yaml:"exempt"`
	// Blocks configures where automatic blocks are kept.
	Blocks SecurityBlocks `yaml:"blocks"`
	// Detectors are the rules over the event stream.
	Detectors Detectors `yaml:"detectors"`
	// Log is the security log: one JSON line per event, apart from the
	// access log.
	Log SecurityLog `yaml:"log"`
	// Syslog ships events to a SIEM over TLS (RFC 5424 messages, RFC 5425
	// framing).
	Syslog Syslog `yaml:"syslog"`
	// Webhooks receive alerts as signed HTTPS POSTs.
	Webhooks []Webhook `yaml:"webhooks"`
}

// SecurityBlocks configures the store of automatic blocks. With
// rate_limits.store.type redis the blocks are kept in that Redis (same
// connection settings, keys under its key_prefix) and every instance
// enforces them; otherwise they are kept in memory. Either way they
// survive a reload.
type SecurityBlocks struct {
	// SyncInterval is how often an instance reads the shared blocks, so a
	// block imposed by another instance is enforced here within it (the
	// imposing instance enforces it at once). Default 1s.
	SyncInterval Duration `yaml:"sync_interval"`
	// MaxBlocks bounds the blocks in force; a block beyond it is not
	// imposed (counted and logged). Default 10000. Needs a restart.
	MaxBlocks int `yaml:"max_blocks"`
	// ForgetAfter is how long a subject must stay unblocked before its
	// next block starts again at the first step of the ladder. Default 24h.
	ForgetAfter Duration `yaml:"forget_after"`
}

// Detectors are the security monitor's rules. Every detector counts per
// instance; blocks are shared.
type Detectors struct {
	// MaxTracked bounds the sources (IPs, consumers, routes) one detector
	// tracks at once; beyond it the least recently active are forgotten.
	// Default 100000.
	MaxTracked int `yaml:"max_tracked"`
	// CredentialStuffing: many distinct credentials failing from one
	// client IP (an IPv6 /64) within the window, however few times each.
	CredentialStuffing CredentialStuffing `yaml:"credential_stuffing"`
	// Scanning: a storm of 400, 404, 405, invalid-path and parser-level
	// refusals from one client IP (an IPv6 /64).
	Scanning Scanning `yaml:"scanning"`
	// ObjectProbing: one consumer asking a route with {params} for many
	// distinct objects with a high share of 403 and 404 answers (BOLA,
	// OWASP API1).
	ObjectProbing ObjectProbing `yaml:"object_probing"`
	// RejectionBursts: bursts of WAF and validation rejections from one
	// client IP or consumer.
	RejectionBursts RejectionBursts `yaml:"rejection_bursts"`
	// ConsumerAnomaly: a consumer's request or error rate far above its
	// own recent baseline, or its credential used from unusually many
	// client IPs.
	ConsumerAnomaly ConsumerAnomaly `yaml:"consumer_anomaly"`
	// AdminAbuse: bursts of failed admin API authentications from one IP,
	// or of key changes (creations, revocations) by one admin.
	AdminAbuse AdminAbuse `yaml:"admin_abuse"`
	// RouteFailures: a route's share of failed authentications across all
	// sources (distributed credential stuffing, which no per-IP count sees).
	RouteFailures RouteFailures `yaml:"route_failures"`
}

// DetectorResponse is the part every blocking detector has.
type DetectorResponse struct {
	// Enabled turns the detector on.
	Enabled *bool `yaml:"enabled"`
	// Window is how far back the detector counts.
	Window Duration `yaml:"window"`
	// Action is the response to a detection: "alert" (a high-severity
	// event for the log, syslog and webhooks), "block" (alert, and the
	// target's requests get 403 security-blocked for a period), "read_only"
	// (alert, and the target's non-safe methods get 403 read-only) or
	// "observe" (an info event only).
	Action string `yaml:"action"`
	// Target is what a block or read_only response applies to: "ip" (an
	// IPv6 /64), "consumer" or "credential". Detectors over unverified
	// failures may only block an IP: a key id is not secret, and blocking
	// it would lock its owner out.
	Target string `yaml:"target"`
	// Block is the ladder of periods: the first block of a target lasts
	// Block[0], the next Block[1], and so on, the last repeating.
	Block []Duration `yaml:"block"`
}

// DetectorAlert is the part every alert-only detector has.
type DetectorAlert struct {
	// Enabled turns the detector on.
	Enabled *bool `yaml:"enabled"`
	// Window is how far back the detector counts.
	Window Duration `yaml:"window"`
	// Action is "alert" or "observe" (see DetectorResponse.Action).
	Action string `yaml:"action"`
}

// CredentialStuffing configures the credential stuffing detector.
// Defaults: enabled, window 10m, distinct_credentials 10, action block,
// target ip, block [15m, 1h, 24h].
type CredentialStuffing struct {
	DetectorResponse `yaml:",inline"`
	// DistinctCredentials failing from one source within the window
	// trigger it.
	DistinctCredentials int `yaml:"distinct_credentials"`
}

// Scanning configures the scanning detector. Defaults: enabled, window
// 1m, threshold 100, action block, target ip, block [5m, 30m, 2h].
type Scanning struct {
	DetectorResponse `yaml:",inline"`
	// Threshold refusals from one source within the window trigger it.
	Threshold int `yaml:"threshold"`
}

// ObjectProbing configures the object-id probing detector. Defaults:
// enabled, window 10m, distinct_objects 50, failure_ratio 0.5, action
// alert, target consumer, block [15m, 1h, 24h].
type ObjectProbing struct {
	DetectorResponse `yaml:",inline"`
	// DistinctObjects asked for by one consumer on one route within the
	// window, with FailureRatio of them answered 403 or 404, trigger it.
	DistinctObjects int `yaml:"distinct_objects"`
	// FailureRatio is the share of 403 and 404 answers, above 0, at most 1.
	FailureRatio float64 `yaml:"failure_ratio"`
}

// RejectionBursts configures the WAF and validation burst detector.
// Defaults: enabled, window 1m, threshold 20, action alert, target ip
// (counted per client IP; consumer counts per authenticated consumer),
// block [5m, 30m, 2h].
type RejectionBursts struct {
	DetectorResponse `yaml:",inline"`
	// Threshold rejections within the window trigger it.
	Threshold int `yaml:"threshold"`
}

// ConsumerAnomaly configures the consumer anomaly detector; its window is
// the interval rates are measured over. Defaults: enabled, window 1m,
// factor 10, min_requests 600, min_errors 60, warmup 10, smoothing 0.1,
// max_ips 20, ip_window 1h, action alert, target consumer, block [15m,
// 1h, 6h].
type ConsumerAnomaly struct {
	DetectorResponse `yaml:",inline"`
	// Factor: an interval with more than Factor times the consumer's
	// baseline (EWMA) of requests, or of error answers, is an anomaly.
	Factor float64 `yaml:"factor"`
	// MinRequests in one interval before a request-rate anomaly counts.
	MinRequests int `yaml:"min_requests"`
	// MinErrors (4xx and 5xx answers) in one interval before an error-rate
	// anomaly counts.
	MinErrors int `yaml:"min_errors"`
	// Warmup is how many intervals of a consumer's traffic build its
	// baseline before it is compared.
	Warmup int `yaml:"warmup"`
	// Smoothing is the EWMA weight of the newest interval, above 0, below 1.
	Smoothing float64 `yaml:"smoothing"`
	// MaxIPs distinct client IPs using one credential within IPWindow
	// trigger it. 0 turns this rule off.
	MaxIPs int `yaml:"max_ips"`
	// IPWindow is how far back client IPs per credential are counted.
	IPWindow Duration `yaml:"ip_window"`
}

// AdminAbuse configures the admin abuse detector. Defaults: enabled,
// window 10m, auth_failures 10, key_changes 50, action alert.
type AdminAbuse struct {
	DetectorAlert `yaml:",inline"`
	// AuthFailures from one client IP within the window trigger it.
	AuthFailures int `yaml:"auth_failures"`
	// KeyChanges (consumer, key and admin token creations, rotations,
	// revocations, deletions) by one admin within the window trigger it.
	KeyChanges int `yaml:"key_changes"`
}

// RouteFailures configures the per-route failure ratio detector.
// Defaults: enabled, window 5m, min_failures 200, ratio 0.5, action alert.
type RouteFailures struct {
	DetectorAlert `yaml:",inline"`
	// MinFailures of authentication on one route within the window
	// before the ratio is judged.
	MinFailures int `yaml:"min_failures"`
	// Ratio of failed to attempted authentications (with a credential)
	// that triggers it, above 0, at most 1.
	Ratio float64 `yaml:"ratio"`
}

// SecurityLog is the security log.
type SecurityLog struct {
	// Enabled turns it on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Output is "stdout" (default), "stderr" or a file path (appended to).
	// Every line has "log":"security", so it can share a stream.
	Output string `yaml:"output"`
	// MinSeverity is the least severity written: info (default), notice,
	// warning, high or critical.
	MinSeverity string `yaml:"min_severity"`
	// BufferSize is the write buffer. Default 64KiB.
	BufferSize ByteSize `yaml:"buffer_size"`
	// FlushInterval bounds how long a line waits in the buffer. Default 1s.
	FlushInterval Duration `yaml:"flush_interval"`
}

// Syslog ships events as RFC 5424 messages over TLS with RFC 5425
// octet-counting framing, reconnecting after failures, from a bounded
// buffer (events that do not fit are dropped and counted).
type Syslog struct {
	// Enabled turns it on. Default false.
	Enabled bool `yaml:"enabled"`
	// Address is the collector's host:port (6514 is the RFC 5425 port).
	// Required when enabled.
	Address string `yaml:"address"`
	// TLS verifies the collector and may present a client certificate.
	TLS SyslogTLS `yaml:"tls"`
	// Insecure sends over plain TCP (RFC 6587 octet counting). Default
	// false; for a collector on the same host only.
	Insecure bool `yaml:"insecure"`
	// Facility is the syslog facility name. Default "authpriv".
	Facility string `yaml:"facility"`
	// AppName is the APP-NAME field. Default "portcullis".
	AppName string `yaml:"app_name"`
	// Hostname is the HOSTNAME field. Default: the machine's host name.
	Hostname string `yaml:"hostname"`
	// MinSeverity is the least severity shipped. Default "notice".
	MinSeverity string `yaml:"min_severity"`
	// BufferSize bounds the events waiting to be sent. Default 10000.
	BufferSize int `yaml:"buffer_size"`
	// DialTimeout bounds connecting and the TLS handshake. Default 5s.
	DialTimeout Duration `yaml:"dial_timeout"`
	// WriteTimeout bounds writing one message. Default 5s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// RetryInterval is the first wait after a failed connection; it
	// doubles up to 30s. Default 1s.
	RetryInterval Duration `yaml:"retry_interval"`
}

// SyslogTLS is TLS to the syslog collector.
type SyslogTLS struct {
	// CAFile is a PEM bundle trusted for the collector. Default: the
	// system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate to present. Default:
	// none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is verified in the collector's certificate. Default: the
	// host of Address.
	ServerName string `yaml:"server_name"`
}

// Webhook is a receiver of alerts: each event is POSTed as JSON with a
// Portcullis-Signature header (t=<unix time>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">), retried with backoff, from a bounded queue; what is
// still undelivered after the retries is counted as a dead letter.
type Webhook struct {
	// Name identifies the webhook in metrics and logs. Required, unique.
	Name string `yaml:"name"`
	// URL is the https:// endpoint. Required.
	URL string `yaml:"url"`
	// Insecure allows an http:// URL. Default false.
	Insecure bool `yaml:"insecure"`
	// CAFile is a PEM bundle trusted for the endpoint. Default: the system
	// roots.
	CAFile string `yaml:"ca_file"`
	// Secret is the HMAC key, at least 32 bytes; write it as ${ENV_VAR}.
	// Required.
	Secret string `yaml:"secret"`
	// Types are the event types sent. Default [detection, block_imposed,
	// block_lifted].
	Types []string `yaml:"types"`
	// Timeout bounds one delivery attempt. Default 5s.
	Timeout Duration `yaml:"timeout"`
	// MaxRetries after the first attempt. Default 5; 0 tries once.
	MaxRetries int `yaml:"max_retries"`
	// RetryBackoff is the first wait before a retry; it doubles each time.
	// Default 1s.
	RetryBackoff Duration `yaml:"retry_backoff"`
	// QueueSize bounds the events waiting for delivery. Default 1000.
	QueueSize int `yaml:"queue_size"`
}

// Security defaults.
const (
	DefaultSecurityQueueSize     = 65536
	DefaultSecurityRecentEvents  = 10000
	DefaultBlockSyncInterval     = time.Second
	DefaultMaxBlocks             = 10000
	DefaultBlockForgetAfter      = 24 * time.Hour
	DefaultDetectorMaxTracked    = 100000
	DefaultSecurityLogOutput     = "stdout"
	DefaultSecurityLogSeverity   = "info"
	DefaultSyslogFacility        = "authpriv"
	DefaultSyslogAppName         = "portcullis"
	DefaultSyslogSeverity        = "notice"
	DefaultSyslogBuffer          = 10000
	DefaultSyslogTimeout         = 5 * time.Second
	DefaultSyslogRetry           = time.Second
	DefaultWebhookTimeout        = 5 * time.Second
	DefaultWebhookRetries        = 5
	DefaultWebhookBackoff        = time.Second
	DefaultWebhookQueue          = 1000
	MinWebhookSecretBytes        = 32
	DefaultSecurityLogBufferSize = 64 << 10
)

// DefaultWebhookTypes are the event types a webhook receives by default.
func DefaultWebhookTypes() []string { return []string{"detection", "block_imposed", "block_lifted"} }

func ladder(ds ...time.Duration) []Duration {
	out := make([]Duration, len(ds))
	for i, d := range ds {
		out[i] = Duration(d)
	}
	return out
}

func (Security) defaults() any {
	return Security{Enabled: ptr(true), QueueSize: DefaultSecurityQueueSize, RecentEvents: DefaultSecurityRecentEvents}
}

func (SecurityBlocks) defaults() any {
	return SecurityBlocks{SyncInterval: Duration(DefaultBlockSyncInterval), MaxBlocks: DefaultMaxBlocks,
		ForgetAfter: Duration(DefaultBlockForgetAfter)}
}

func (Detectors) defaults() any { return Detectors{MaxTracked: DefaultDetectorMaxTracked} }

func (CredentialStuffing) defaults() any {
	return CredentialStuffing{DetectorResponse: DetectorResponse{Enabled: ptr(true), Window: Duration(10 * time.Minute),
		Action: "block", Target: "ip", Block: ladder(15*time.Minute, time.Hour, 24*time.Hour)}, DistinctCredentials: 10}
}

func (Scanning) defaults() any {
	return Scanning{DetectorResponse: DetectorResponse{Enabled: ptr(true), Window: Duration(time.Minute),
		Action: "block", Target: "ip", Block: ladder(5*time.Minute, 30*time.Minute, 2*time.Hour)}, Threshold: 100}
}

func (ObjectProbing) defaults() any {
	return ObjectProbing{DetectorResponse: DetectorResponse{Enabled: ptr(true), Window: Duration(10 * time.Minute),
		Action: "alert", Target: "consumer", Block: ladder(15*time.Minute, time.Hour, 24*time.Hour)},
		DistinctObjects: 50, FailureRatio: 0.5}
}

func (RejectionBursts) defaults() any {
	return RejectionBursts{DetectorResponse: DetectorResponse{Enabled: ptr(true), Window: Duration(time.Minute),
		Action: "alert", Target: "ip", Block: ladder(5*time.Minute, 30*time.Minute, 2*time.Hour)}, Threshold: 20}
}

func (ConsumerAnomaly) defaults() any {
	return ConsumerAnomaly{DetectorResponse: DetectorResponse{Enabled: ptr(true), Window: Duration(time.Minute),
		Action: "alert", Target: "consumer", Block: ladder(15*time.Minute, time.Hour, 6*time.Hour)},
		Factor: 10, MinRequests: 600, MinErrors: 60, Warmup: 10, Smoothing: 0.1, MaxIPs: 20, IPWindow: Duration(time.Hour)}
}

func (AdminAbuse) defaults() any {
	return AdminAbuse{DetectorAlert: DetectorAlert{Enabled: ptr(true), Window: Duration(10 * time.Minute), Action: "alert"},
		AuthFailures: 10, KeyChanges: 50}
}

func (RouteFailures) defaults() any {
	return RouteFailures{DetectorAlert: DetectorAlert{Enabled: ptr(true), Window: Duration(5 * time.Minute), Action: "alert"},
		MinFailures: 200, Ratio: 0.5}
}

func (SecurityLog) defaults() any {
	return SecurityLog{Enabled: ptr(true), Output: DefaultSecurityLogOutput, MinSeverity: DefaultSecurityLogSeverity,
		BufferSize: DefaultSecurityLogBufferSize, FlushInterval: Duration(DefaultAccessFlush)}
}

func (Syslog) defaults() any {
	return Syslog{Facility: DefaultSyslogFacility, AppName: DefaultSyslogAppName, MinSeverity: DefaultSyslogSeverity,
		BufferSize: DefaultSyslogBuffer, DialTimeout: Duration(DefaultSyslogTimeout), WriteTimeout: Duration(DefaultSyslogTimeout),
		RetryInterval: Duration(DefaultSyslogRetry)}
}

func (Webhook) defaults() any {
	return Webhook{Types: DefaultWebhookTypes(), Timeout: Duration(DefaultWebhookTimeout), MaxRetries: DefaultWebhookRetries,
		RetryBackoff: Duration(DefaultWebhookBackoff), QueueSize: DefaultWebhookQueue}
}

// SyslogFacilities are the facility names and their codes (RFC 5424 §6.2.1).
var SyslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// SecurityEventTypes are the event types a webhook may ask for (the
// secevent package's list; config cannot import it).
var SecurityEventTypes = []string{
	"auth_failure", "authz_denied", "rate_limited", "bruteforce_block", "bruteforce_rejected", "ip_denied",
	"request_refused", "validation_rejected", "waf_rejected", "admin_auth_failure", "key_lifecycle",
	"config_reload", "detection", "block_imposed", "block_lifted", "blocked",
}

var severities = []string{"info", "notice", "warning", "high", "critical"}

func (c *Config) validateSecurity(errs *Errors) {
	s := &c.Security
	if s.QueueSize < 1 || s.QueueSize > 1<<24 {
		errs.Add("security.queue_size", "must be between 1 and 16777216")
	}
	if s.RecentEvents < 0 || s.RecentEvents > 1_000_000 {
		errs.Add("security.recent_events", "must be between 0 and 1000000")
	}
	atLeast(errs, "security.blocks.sync_interval", s.Blocks.SyncInterval, 100*time.Millisecond)
	atLeast(errs, "security.blocks.forget_after", s.Blocks.ForgetAfter, time.Second)
	if s.Blocks.MaxBlocks < 1 {
		errs.Add("security.blocks.max_blocks", "must be at least 1")
	}
	d := &s.Detectors
	if d.MaxTracked < 1 {
		errs.Add("security.detectors.max_tracked", "must be at least 1")
	}
	validResponse(errs, "security.detectors.credential_stuffing", d.CredentialStuffing.DetectorResponse, "ip")
	atLeastInt(errs, "security.detectors.credential_stuffing.distinct_credentials", d.CredentialStuffing.DistinctCredentials, 2)
	validResponse(errs, "security.detectors.scanning", d.Scanning.DetectorResponse, "ip")
	atLeastInt(errs, "security.detectors.scanning.threshold", d.Scanning.Threshold, 2)
	validResponse(errs, "security.detectors.object_probing", d.ObjectProbing.DetectorResponse, "consumer", "credential", "ip")
	atLeastInt(errs, "security.detectors.object_probing.distinct_objects", d.ObjectProbing.DistinctObjects, 2)
	validRatio(errs, "security.detectors.object_probing.failure_ratio", d.ObjectProbing.FailureRatio)
	validResponse(errs, "security.detectors.rejection_bursts", d.RejectionBursts.DetectorResponse, "ip", "consumer")
	atLeastInt(errs, "security.detectors.rejection_bursts.threshold", d.RejectionBursts.Threshold, 2)
	a := &d.ConsumerAnomaly
	validResponse(errs, "security.detectors.consumer_anomaly", a.DetectorResponse, "consumer", "credential")
	if a.Factor <= 1 {
		errs.Add("security.detectors.consumer_anomaly.factor", "must be above 1")
	}
	atLeastInt(errs, "security.detectors.consumer_anomaly.min_requests", a.MinRequests, 1)
	atLeastInt(errs, "security.detectors.consumer_anomaly.min_errors", a.MinErrors, 1)
	atLeastInt(errs, "security.detectors.consumer_anomaly.warmup", a.Warmup, 1)
	if a.Smoothing <= 0 || a.Smoothing >= 1 {
		errs.Add("security.detectors.consumer_anomaly.smoothing", "must be above 0 and below 1")
	}
	if a.MaxIPs < 0 || a.MaxIPs == 1 {
		errs.Add("security.detectors.consumer_anomaly.max_ips", "must be 0 (off) or at least 2")
	}
	atLeast(errs, "security.detectors.consumer_anomaly.ip_window", a.IPWindow, time.Second)
	validAlert(errs, "security.detectors.admin_abuse", d.AdminAbuse.DetectorAlert)
	atLeastInt(errs, "security.detectors.admin_abuse.auth_failures", d.AdminAbuse.AuthFailures, 2)
	atLeastInt(errs, "security.detectors.admin_abuse.key_changes", d.AdminAbuse.KeyChanges, 2)
	validAlert(errs, "security.detectors.route_failures", d.RouteFailures.DetectorAlert)
	atLeastInt(errs, "security.detectors.route_failures.min_failures", d.RouteFailures.MinFailures, 1)
	validRatio(errs, "security.detectors.route_failures.ratio", d.RouteFailures.Ratio)

	l := &s.Log
	if l.Output == "" {
		errs.Add("security.log.output", "must be stdout, stderr or a file path")
	}
	validSeverity(errs, "security.log.min_severity", l.MinSeverity)
	if l.BufferSize < 4<<10 || l.BufferSize > 64<<20 {
		errs.Add("security.log.buffer_size", "must be between 4KiB and 64MiB")
	}
	atLeast(errs, "security.log.flush_interval", l.FlushInterval, time.Millisecond)

	c.validateSyslog(errs)
	names := map[string]bool{}
	for i, w := range s.Webhooks {
		p := Index("security.webhooks", i)
		switch {
		case w.Name == "":
			errs.Add(Join(p, "name"), "is required")
		case names[w.Name]:
			errs.Add(Join(p, "name"), "%q is used twice", w.Name)
		}
		names[w.Name] = true
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "" || err != nil || u.Host == "":
			errs.Add(Join(p, "url"), "must be an https URL")
		case u.User != nil:
			errs.Add(Join(p, "url"), "must not contain credentials")
		case strings.EqualFold(u.Scheme, "http") && !w.Insecure:
			errs.Add(Join(p, "url"), "is plain http: use https, or set insecure: true")
		case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
			errs.Add(Join(p, "url"), "must be an https URL")
		}
		if len(w.Secret) < MinWebhookSecretBytes {
			errs.Add(Join(p, "secret"), "must be at least %d bytes (write it as ${ENV_VAR})", MinWebhookSecretBytes)
		}
		if len(w.Types) == 0 {
			errs.Add(Join(p, "types"), "must name at least one event type")
		}
		for j, t := range w.Types {
			if !slices.Contains(SecurityEventTypes, t) {
				errs.Add(Index(Join(p, "types"), j), "unknown event type %q", t)
			}
		}
		atLeast(errs, Join(p, "timeout"), w.Timeout, 10*time.Millisecond)
		atLeast(errs, Join(p, "retry_backoff"), w.RetryBackoff, time.Millisecond)
		if w.MaxRetries < 0 || w.MaxRetries > 20 {
			errs.Add(Join(p, "max_retries"), "must be between 0 and 20")
		}
		if w.QueueSize < 1 || w.QueueSize > 1_000_000 {
			errs.Add(Join(p, "queue_size"), "must be between 1 and 1000000")
		}
	}
}

func (c *Config) validateSyslog(errs *Errors) {
	y := &c.Security.Syslog
	if _, ok := SyslogFacilities[y.Facility]; !ok {
		errs.Add("security.syslog.facility", "unknown facility %q", y.Facility)
	}
	if y.AppName == "" || len(y.AppName) > 48 || !printASCII(y.AppName) {
		errs.Add("security.syslog.app_name", "must be 1 to 48 printable ASCII characters")
	}
	if len(y.Hostname) > 255 || !printASCII(y.Hostname) {
		errs.Add("security.syslog.hostname", "must be at most 255 printable ASCII characters")
	}
	validSeverity(errs, "security.syslog.min_severity", y.MinSeverity)
	if y.BufferSize < 1 || y.BufferSize > 1_000_000 {
		errs.Add("security.syslog.buffer_size", "must be between 1 and 1000000")
	}
	atLeast(errs, "security.syslog.dial_timeout", y.DialTimeout, 10*time.Millisecond)
	atLeast(errs, "security.syslog.write_timeout", y.WriteTimeout, 10*time.Millisecond)
	atLeast(errs, "security.syslog.retry_interval", y.RetryInterval, time.Millisecond)
	if !y.Enabled {
		return
	}
	if y.Address == "" {
		errs.Add("security.syslog.address", "is required when syslog is enabled")
	}
	if (y.TLS.CertFile == "") != (y.TLS.KeyFile == "") {
		errs.Add("security.syslog.tls", "cert_file and key_file go together")
	}
}

func printASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

func validSeverity(errs *Errors, path, s string) {
	if !slices.Contains(severities, s) {
		errs.Add(path, "must be one of %s; got %q", strings.Join(severities, ", "), s)
	}
}

func validRatio(errs *Errors, path string, r float64) {
	if r <= 0 || r > 1 {
		errs.Add(path, "must be above 0 and at most 1")
	}
}

func atLeastInt(errs *Errors, path string, n, min int) {
	if n < min {
		errs.Add(path, "must be at least %d", min)
	}
}

func validAlert(errs *Errors, path string, a DetectorAlert) {
	atLeast(errs, Join(path, "window"), a.Window, time.Second)
	if a.Action != "alert" && a.Action != "observe" {
		errs.Add(Join(path, "action"), "must be alert or observe; got %q", a.Action)
	}
}

func validResponse(errs *Errors, path string, r DetectorResponse, targets ...string) {
	atLeast(errs, Join(path, "window"), r.Window, time.Second)
	switch r.Action {
	case "alert", "observe", "block":
	case "read_only":
		if r.Target == "ip" {
			errs.Add(Join(path, "action"), "read_only applies to a consumer or credential target, not ip")
		}
	default:
		errs.Add(Join(path, "action"), "must be alert, block, read_only or observe; got %q", r.Action)
	}
	if !slices.Contains(targets, r.Target) {
		errs.Add(Join(path, "target"), "must be %s for this detector; got %q", strings.Join(targets, " or "), r.Target)
	}
	if r.Action == "block" || r.Action == "read_only" {
		if len(r.Block) == 0 {
			errs.Add(Join(path, "block"), "must list at least one period")
		}
	}
	for i, d := range r.Block {
		if d.D() < time.Second || d.D() > 366*24*time.Hour {
			errs.Add(Index(Join(path, "block"), i), "must be between 1s and 366d")
		}
	}
}

package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/waf/crs"
)

// Defaults of a route's WAF.
const (
	DefaultWAFMode                     = "block"
	DefaultWAFParanoiaLevel            = 1
	DefaultWAFInboundAnomalyThreshold  = 5
	DefaultWAFOutboundAnomalyThreshold = 4
	DefaultWAFResponseBodyLimit        = 512 << 10
	DefaultWAFResponseOverLimit        = "refuse"
	DefaultWAFLogOutput                = "stderr"
)

// RouteWAF is a route's web application firewall: Coraza with the OWASP
// Core Rule Set (embedded) inspecting the request's headers and body
// before the upstream sees them and, when Response.Enabled, the upstream's
// answer before the client does. A route without a waf block has none.
type RouteWAF struct {
	// Mode is "block" (default: a request scoring at or above the inbound
	// threshold gets 403) or "detect" (everything is inspected, logged and
	// counted, nothing is refused: for rolling out and tuning).
	Mode string `yaml:"mode"`
	// ParanoiaLevel is the CRS paranoia level, 1 (default) to 4: higher
	// levels add rules that catch more and misfire more.
	ParanoiaLevel int `yaml:"paranoia_level"`
	// InboundAnomalyThreshold is the request anomaly score (critical
	// match 5, error 4, warning 3, notice 2) at which a request is
	// refused. Default 5: one critical match. At least 1.
	InboundAnomalyThreshold int `yaml:"inbound_anomaly_threshold"`
	// OutboundAnomalyThreshold is the response anomaly score at which a
	// response is refused (response.enabled only). Default 4. At least 1.
	OutboundAnomalyThreshold int `yaml:"outbound_anomaly_threshold"`
	// Exclusions turn CRS rules off on this route, wholly or for named
	// parameters, cookies or headers only. Default: none.
	Exclusions []WAFExclusion `yaml:"exclusions"`
	// RequestBodyLimit is the largest request body the WAF inspects; a
	// larger one is refused with 413, never forwarded uninspected.
	// Default: the route's max_body_bytes; at most that.
	RequestBodyLimit *ByteSize `yaml:"request_body_limit"`
	// Response configures inspection of the upstream's responses.
	Response WAFResponse `yaml:"response"`
}

// WAFExclusion removes rules (by id, by tag, or both) on a route, for the
// whole request or, with Targets, only where they look at those targets.
type WAFExclusion struct {
	// RuleIDs are CRS detection rule ids (942100). Unknown ids, and rules
	// that detect nothing themselves (initialisation, anomaly evaluation),
	// are refused at load.
	RuleIDs []int `yaml:"rule_ids"`
	// Tags select every detection rule with the tag (attack-sqli,
	// paranoia-level/2). Unknown tags are refused at load.
	Tags []string `yaml:"tags"`
	// Targets, when set, limit the exclusion to these targets:
	// COLLECTION or COLLECTION:key, e.g. ARGS:password,
	// REQUEST_COOKIES:session, REQUEST_HEADERS:User-Agent. Default: the
	// rules are off for the whole request.
	Targets []WAFTarget `yaml:"targets"`
}

// WAFResponse configures response inspection (CRS phases 3 and 4:
// data leakage, web shells).
type WAFResponse struct {
	// Enabled inspects the upstream's response headers and (text, JSON
	// and XML) bodies. Default false. Turning it on also stops forwarding
	// the client's Accept-Encoding, so that bodies arrive inspectable.
	Enabled bool `yaml:"enabled"`
	// BodyLimit is the largest response body inspected; it is held in
	// memory within the process's body budget. Default 512KiB.
	BodyLimit ByteSize `yaml:"body_limit"`
	// OverLimit is what happens to a response body larger than BodyLimit
	// or compressed: "refuse" (default: 502, the body is never relayed)
	// or "relay" (relayed uninspected, logged).
	OverLimit string `yaml:"over_limit"`
}

// WAFLog is the WAF's error log: one line per matched rule in the
// ModSecurity/Coraza format ([id "942100"] [msg "..."] [data "..."]),
// values masked like every other log.
type WAFLog struct {
	// Enabled writes the log. Default false.
	Enabled bool `yaml:"enabled"`
	// Output is "stdout", "stderr" (default) or a file path (appended to).
	Output string `yaml:"output"`
	// BufferSize is the write buffer. Default 64KiB.
	BufferSize ByteSize `yaml:"buffer_size"`
	// FlushInterval bounds how long a line waits in the buffer. Default
	// 1s; 0 writes each request's lines as soon as they are known (log
	// readers that wait for them, such as the CRS regression suite).
	FlushInterval Duration `yaml:"flush_interval"`
}

func (RouteWAF) defaults() any {
	return RouteWAF{
		Mode:                     DefaultWAFMode,
		ParanoiaLevel:            DefaultWAFParanoiaLevel,
		InboundAnomalyThreshold:  DefaultWAFInboundAnomalyThreshold,
		OutboundAnomalyThreshold: DefaultWAFOutboundAnomalyThreshold,
	}
}

func (WAFResponse) defaults() any {
	return WAFResponse{BodyLimit: DefaultWAFResponseBodyLimit, OverLimit: DefaultWAFResponseOverLimit}
}

func (WAFLog) defaults() any {
	return WAFLog{Output: DefaultWAFLogOutput, BufferSize: DefaultAccessBuffer, FlushInterval: Duration(DefaultAccessFlush)}
}

// WAFTarget is what a rule exclusion applies to: a collection and
// optionally a key (ARGS:password). It is checked at load: only the
// collections below, and keys of letters, digits and _ . - [ ] $, so a
// target can never change the rule it is compiled into.
type WAFTarget struct {
	collection string
	key        string
}

// wafTargetCollections are the collections an exclusion may name.
var wafTargetCollections = []string{
	"ARGS", "ARGS_GET", "ARGS_POST", "ARGS_NAMES", "ARGS_GET_NAMES", "ARGS_POST_NAMES",
	"REQUEST_COOKIES", "REQUEST_COOKIES_NAMES", "REQUEST_HEADERS", "REQUEST_HEADERS_NAMES",
	"REQUEST_BODY", "REQUEST_FILENAME", "REQUEST_BASENAME", "REQUEST_URI", "QUERY_STRING",
	"FILES", "FILES_NAMES", "XML",
}

var wafKeyRe = regexp.MustCompile(`^[A-Za-z0-9_.\-\[\]$]{1,128}$`)

// ParseWAFTarget parses COLLECTION or COLLECTION:key.
func ParseWAFTarget(s string) (WAFTarget, error) {
	col, key, hasKey := strings.Cut(s, ":")
	if !slices.Contains(wafTargetCollections, col) {
		return WAFTarget{}, fmt.Errorf("invalid target %q: the collection must be one of %s", s, strings.Join(wafTargetCollections, ", "))
	}
	if hasKey && !wafKeyRe.MatchString(key) {
		return WAFTarget{}, fmt.Errorf("invalid target %q: the key must be 1 to 128 letters, digits or _ . - [ ] $", s)
	}
	return WAFTarget{collection: col, key: key}, nil
}

// Collection is the target's collection (ARGS).
func (t WAFTarget) Collection() string { return t.collection }

// Key is the target's key ("" for the whole collection).
func (t WAFTarget) Key() string { return t.key }

// String formats the target as written.
func (t WAFTarget) String() string {
	if t.key == "" {
		return t.collection
	}
	return t.collection + ":" + t.key
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (t *WAFTarget) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a target such as ARGS:password")
	}
	v, err := ParseWAFTarget(n.Value)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (t WAFTarget) MarshalYAML() (any, error) { return t.String(), nil }

var wafTagRe = regexp.MustCompile(`^[A-Za-z0-9_./-]{1,64}$`)

// validateWAF checks a route's waf block at p.
func validateWAF(errs *Errors, p string, r Route) {
	w := r.WAF
	if w == nil {
		return
	}
	p = Join(p, "waf")
	switch w.Mode {
	case "block", "detect":
	default:
		errs.Add(Join(p, "mode"), "must be block or detect; got %q", w.Mode)
	}
	if w.ParanoiaLevel < 1 || w.ParanoiaLevel > 4 {
		errs.Add(Join(p, "paranoia_level"), "must be between 1 and 4; got %d", w.ParanoiaLevel)
	}
	if w.InboundAnomalyThreshold < 1 || w.InboundAnomalyThreshold > 10000 {
		errs.Add(Join(p, "inbound_anomaly_threshold"), "must be between 1 and 10000")
	}
	if w.OutboundAnomalyThreshold < 1 || w.OutboundAnomalyThreshold > 10000 {
		errs.Add(Join(p, "outbound_anomaly_threshold"), "must be between 1 and 10000")
	}
	if w.RequestBodyLimit != nil && *w.RequestBodyLimit > *r.MaxBodyBytes {
		errs.Add(Join(p, "request_body_limit"), "must not exceed the route's max_body_bytes (%d)", int64(*r.MaxBodyBytes))
	}
	rp := Join(p, "response")
	if w.Response.BodyLimit < 1 || w.Response.BodyLimit > 64<<20 {
		errs.Add(Join(rp, "body_limit"), "must be between 1B and 64MiB")
	}
	switch w.Response.OverLimit {
	case "refuse", "relay":
	default:
		errs.Add(Join(rp, "over_limit"), "must be refuse or relay; got %q", w.Response.OverLimit)
	}
	cat := crs.Load()
	for i, ex := range w.Exclusions {
		ep := Index(Join(p, "exclusions"), i)
		if len(ex.RuleIDs) == 0 && len(ex.Tags) == 0 {
			errs.Add(ep, "one of rule_ids or tags is required")
		}
		for j, id := range ex.RuleIDs {
			rule, ok := cat.Rule(id)
			switch {
			case !ok:
				errs.Add(Index(Join(ep, "rule_ids"), j), "unknown rule id %d (not in OWASP CRS %s)", id, crs.Version)
			case !rule.Detection():
				errs.Add(Index(Join(ep, "rule_ids"), j), "rule %d detects nothing itself and cannot be excluded (to stop blocking, use mode: detect)", id)
			}
		}
		for j, tag := range ex.Tags {
			switch {
			case !wafTagRe.MatchString(tag):
				errs.Add(Index(Join(ep, "tags"), j), "invalid tag %q", tag)
			case !cat.HasDetectionTag(tag):
				errs.Add(Index(Join(ep, "tags"), j), "unknown tag %q (no detection rule of OWASP CRS %s has it)", tag, crs.Version)
			}
		}
	}
}

// validateWAFLog checks logging.waf.
func (c *Config) validateWAFLog(errs *Errors) {
	l := c.Logging.WAF
	if l.Output == "" {
		errs.Add("logging.waf.output", "must be stdout, stderr or a file path")
	}
	if l.BufferSize < 4<<10 || l.BufferSize > 64<<20 {
		errs.Add("logging.waf.buffer_size", "must be between 4KiB and 64MiB")
	}
}

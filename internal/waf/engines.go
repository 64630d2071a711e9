package waf

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/validate"
)

// cacheSize bounds the compiled instances kept for reuse: at most four
// paranoia levels for the running configuration and four for the one
// before it (a reload that failed, or requests still on the old runtime).
// An instance evicted here stays alive as long as a runtime uses it.
const cacheSize = 8

// Options are what Engines are built with.
type Options struct {
	// Log is the application log; blocks and detections are recorded
	// there (the security log line).
	Log *slog.Logger
	// ErrorLog configures the ModSecurity-format WAF log.
	ErrorLog config.WAFLog
}

// Engines are the process's WAF: compiled Coraza+CRS instances shared by
// runtimes (reused across reloads while their rules are unchanged), the
// WAF log and the metrics. One per process (internal/app); a runtime
// built without one makes its own.
type Engines struct {
	log     *slog.Logger
	errLog  *errorLog // nil when logging.waf is off
	metrics *metrics

	mu    sync.Mutex
	cache []*instance // least recently used first
}

// instance is one compiled Coraza+CRS WAF and the text it was built from.
type instance struct {
	directives string
	waf        coraza.WAF
}

// testDirectives are added to every instance's rules by tests only (the
// CRS regression suite's log marker, see export_test.go). Production code
// has no way to add a directive.
var testDirectives string

// NewEngines opens the WAF log (when enabled) and makes the metrics.
// Close flushes the log.
func NewEngines(o Options) (*Engines, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engines{log: o.Log, metrics: newMetrics()}
	if o.ErrorLog.Enabled {
		l, err := openErrorLog(o.ErrorLog)
		if err != nil {
			return nil, config.FieldError{Path: "logging.waf.output", Message: err.Error()}
		}
		e.errLog = l
	}
	return e, nil
}

// Collectors are the WAF's metrics, to register once.
func (e *Engines) Collectors() []prometheus.Collector { return e.metrics.collectors() }

// Close flushes and closes the WAF log.
func (e *Engines) Close() error {
	if e.errLog != nil {
		return e.errLog.Close()
	}
	return nil
}

// BuildDeps are the runtime's parts the WAF stages use.
type BuildDeps struct {
	// Bodies is the process's body budget: the WAF's copy of a request
	// body and buffered responses are counted in it.
	Bodies *validate.Budget
	// RedactHeaders are header names whose values the WAF log masks
	// besides the always-sensitive ones (logging.access.redact_headers).
	RedactHeaders []string
}

// Set is one runtime's WAF: a compiled instance per paranoia level in
// use, and each WAF route's settings on it.
type Set struct {
	engines *Engines
	routes  map[string]*routeWAF // by route name
}

// Build compiles (or reuses) one instance per paranoia level cfg's routes
// use, with each route's exclusions as a profile on it. Errors carry the
// path of a route at the failing level.
func (e *Engines) Build(cfg *config.Config, d BuildDeps) (*Set, error) {
	s := &Set{engines: e, routes: map[string]*routeWAF{}}
	redactor := observe.NewRedactor(d.RedactHeaders)
	type level struct {
		firstPath string
		profiles  []string // exclusion rules by profile number - 1
		byRules   map[string]int
		inst      *instance
	}
	var levels [5]*level
	for i, rc := range cfg.Routes {
		w := rc.WAF
		if w == nil {
			continue
		}
		l := levels[w.ParanoiaLevel]
		if l == nil {
			l = &level{firstPath: config.Join(config.Index("routes", i), "waf"), byRules: map[string]int{}}
			levels[w.ParanoiaLevel] = l
		}
		rw := newRouteWAF(rc, e, d.Bodies, redactor)
		if ctl := exclusionActions(w.Exclusions); ctl != "" {
			n, ok := l.byRules[ctl]
			if !ok && len(l.profiles) >= maxProfilesPerLvl {
				return nil, config.FieldError{Path: config.Join(config.Index("routes", i), "waf.exclusions"), Message: fmt.Sprintf("more than %d distinct exclusion sets at one paranoia level", maxProfilesPerLvl)}
			}
			if !ok {
				l.profiles = append(l.profiles, ctl)
				n = len(l.profiles)
				l.byRules[ctl] = n
			}
			rw.profile = []string{strconv.Itoa(n)}
		}
		rw.level = w.ParanoiaLevel
		s.routes[rc.Name] = rw
	}
	var g errgroup.Group
	for pl, l := range levels {
		if l == nil {
			continue
		}
		g.Go(func() error {
			inst, err := e.instance(directives(pl, l.profiles))
			if err != nil {
				return config.FieldError{Path: l.firstPath, Message: err.Error()}
			}
			l.inst = inst
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, rw := range s.routes {
		rw.waf = levels[rw.level].inst.waf
	}
	return s, nil
}

// instance returns the compiled instance for text, from the cache or
// compiled now.
func (e *Engines) instance(text string) (*instance, error) {
	e.mu.Lock()
	for i, in := range e.cache {
		if in.directives == text {
			e.cache = append(slices.Delete(e.cache, i, i+1), in)
			e.mu.Unlock()
			return in, nil
		}
	}
	e.mu.Unlock()
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(text))
	if err != nil {
		return nil, fmt.Errorf("compiling the WAF rules: %w", err)
	}
	in := &instance{directives: text, waf: w}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cache = append(e.cache, in)
	if len(e.cache) > cacheSize {
		e.cache = slices.Delete(e.cache, 0, len(e.cache)-cacheSize)
	}
	return in, nil
}

// Transaction variables the gateway sets before phase 1. CRS's
// initialisation keeps a threshold that is already set; the portcullis_
// ones select the route's detect mode and exclusion profile. No rule of
// CRS or of a request can set them.
const (
	txInbound  = "inbound_anomaly_score_threshold"
	txOutbound = "outbound_anomaly_score_threshold"
	txDetect   = "portcullis_detect"
	txProfile  = "portcullis_profile"
)

// Rule ids of the gateway's own rules: ModSecurity's range for local use.
const (
	detectRuleID      = 900
	firstProfileRule  = 1000
	maxProfilesPerLvl = 98000
)

// responseMimeTypes are the response bodies CRS's response rules read.
const responseMimeTypes = "text/plain text/html text/xml application/json application/xml application/problem+json"

// maxArguments is how many arguments Coraza keeps from each source (query,
// path, body). It drops the rest uninspected, so a payload behind enough
// filler parameters would reach the upstream unseen: rules 200004 and
// 200005 refuse any request that reaches it instead.
const maxArguments = 1000

// maxInspected is above every body the gateway lets the WAF see (route
// limits are at most 1GiB, response limits 64MiB; Coraza allows no more): Coraza's own limits
// never decide, the gateway's do (see stage.go), and with the in-memory
// limit equal to the limit Coraza never buffers on disk.
const maxInspected = 1 << 30

// directives is the rule text of the instance for paranoia level pl with
// the given exclusion profiles (ctl: actions by profile number - 1).
func directives(pl int, profiles []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit %[1]d
SecRequestBodyInMemoryLimit %[1]d
SecRequestBodyLimitAction Reject
SecRequestBodyJsonDepthLimit 1024
SecArgumentsLimit %[6]d
SecResponseBodyAccess On
SecResponseBodyMimeType %[2]s
SecResponseBodyLimit %[1]d
SecResponseBodyLimitAction Reject
SecAuditEngine Off
SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/[a-z0-9.-]+[+]json" "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecAction "id:900000,phase:1,pass,nolog,t:none,setvar:tx.blocking_paranoia_level=%[3]d"
SecRule TX:%[4]s "@streq 1" "id:%[5]d,phase:1,pass,nolog,t:none,ctl:ruleEngine=DetectionOnly"
`, maxInspected, responseMimeTypes, pl, txDetect, detectRuleID, maxArguments)
	if testDirectives != "" {
		b.WriteString(testDirectives)
		b.WriteByte('\n')
	}
	for i, ctl := range profiles {
		fmt.Fprintf(&b, "SecRule TX:%s \"@streq %d\" \"id:%d,phase:1,pass,nolog,t:none,%s\"\n", txProfile, i+1, firstProfileRule+i, ctl)
	}
	// Arguments Coraza dropped were never seen by any rule: refuse before
	// CRS spends its time on the 1000 it kept.
	b.WriteString(`SecRule ARGUMENTS_LIMIT_REACHED "@eq 1" "id:200004,phase:1,t:none,log,deny,status:400,msg:'Argument limit reached; request rejected (GET/PATH args)'"
SecRule ARGUMENTS_LIMIT_REACHED "@eq 1" "id:200005,phase:2,t:none,log,deny,status:400,msg:'Argument limit reached; request rejected (POST args)'"
`)
	b.WriteString("Include @crs-setup.conf.example\nInclude @owasp_crs/*.conf\n")
	// A body or a URI that cannot be parsed is refused after CRS's rules
	// ran on what could be read, so their matches are logged too.
	b.WriteString(`SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',logdata:'%{reqbody_error_msg}',severity:2"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation.'"
SecRule URI_PARSE_ERROR "@eq 1" "id:200009,phase:1,t:none,log,deny,status:400,msg:'URI failed to parse.'"
`)
	return b.String()
}

// exclusionActions renders a route's exclusions as ctl: actions ("" for
// none). config.Validate allowed only catalogued ids, plain tags and
// checked targets, so nothing here can break out of the action list.
func exclusionActions(exs []config.WAFExclusion) string {
	var acts []string
	for _, ex := range exs {
		for _, id := range ex.RuleIDs {
			if len(ex.Targets) == 0 {
				acts = append(acts, "ctl:ruleRemoveById="+strconv.Itoa(id))
			}
			for _, t := range ex.Targets {
				acts = append(acts, "ctl:ruleRemoveTargetById="+strconv.Itoa(id)+";"+t.String())
			}
		}
		for _, tag := range ex.Tags {
			if len(ex.Targets) == 0 {
				acts = append(acts, "ctl:ruleRemoveByTag="+tag)
			}
			for _, t := range ex.Targets {
				acts = append(acts, "ctl:ruleRemoveTargetByTag="+tag+";"+t.String())
			}
		}
	}
	return strings.Join(acts, ",")
}

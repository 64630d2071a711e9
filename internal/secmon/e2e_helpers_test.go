package secmon_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/portcullis/portcullis/internal/app"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/secmon"
)

var bg = context.Background()

// The end-to-end tests build the whole process the way `portcullis serve`
// does (app.Build: key store, security monitor, gateway, admin API), from
// a configuration file, on real TLS listeners, behind a trusted proxy
// (127.0.0.1), so X-Forwarded-For sets each request's client IP.

const baseConfig = `
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls: {cert_file: "{{.Cert}}", key_file: "{{.Key}}"}
ops:
  address: "127.0.0.1:0"
trusted_proxies: ["127.0.0.1/32"]
upstreams:
  - name: api
    targets: ["{{.Upstream}}"]
routes:
  - name: accounts-list
    path: /v1/accounts
    methods: [GET, POST]
    upstream: api
    auth: {authenticators: [keys]}
  - name: accounts-get
    path: /v1/accounts/{id}
    methods: [GET]
    upstream: api
    auth: {authenticators: [keys]}
  - name: status
    path: /status
    methods: [GET]
    upstream: api
    auth: none
  - name: search
    prefix: /v1/search
    methods: [GET, POST]
    upstream: api
    auth: none
    waf: {}
authenticators:
  - name: keys
    api_key: {}
keys:
  store: {driver: sqlite, path: "{{.Dir}}/keys.db"}
  pepper: {env: PEPPER}
  master_key: {env: MASTER_KEY}
admin:
  enabled: true
  address: "127.0.0.1:0"
  tls: {cert_file: "{{.Cert}}", key_file: "{{.Key}}"}
rate_limits:
  brute_force: {ip_threshold: 1000, credential_threshold: 0}
{{- if .Redis}}
  store:
    type: redis
    redis: {address: "{{.Redis}}", key_prefix: "{{.Prefix}}"}
{{- end}}
logging:
  level: error
  access: {enabled: false}
security:
  blocks: {sync_interval: 200ms}
  detectors:
    credential_stuffing: {distinct_credentials: 8, window: 1m, block: [1m, 5m]}
    scanning: {threshold: 30, window: 1m, block: [1m]}
    object_probing: {distinct_objects: 20, failure_ratio: 0.5, action: {{or .Probing "block"}}, target: consumer, block: [1m]}
    route_failures: {min_failures: 40, ratio: 0.5, window: 1m}
    admin_abuse: {auth_failures: 10, key_changes: 20, window: 1m}
    rejection_bursts: {threshold: 10, window: 1m, action: block, block: [1m]}
    consumer_anomaly: {max_ips: 16, ip_window: 1m}
  log: {output: "{{.Dir}}/security.log", flush_interval: 10ms}
{{.Extra}}`

// world is what the instances of one test share.
type world struct {
	t      *testing.T
	dir    string
	ca     *pki.CA
	cert   string
	key    string
	up     *httptest.Server
	secret *keystest.Secrets
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), secret: keystest.NewSecrets(t)}
	ca, err := pki.NewCA("security e2e CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w.ca = ca
	if err := ca.WriteFile(filepath.Join(w.dir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "gateway", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if w.cert, w.key, err = leaf.WriteFiles(w.dir, "gateway"); err != nil {
		t.Fatal(err)
	}
	// The upstream owns accounts "own-*"; any other id is not found.
	w.up = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if id, ok := strings.CutPrefix(r.URL.Path, "/v1/accounts/"); ok && !strings.HasPrefix(id, "own-") {
			http.Error(rw, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"ok":true}`)
	}))
	t.Cleanup(w.up.Close)
	return w
}

// gw is one running gateway process.
type gw struct {
	t          *testing.T
	p          *app.Process
	base       string
	ops        string
	admin      string
	dir        string
	client     *http.Client
	keys       []string // valid API keys, one consumer each
	adminToken string
	sentinels  int
	attacker   *http.Client // from 127.0.0.3
	sentKeys   []string     // the unissued keys replay sent
	cfg        *config.Config
}

type gwOptions struct {
	redis, prefix string
	extra         string // more security: keys, indented two spaces
	consumers     int
	probing       string // object_probing's action (default block)
}

// start builds and starts a process; its security log and key store are
// in a directory of its own.
func (w *world) start(o gwOptions) *gw {
	t := w.t
	t.Helper()
	dir, err := os.MkdirTemp(w.dir, "gw-")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	if err := template.Must(template.New("cfg").Parse(baseConfig)).Execute(&text, map[string]string{
		"Cert": w.cert, "Key": w.key, "Upstream": w.up.URL, "Dir": dir, "Redis": o.redis, "Prefix": o.prefix, "Extra": o.extra, "Probing": o.probing,
	}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PEPPER": w.secret.Pepper, "MASTER_KEY": w.secret.MasterKey, "WEBHOOK_SECRET": webhookSecret}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse([]byte(text.String()), lookup)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text.String())
	}
	p, err := app.Build(cfg, app.Options{Log: slog.New(slog.DiscardHandler), Env: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	g := &gw{t: t, p: p, cfg: cfg, base: "https://" + p.Server.Addr("public"), ops: "http://" + p.Server.Addr("ops"),
		admin: "https://" + p.Admin.Addr(), dir: dir}
	g.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}, MaxIdleConnsPerHost: 8}}
	// Admin API attacks come from another loopback address, as the
	// demo's do, so the admin API's own IP block does not lock the test
	// out of it.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}
	g.attacker = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}, DialContext: dialer.DialContext}}
	boot, err := p.Keys.Bootstrap(bg, "root")
	if err != nil {
		t.Fatal(err)
	}
	g.adminToken = boot.Secret
	for i := range max(o.consumers, 4) {
		c := keystest.Consumer(t, p.Keys, fmt.Sprintf("consumer-%d", i))
		g.keys = append(g.keys, keystest.Key(t, p.Keys, c.ID).Secret)
	}
	return g
}

// reply is what a client saw.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends one request as client ip with an API key ("" for none).
func (g *gw) do(ip, method, path, key string) reply {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", ip)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	return g.send(req)
}

func (g *gw) send(req *http.Request) reply {
	g.t.Helper()
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// adminGet calls the admin API with the bootstrap token (or token).
func (g *gw) adminDo(method, path, token string) reply {
	g.t.Helper()
	req, err := http.NewRequest(method, g.admin+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return g.send(req)
}

// events reads this instance's recent security events from the admin API.
func (g *gw) events(query string) []secmon.EventView {
	g.t.Helper()
	r := g.adminDo("GET", "/v1/security/events?limit=500&"+query, g.adminToken)
	if r.status != 200 {
		g.t.Fatalf("events: %d %s", r.status, r.body)
	}
	var out struct {
		Data []secmon.EventView `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		g.t.Fatal(err)
	}
	return out.Data
}

// drained returns once the monitor has handled everything sent before:
// a sentinel request from an unused address (a 404, so a request_refused
// event) must appear in the events, and the queue is first in, first out.
func (g *gw) drained() {
	g.t.Helper()
	g.sentinels++
	ip := fmt.Sprintf("192.0.2.%d", 200+g.sentinels%50)
	g.do(ip, "GET", "/sentinel", "")
	for range 500 {
		for _, ev := range g.events("type=request_refused&client_ip=" + ip) {
			if ev.Type == "request_refused" {
				return
			}
		}
		time.Sleep(10 * time.Millisecond) // the monitor runs on its own goroutine
	}
	g.t.Fatal("the monitor did not drain its queue")
}

// waitDetection polls for a detection by detector and returns it.
func (g *gw) waitDetection(detector string) secmon.EventView {
	g.t.Helper()
	return g.waitEvent("detection", detector)
}

// waitEvent polls for the first event of a type by detector.
func (g *gw) waitEvent(typ, detector string) secmon.EventView {
	g.t.Helper()
	for range 500 {
		if evs := g.events("type=" + typ + "&detector=" + detector); len(evs) > 0 {
			return evs[len(evs)-1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.t.Fatalf("no %s by %s", typ, detector)
	return secmon.EventView{}
}

// waitLog returns the security log once it holds every one of want (it
// is flushed every 10ms).
func (g *gw) waitLog(want ...string) string {
	g.t.Helper()
	var log string
	for range 500 {
		log = g.securityLog()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(log, w)
		}
		if ok {
			return log
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.t.Fatalf("security log lacks %q:\n%s", want, log)
	return ""
}

// securityLog returns the security log so far.
func (g *gw) securityLog() string {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, "security.log"))
	if err != nil && !os.IsNotExist(err) {
		g.t.Fatal(err)
	}
	return string(b)
}

// metric returns the value of one series on /metrics ("" if absent).
func (g *gw) metric(series string) string {
	g.t.Helper()
	resp, err := http.Get(g.ops + "/metrics")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

// badKey returns a well-formed live API key nobody was issued, the same
// for the same seed within a test (a leaked or guessed credential).
func badKey(t *testing.T, seeds map[string]string, seed string) string {
	if k, ok := seeds[seed]; ok {
		return k
	}
	k, _, err := keys.Generate(keys.KindLive)
	if err != nil {
		t.Fatal(err)
	}
	seeds[seed] = k
	return k
}

// webhookSecret signs the webhooks of the tests (WEBHOOK_SECRET).
const webhookSecret = "whsec-test-0123456789abcdef0123456789"

package apikey_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/testenv"
)

// These tests run the whole product: a configuration file through
// config.Parse, the gateway on a real TLS listener, the admin API on its
// own TLS listener, a real store, and an upstream that records what it
// receives.

const gatewayConfig = `
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls:
      cert_file: "{{.Cert}}"
      key_file: "{{.Key}}"
ops:
  address: "127.0.0.1:0"
upstreams:
  - name: api
    targets: ["{{.Upstream}}"]
routes:
  - name: accounts
    prefix: /v1/accounts
    upstream: api
    auth:
      authenticators: [partner-keys]
  - name: hooks
    path: /v1/hooks
    upstream: api
    auth:
      authenticators: [hook-keys]
authenticators:
  - name: partner-keys
    api_key: {}
  - name: hook-keys
    api_key:
      query_param: api_key
keys:
  store:
{{- if .DSN}}
    driver: postgres
    dsn: ${TEST_PG_DSN}
{{- else}}
    driver: sqlite
    path: "{{.DB}}"
{{- end}}
  cache:
    ttl: 1h
admin:
  enabled: true
  address: "127.0.0.1:0"
  tls:
    cert_file: "{{.Cert}}"
    key_file: "{{.Key}}"
logging:
  level: debug
  access:
    output: "{{.AccessLog}}"
    flush_interval: 1s
`

// upstream records the last request it received.
type upstream struct {
	mu   sync.Mutex
	last *http.Request
	srv  *httptest.Server
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.last = r.Clone(r.Context())
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) request() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// instance is one running gateway with its admin API.
type instance struct {
	t         *testing.T
	svc       *keys.Service
	srv       *server.Server
	adm       *admin.Server
	clock     *testenv.Clock
	up        *upstream
	client    *http.Client
	base, ops string
	adminURL  string
	caFile    string
	accessLog string
	dbPath    string
	appLog    *testenv.SyncBuffer
	stopped   bool
}

type instanceOptions struct {
	sec *keystest.Secrets
	ca  *pki.CA
	dir string
	dsn string // "" for SQLite in dir
}

func startInstance(t *testing.T, o instanceOptions) *instance {
	t.Helper()
	leaf, err := o.ca.Issue(pki.LeafOptions{CommonName: "gateway", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(o.dir, "gw-")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := leaf.WriteFiles(dir, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, clock: testenv.NewClock(t0), up: newUpstream(t), appLog: &testenv.SyncBuffer{},
		caFile: filepath.Join(o.dir, "ca.crt"), accessLog: filepath.Join(dir, "access.log"), dbPath: filepath.Join(o.dir, "keys.db")}
	var cfgText bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(gatewayConfig)).Execute(&cfgText, map[string]string{
		"Cert": cert, "Key": key, "Upstream": in.up.srv.URL, "DB": in.dbPath, "DSN": o.dsn, "AccessLog": in.accessLog,
	}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PORTCULLIS_PEPPER": o.sec.Pepper, "PORTCULLIS_MASTER_KEY": o.sec.MasterKey, "TEST_PG_DSN": o.dsn}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse(cfgText.Bytes(), lookup)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := observe.NewLogger(in.appLog, "debug")
	// As keys.Open does, with a clock the test moves.
	sec, err := keys.LoadSecrets(cfg.Keys, lookup)
	if err != nil {
		t.Fatal(err)
	}
	st, err := keys.OpenStore(bg, cfg.Keys)
	if err != nil {
		t.Fatal(err)
	}
	opts := keys.OptionsFromConfig(cfg.Keys)
	opts.Store, opts.Secrets, opts.Clock, opts.Log = st, sec, in.clock, log
	if in.svc, err = keys.NewService(opts); err != nil {
		t.Fatal(err)
	}
	in.svc.Start()
	in.srv, err = server.New(cfg, server.Options{Log: log, Deps: gateway.Deps{Keys: in.svc},
		ReadyChecks: map[string]func() error{"keys": in.svc.Ready}})
	if err != nil {
		t.Fatal(err)
	}
	if in.adm, err = admin.New(cfg.Admin, admin.Deps{Keys: in.svc, Log: log}); err != nil {
		t.Fatal(err)
	}
	if err := in.adm.Start(); err != nil {
		t.Fatal(err)
	}
	if err := in.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.stop)
	in.base, in.ops, in.adminURL = "https://"+in.srv.Addr("public"), "http://"+in.srv.Addr("ops"), "https://"+in.adm.Addr()
	pool := x509.NewCertPool()
	pool.AddCert(o.ca.Cert)
	in.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return in
}

func (in *instance) stop() {
	if in.stopped {
		return
	}
	in.stopped = true
	_ = in.adm.Shutdown(bg)
	_ = in.srv.Shutdown(bg)
	_ = in.svc.Close()
	_ = in.svc.Store().Close()
}

// get calls the gateway with an API key in X-API-Key ("" for none).
func (in *instance) get(path, key string) reply {
	in.t.Helper()
	req, _ := http.NewRequest("GET", in.base+path, nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (in *instance) adminClient(token string) *admin.Client {
	in.t.Helper()
	c, err := admin.NewClient(admin.ClientOptions{URL: in.adminURL, Token: token, CAFile: in.caFile})
	if err != nil {
		in.t.Fatal(err)
	}
	return c
}

func newCA(t *testing.T, dir string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("e2e CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteFile(filepath.Join(dir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	return ca
}

type issuedKey struct {
	Key struct {
		ID         string    `json:"id"`
		State      string    `json:"state"`
		GraceUntil time.Time `json:"grace_until"`
	} `json:"key"`
	Secret   string `json:"secret"`
	Previous struct {
		State      string    `json:"state"`
		GraceUntil time.Time `json:"grace_until"`
	} `json:"previous"`
}

// The lifecycle of a key, through the admin API and the gateway: create,
// use, rotate, grace expiry, revoke, expiry; then every log line, the audit
// trail and the database file are searched for any secret.
func TestLifecycleThroughGateway(t *testing.T) {
	dir := t.TempDir()
	sec := keystest.NewSecrets(t)
	gw := startInstance(t, instanceOptions{sec: sec, ca: newCA(t, dir), dir: dir})
	boot, err := gw.svc.Bootstrap(bg, "root")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{sec.Pepper, sec.MasterKey, strings.TrimPrefix(sec.MasterKey, "v1:"), boot.Secret}
	api := gw.adminClient(boot.Secret)

	var consumer keys.Consumer
	if err := api.Do(bg, "POST", "/v1/consumers", map[string]any{"name": "acme", "groups": []string{"partners"},
		"tier": "gold", "contact": "ops@acme.example"}, &consumer); err != nil {
		t.Fatal(err)
	}
	var first issuedKey
	if err := api.Do(bg, "POST", "/v1/keys", map[string]any{"consumer_id": consumer.ID, "scopes": []string{"accounts:read"}}, &first); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, first.Secret)

	// Use.
	if r := gw.get("/v1/accounts/acc_1", first.Secret); r.status != 200 {
		t.Fatalf("new key: %d %s", r.status, r.body)
	}
	up := gw.up.request()
	for h, want := range map[string]string{"X-Consumer-Id": consumer.ID, "X-Credential-Id": first.Key.ID,
		"X-Scopes": "accounts:read", "X-Auth-Method": "api_key", "X-Api-Key": ""} {
		if got := up.Header.Get(h); got != want {
			t.Errorf("upstream %s = %q, want %q", h, got, want)
		}
	}
	// The query-string route, and only it, takes the key from the query;
	// the upstream never sees it.
	if r := gw.get("/v1/hooks?api_key="+url.QueryEscape(first.Secret)+"&event=paid", ""); r.status != 200 {
		t.Fatalf("query key on the hooks route: %d %s", r.status, r.body)
	}
	if q := gw.up.request().URL.RawQuery; q != "event=paid" {
		t.Fatalf("upstream query = %q", q)
	}
	if r := gw.get("/v1/accounts?api_key="+url.QueryEscape(first.Secret), ""); r.status != 401 {
		t.Fatalf("query key on a header-only route: %d", r.status)
	}

	// Rotate: both keys work during the grace period.
	var second issuedKey
	if err := api.Do(bg, "POST", "/v1/keys/"+first.Key.ID+"/rotate", map[string]any{"grace": "1h"}, &second); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, second.Secret)
	if second.Previous.State != "rotating" || !second.Previous.GraceUntil.Equal(t0.Add(time.Hour)) {
		t.Fatalf("previous after rotate = %+v", second.Previous)
	}
	for _, k := range []string{first.Secret, second.Secret} {
		if r := gw.get("/v1/accounts", k); r.status != 200 {
			t.Fatalf("during grace: %d %s", r.status, r.body)
		}
	}
	// Grace expiry: the old key stops by itself.
	gw.clock.Advance(time.Hour)
	rejected := gw.get("/v1/accounts", first.Secret)
	if rejected.status != 401 {
		t.Fatalf("old key after grace: %d", rejected.status)
	}
	if r := gw.get("/v1/accounts", second.Secret); r.status != 200 {
		t.Fatalf("new key after grace: %d", r.status)
	}
	// Revoke: immediate.
	if err := api.Do(bg, "POST", "/v1/keys/"+second.Key.ID+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	revoked := gw.get("/v1/accounts", second.Secret)
	if revoked.status != 401 {
		t.Fatalf("after revoke: %d", revoked.status)
	}
	// Expiry.
	var third issuedKey
	if err := api.Do(bg, "POST", "/v1/keys", map[string]any{"consumer_id": consumer.ID,
		"expires_at": gw.clock.Now().Add(10 * time.Minute).Format(time.RFC3339)}, &third); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, third.Secret)
	if r := gw.get("/v1/accounts", third.Secret); r.status != 200 {
		t.Fatalf("before expiry: %d", r.status)
	}
	gw.clock.Advance(10 * time.Minute)
	expired := gw.get("/v1/accounts", third.Secret)
	malformed := gw.get("/v1/accounts", "pcl_live_nonsense")
	// No oracle: the client sees the same thing for every failure.
	for name, r := range map[string]reply{"grace over": rejected, "revoked": revoked, "expired": expired, "malformed": malformed} {
		body := r.body[:strings.Index(r.body, `"request_id"`)]
		if r.status != 401 || body != `{"type":"https://portcullis.dev/problems/invalid-credential","title":"Unauthorized","status":401,"detail":"The API key is invalid.",` {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		if r.header.Get("Www-Authenticate") != invalidAuth {
			t.Errorf("%s: WWW-Authenticate %q", name, r.header.Get("Www-Authenticate"))
		}
	}

	// The admin view of the history.
	var list struct {
		Data []struct {
			ID, State    string
			RequestCount int64 `json:"request_count"`
		} `json:"data"`
	}
	if err := gw.svc.FlushUsage(bg); err != nil {
		t.Fatal(err)
	}
	if err := api.Do(bg, "GET", "/v1/keys?consumer_id="+consumer.ID, nil, &list); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	counts := map[string]int64{}
	for _, k := range list.Data {
		states[k.ID], counts[k.ID] = k.State, k.RequestCount
	}
	if states[first.Key.ID] != "expired" || states[second.Key.ID] != "revoked" || states[third.Key.ID] != "expired" {
		t.Fatalf("states = %v", states)
	}
	if counts[first.Key.ID] != 3 || counts[second.Key.ID] != 2 || counts[third.Key.ID] != 1 {
		t.Fatalf("request counts = %v", counts)
	}

	auditTrail := auditJSON(t, gw)
	gw.stop() // flushes the access log
	access, err := os.ReadFile(gw.accessLog)
	if err != nil {
		t.Fatal(err)
	}
	// The access log says why each request failed and which key it was.
	for _, want := range []string{
		`"auth_failure":"partner-keys: rotated and past its grace period","credential_hint":"` + first.Key.ID + `"`,
		`"auth_failure":"partner-keys: revoked","credential_hint":"` + second.Key.ID + `"`,
		`"auth_failure":"partner-keys: expired","credential_hint":"` + third.Key.ID + `"`,
		`"auth_failure":"partner-keys: malformed key: wrong length"`,
		`"consumer":"` + consumer.ID + `","auth_method":"api_key","credential_id":"` + second.Key.ID + `"`,
	} {
		if !strings.Contains(string(access), want) {
			t.Errorf("access log lacks %s", want)
		}
	}
	noSecrets(t, secrets, map[string][]byte{
		"access log":      access,
		"application log": []byte(gw.appLog.String()),
		"audit trail":     auditTrail,
		"database":        readDB(t, gw.dbPath),
	})
}

func auditJSON(t *testing.T, in *instance) []byte {
	t.Helper()
	evs, err := in.svc.ListAudit(bg, 0, 100000)
	if err != nil || len(evs) == 0 {
		t.Fatalf("audit trail: %d events, %v", len(evs), err)
	}
	b, _ := json.Marshal(evs)
	return b
}

func readDB(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err == nil {
			all = append(all, b...)
		}
	}
	if len(all) == 0 {
		t.Fatal("database file is empty")
	}
	return all
}

// noSecrets fails if any secret, or the secret part of any credential,
// appears in any of the texts.
func noSecrets(t *testing.T, secrets []string, texts map[string][]byte) {
	t.Helper()
	var needles []string
	for _, s := range secrets {
		needles = append(needles, keystest.Secretish(s)...)
	}
	lines := 0
	for name, text := range texts {
		for _, line := range bytes.Split(text, []byte("\n")) {
			lines++
			for _, n := range needles {
				if bytes.Contains(line, []byte(n)) {
					t.Errorf("%s holds a secret: %.300s", name, line)
				}
			}
		}
	}
	if lines < 20 {
		t.Fatalf("only %d lines searched: the logs were not captured", lines)
	}
	t.Logf("searched %d lines for %d secrets", lines, len(needles))
}

// Two gateway instances on one PostgreSQL: a key revoked through one
// instance's admin API stops on the other, which had it cached for an
// hour, within a second. Then the second instance loses the database:
// cached keys keep working past their ttl, unknown keys fail closed, and
// /readyz and the log say so.
func TestTwoInstancesOnPostgres(t *testing.T) {
	dsn := pg.Database(t)
	dir := t.TempDir()
	sec := keystest.NewSecrets(t)
	ca := newCA(t, dir)
	a := startInstance(t, instanceOptions{sec: sec, ca: ca, dir: dir, dsn: dsn})
	proxy := testenv.NewProxy(t, testenv.Addr(pg.Port()))
	b := startInstance(t, instanceOptions{sec: sec, ca: ca, dir: dir,
		dsn: strings.Replace(dsn, testenv.Addr(pg.Port()), proxy.Addr(), 1)})

	boot, err := a.svc.Bootstrap(bg, "root")
	if err != nil {
		t.Fatal(err)
	}
	api := a.adminClient(boot.Secret)
	var consumer keys.Consumer
	if err := api.Do(bg, "POST", "/v1/consumers", map[string]any{"name": "acme"}, &consumer); err != nil {
		t.Fatal(err)
	}
	var doomed, kept issuedKey
	for _, k := range []*issuedKey{&doomed, &kept} {
		if err := api.Do(bg, "POST", "/v1/keys", map[string]any{"consumer_id": consumer.ID}, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{doomed.Secret, doomed.Secret, kept.Secret} {
		if r := b.get("/v1/accounts", k); r.status != 200 {
			t.Fatalf("instance b: %d %s", r.status, r.body)
		}
	}
	if b.svc.Stats().Hits.Load() < 1 {
		t.Fatal("instance b did not serve the key from its cache")
	}

	start := time.Now()
	if err := api.Do(bg, "POST", "/v1/keys/"+doomed.Key.ID+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	for {
		r := b.get("/v1/accounts", doomed.Secret)
		took = time.Since(start)
		if r.status == 401 {
			break
		}
		if took > time.Second {
			t.Fatalf("instance b still accepts the revoked key %v after the revocation on instance a", took)
		}
	}
	t.Logf("revocation through instance a's admin API stopped the key on instance b after %v (HTTP round trips included)", took)

	// Instance b loses the database.
	proxy.Cut()
	b.clock.Advance(61 * time.Minute) // past the 1h ttl, within stale_if_error (15m): b must ask the store, and cannot
	if r := b.get("/v1/accounts", kept.Secret); r.status != 200 {
		t.Fatalf("cached key during the outage: %d %s", r.status, r.body)
	}
	unknown, _, _ := keys.Generate(keys.KindLive)
	if r := b.get("/v1/accounts", unknown); r.status != 503 || !strings.Contains(r.body, "auth-unavailable") || r.header.Get("Retry-After") != "5" {
		t.Fatalf("uncached key during the outage: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	ready := getJSON(t, b.ops+"/readyz")
	if ready.status != 200 || ready.body["status"] != "degraded" ||
		!strings.Contains(fmt.Sprint(ready.body["warnings"]), "key store unreachable") {
		t.Fatalf("/readyz during the outage: %d %v", ready.status, ready.body)
	}
	if !strings.Contains(b.appLog.String(), "key store unreachable; serving cached keys") {
		t.Fatal("the log does not say the store is unreachable")
	}
	proxy.Restore()
	if r := b.get("/v1/accounts", kept.Secret); r.status != 200 {
		t.Fatalf("after the outage: %d", r.status)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ready = getJSON(t, b.ops+"/readyz")
		if ready.body["status"] == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 15s after the outage: %v", ready.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	secrets := []string{sec.Pepper, sec.MasterKey, boot.Secret, doomed.Secret, kept.Secret}
	a.stop()
	b.stop()
	texts := map[string][]byte{"a application log": []byte(a.appLog.String()), "b application log": []byte(b.appLog.String())}
	for name, in := range map[string]*instance{"a": a, "b": b} {
		if acc, err := os.ReadFile(in.accessLog); err == nil {
			texts[name+" access log"] = acc
		}
	}
	noSecrets(t, secrets, texts)
}

type jsonReply struct {
	status int
	body   map[string]any
}

func getJSON(t *testing.T, u string) jsonReply {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return jsonReply{status: resp.StatusCode, body: m}
}

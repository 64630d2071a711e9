package admin_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/secmon"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

var bg = context.Background()

// env is a running admin API over a real key service and a real TLS
// listener, with one token per role and a client certificate mapped to
// operator. Every exchange is validated against openapi.yaml.
type env struct {
	t       *testing.T
	svc     *keys.Service
	srv     *admin.Server
	url     string
	ca      *pki.CA
	tokens  map[string]string // role -> token text
	ids     map[string]string // role -> token id
	client  *http.Client      // no client certificate
	opCert  *http.Client      // client certificate CN=ops-bot (operator)
	strange *http.Client      // client certificate not mapped to a role
	spec    *specCheck
	mon     *secmon.Monitor
	blocks  int
	shared  *sharedstate.Memory
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the admin config and deps changed by mod.
func newEnvWith(t *testing.T, mod func(*config.Admin, *admin.Deps)) *env {
	t.Helper()
	e := &env{t: t, tokens: map[string]string{}, ids: map[string]string{}}
	e.svc = keystest.Service(t, keystest.SQLite(t), keystest.NewSecrets(t), keys.Options{})
	ca, err := pki.NewCA("admin test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.ca = ca
	dir := t.TempDir()
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "admin", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := leaf.WriteFiles(dir, "admin")
	if err != nil {
		t.Fatal(err)
	}
	caFile := dir + "/ca.crt"
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	cfg := config.Admin{
		Enabled: true, Address: "127.0.0.1:0", MaxPageSize: 500,
		TLS:         config.AdminTLS{CertFile: certFile, KeyFile: keyFile, MinVersion: "1.3", ClientCAFile: caFile},
		ClientCerts: []config.AdminClientCert{{CommonName: "ops-bot", Role: "operator"}},
		Roles:       config.AdminRoles{Operator: config.AdminRole{MaxScopes: []string{"accounts:read", "fx:read"}}},
	}
	e.mon = newMonitor(t)
	e.shared, err = sharedstate.NewMemory(1000, sharedstate.MemoryOptions{Limits: sharedstate.Limits{MaxMetaBytes: 256, MaxValueBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	deps := admin.Deps{Keys: e.svc, Security: e.mon, Idempotency: idempotency.NewAdmin(e.shared, nil)}
	if mod != nil {
		mod(&cfg, &deps)
	}
	e.srv, err = admin.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.srv.Shutdown(bg) })
	e.url = "https://" + e.srv.Addr()

	boot, err := e.svc.Bootstrap(bg, "root")
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["admin"], e.ids["admin"] = boot.Secret, boot.Token.ID
	for _, role := range []string{"operator", "auditor"} {
		it, err := e.svc.CreateAdminToken(bg, keys.AdminTokenSpec{Name: role, Role: role}, "test")
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[role], e.ids[role] = it.Secret, it.Token.ID
	}
	e.spec = newSpecCheck(t)
	e.client = e.httpClient(nil)
	e.opCert = e.httpClient(e.clientCert("ops-bot"))
	e.strange = e.httpClient(e.clientCert("stranger"))
	t.Cleanup(func() { e.spec.report(t) })
	return e
}

func (e *env) clientCert(cn string) *tls.Certificate {
	l, err := e.ca.Issue(pki.LeafOptions{CommonName: cn, Client: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return &l.TLS
}

func (e *env) httpClient(cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Cert)
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &validating{spec: e.spec, next: &http.Transport{TLSClientConfig: tc}}, Timeout: 10 * time.Second}
}

// response is what a client saw.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// do sends a request as role ("" for no credential, "cert" for the operator
// client certificate, "stranger" for an unmapped certificate).
func (e *env) do(role, method, path string, body any) response {
	e.t.Helper()
	return e.send(role, e.request(role, method, path, body))
}

func (e *env) request(role, method, path string, body any) *http.Request {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch role {
	case "", "cert", "stranger":
	default:
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	return req
}

func (e *env) send(role string, req *http.Request) response {
	e.t.Helper()
	c := e.client
	switch role {
	case "cert":
		c = e.opCert
	case "stranger":
		c = e.strange
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// ---- OpenAPI conformance

// specCheck validates every exchange against openapi.yaml and records
// which operations were answered with success.
type specCheck struct {
	router routers.Router
	doc    *openapi3.T
	mu     sync.Mutex
	errs   []string
	ok     map[string]bool // operationId -> a 2xx was seen and validated
}

func newSpecCheck(t *testing.T) *specCheck {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(admin.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(bg); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = nil // match any host: the test server has a random port
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specCheck{router: r, doc: doc, ok: map[string]bool{}}
}

func (s *specCheck) fail(format string, args ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *specCheck) report(t *testing.T) {
	for _, e := range s.errs {
		t.Errorf("OpenAPI mismatch: %s", e)
	}
}

type validating struct {
	spec *specCheck
	next http.RoundTripper
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	route, params, ferr := v.spec.router.FindRoute(req)
	if ferr != nil {
		return resp, nil // a path the API does not have (404/405 tests)
	}
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	op := route.Operation.OperationID
	// Only requests the server accepted must match the request schema;
	// rejected ones are often invalid on purpose.
	if resp.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			v.spec.fail("%s %s request: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.spec.fail("%s %s -> %d: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, respBody)
	} else if resp.StatusCode < 300 {
		v.spec.mu.Lock()
		v.spec.ok[op] = true
		v.spec.mu.Unlock()
	}
	return resp, nil
}

// ---- fixtures per operation

// op is how to call one operation successfully.
type op struct {
	action string
	method string
	// path and body for a fresh call; setup may create what it needs.
	setup func(e *env) (path string, body any)
	// success is the status of a successful call.
	success int
	// roles allowed.
	roles []string
}

func (e *env) consumer() string {
	c := keystest.Consumer(e.t, e.svc, fmt.Sprintf("c-%d", time.Now().UnixNano()))
	return c.ID
}

func (e *env) key() string { return keystest.Key(e.t, e.svc, e.consumer()).Key.ID }

// newMonitor is a security monitor with its blocks in memory, nothing
// shipped, and a credential stuffing detector that blocks an IP after 3
// distinct credentials fail from it.
func newMonitor(t *testing.T) *secmon.Monitor {
	t.Helper()
	var sc config.Security
	off := false
	sc.Log.Enabled = &off
	sc.Detectors.CredentialStuffing.DistinctCredentials = 3
	m, err := secmon.New(secmon.Options{Config: config.WithDefaults(sc)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// block makes the monitor block a fresh client IP and returns the block's
// id: three distinct credentials fail from it.
func (e *env) block() string {
	e.t.Helper()
	e.blocks++
	ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(e.blocks)})
	for i := range 3 {
		e.mon.Emit(secevent.Event{Type: secevent.AuthFailure, ClientIP: ip, Credential: fmt.Sprintf("cred-%d", i), Status: 401})
	}
	for range 1000 {
		for _, b := range e.mon.Blocks(bg) {
			if b.Value == ip.String() {
				return b.ID
			}
		}
		time.Sleep(5 * time.Millisecond) // the monitor's goroutine imposes it
	}
	e.t.Fatalf("no block imposed on %s", ip)
	return ""
}

func (e *env) signingKey() string {
	e.t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	jwk, _ := jose.JSONWebKey{Key: pub}.MarshalJSON()
	k, err := e.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: e.consumer(), KeyID: "k1", PublicKey: jwk})
	if err != nil {
		e.t.Fatal(err)
	}
	return k.ID
}

func (e *env) jwk() json.RawMessage {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	b, _ := jose.JSONWebKey{Key: pub}.MarshalJSON()
	return b
}

func (e *env) identity() string {
	e.t.Helper()
	i, err := e.svc.CreateIdentity(bg, keys.IdentitySpec{ConsumerID: e.consumer(), Issuer: "https://idp.example.com",
		ClientID: fmt.Sprintf("app-%d", time.Now().UnixNano())})
	if err != nil {
		e.t.Fatal(err)
	}
	return i.ID
}

// inDoubt puts an idempotency key in doubt, as a timed-out request leaves
// it, and returns how the admin API names it.
func (e *env) inDoubt() map[string]any {
	e.t.Helper()
	consumer := fmt.Sprintf("c-%d", time.Now().UnixNano())
	k := idempotency.StoreKey("", consumer, "pay-1")
	owner := sharedstate.NewOwner()
	if _, ok, err := e.shared.Reserve(bg, k, owner, idempotency.ReservationMeta(idempotency.Fingerprint{1}, owner, time.Now().Add(time.Minute)), time.Hour); err != nil || !ok {
		e.t.Fatalf("reserve: %v %v", ok, err)
	}
	if err := e.shared.Complete(bg, k, owner, sharedstate.InDoubt, idempotency.DoubtValue(idempotency.ReasonTimeout), time.Hour); err != nil {
		e.t.Fatal(err)
	}
	return map[string]any{"consumer": consumer, "key": "pay-1"}
}

func (e *env) token() string {
	it, err := e.svc.CreateAdminToken(bg, keys.AdminTokenSpec{Name: "victim", Role: "auditor"}, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return it.Token.ID
}

var (
	all      = []string{"admin", "operator", "auditor", "cert"}
	managers = []string{"admin", "operator", "cert"}
	readers  = []string{"admin", "auditor"}
	admins   = []string{"admin"}
)

func ops() []op {
	static := func(p string) func(*env) (string, any) { return func(*env) (string, any) { return p, nil } }
	return []op{
		{"whoami", "GET", static("/v1/whoami"), 200, all},
		{"openapi.get", "GET", static("/v1/openapi.yaml"), 200, all},
		{"consumer.list", "GET", static("/v1/consumers?limit=2"), 200, all},
		{"consumer.create", "POST", func(e *env) (string, any) {
			return "/v1/consumers", map[string]any{"name": fmt.Sprintf("new-%d", time.Now().UnixNano()), "groups": []string{"g1"}}
		}, 201, managers},
		{"consumer.get", "GET", func(e *env) (string, any) { return "/v1/consumers/" + e.consumer(), nil }, 200, all},
		{"consumer.update", "PATCH", func(e *env) (string, any) {
			return "/v1/consumers/" + e.consumer(), map[string]any{"tier": "silver", "notes": "renewed"}
		}, 200, managers},
		{"consumer.delete", "DELETE", func(e *env) (string, any) { return "/v1/consumers/" + e.consumer(), nil }, 204, managers},
		{"key.list", "GET", static("/v1/keys"), 200, all},
		{"key.issue", "POST", func(e *env) (string, any) {
			return "/v1/keys", map[string]any{"consumer_id": e.consumer(), "scopes": []string{"accounts:read"}}
		}, 201, managers},
		{"key.get", "GET", func(e *env) (string, any) { return "/v1/keys/" + e.key(), nil }, 200, all},
		{"key.rotate", "POST", func(e *env) (string, any) {
			return "/v1/keys/" + e.key() + "/rotate", map[string]any{"grace": "1h"}
		}, 201, managers},
		{"key.revoke", "POST", func(e *env) (string, any) { return "/v1/keys/" + e.key() + "/revoke", nil }, 200, managers},
		{"signing_key.list", "GET", func(e *env) (string, any) { return "/v1/consumers/" + e.consumer() + "/signing-keys", nil }, 200, all},
		{"signing_key.add", "POST", func(e *env) (string, any) {
			return "/v1/consumers/" + e.consumer() + "/signing-keys", map[string]any{"key_id": "client-1", "public_key": e.jwk()}
		}, 201, managers},
		{"signing_key.get", "GET", func(e *env) (string, any) { return "/v1/signing-keys/" + e.signingKey(), nil }, 200, all},
		{"signing_key.rotate", "POST", func(e *env) (string, any) {
			return "/v1/signing-keys/" + e.signingKey() + "/rotate", map[string]any{"key_id": "k2", "public_key": e.jwk(), "grace": "1h"}
		}, 201, managers},
		{"signing_key.revoke", "POST", func(e *env) (string, any) { return "/v1/signing-keys/" + e.signingKey() + "/revoke", nil }, 200, managers},
		{"identity.list", "GET", func(e *env) (string, any) { return "/v1/consumers/" + e.consumer() + "/identities", nil }, 200, all},
		{"identity.create", "POST", func(e *env) (string, any) {
			return "/v1/consumers/" + e.consumer() + "/identities", map[string]any{"issuer": "https://idp.example.com", "client_id": fmt.Sprintf("app-%d", time.Now().UnixNano())}
		}, 201, managers},
		{"identity.delete", "DELETE", func(e *env) (string, any) { return "/v1/identities/" + e.identity(), nil }, 204, managers},
		{"idempotency_key.lookup", "POST", func(e *env) (string, any) { return "/v1/idempotency-keys/lookup", e.inDoubt() }, 200, all},
		{"idempotency_key.resolve", "POST", func(e *env) (string, any) {
			ref := e.inDoubt()
			ref["outcome"] = "not_processed"
			return "/v1/idempotency-keys/resolve", ref
		}, 200, managers},
		{"admin_token.list", "GET", static("/v1/admin-tokens"), 200, readers},
		{"admin_token.create", "POST", func(e *env) (string, any) {
			return "/v1/admin-tokens", map[string]any{"name": "ci", "role": "operator"}
		}, 201, admins},
		{"admin_token.get", "GET", func(e *env) (string, any) { return "/v1/admin-tokens/" + e.token(), nil }, 200, readers},
		{"admin_token.revoke", "POST", func(e *env) (string, any) { return "/v1/admin-tokens/" + e.token() + "/revoke", nil }, 200, admins},
		{"audit.list", "GET", static("/v1/audit?limit=5"), 200, readers},
		{"audit.verify", "GET", static("/v1/audit/verify"), 200, readers},
		{"security.block.list", "GET", static("/v1/security/blocks"), 200, all},
		{"security.block.lift", "DELETE", func(e *env) (string, any) { return "/v1/security/blocks/" + e.block(), nil }, 204, managers},
		{"security.event.list", "GET", static("/v1/security/events?type=detection&limit=5"), 200, all},
	}
}

// Each role × each operation: allowed ones succeed, the others get 403,
// callers without a credential get 401; every outcome is audited.
func TestRBACMatrix(t *testing.T) {
	e := newEnv(t)
	for _, o := range ops() {
		for _, role := range append([]string{"", "stranger"}, all...) {
			name := role
			if name == "" {
				name = "anonymous"
			}
			t.Run(o.action+"/"+name, func(t *testing.T) {
				path, body := o.setup(e)
				resp := e.do(role, o.method, path, body)
				want := 403
				switch {
				case role == "" || role == "stranger":
					want = 401
				case contains(o.roles, role):
					want = o.success
				}
				if resp.status != want {
					t.Fatalf("%s %s as %s = %d, want %d\n%s", o.method, path, name, resp.status, want, resp.body)
				}
				if want >= 400 {
					var p struct {
						Type      string `json:"type"`
						RequestID string `json:"request_id"`
					}
					resp.json(t, &p)
					if ct := resp.header.Get("Content-Type"); ct != "application/problem+json" {
						t.Fatalf("Content-Type = %q", ct)
					}
					wantType := map[int]string{401: "unauthenticated", 403: "forbidden"}[want]
					if p.Type != "https://portcullis.dev/problems/"+wantType || p.RequestID == "" {
						t.Fatalf("problem = %s", resp.body)
					}
				}
				if want == 401 {
					if got := resp.header.Get("Www-Authenticate"); got != `Bearer realm="portcullis-admin"` {
						t.Fatalf("WWW-Authenticate = %q", got)
					}
					return
				}
				// The last audit event is this request, with its outcome.
				evs, _ := e.svc.ListAudit(bg, 0, 100000)
				last := evs[len(evs)-1]
				wantOutcome := map[bool]string{true: "success", false: "denied"}[want < 400]
				if last.Action != o.action || last.Outcome != wantOutcome || last.Status != want || last.SourceIP != "127.0.0.1" {
					t.Fatalf("audit event = %+v", last)
				}
			})
		}
	}
	// The spec and the server agree: every documented operation was
	// answered with success and validated above.
	for _, pi := range e.spec.doc.Paths.Map() {
		for _, docOp := range pi.Operations() {
			if !e.spec.ok[docOp.OperationID] {
				t.Errorf("documented operation %s was never served successfully", docOp.OperationID)
			}
		}
	}
	if n, err := e.svc.VerifyAudit(bg); err != nil || n != int64(len(ops())*len(all)+1) {
		t.Fatalf("audit chain: %d events, %v", n, err)
	}
}

// Every operation the server routes is documented, with the same path and
// method, and the documented operation ids are the audit action names; the
// RBAC matrix (ops) exercises every one of them.
func TestServerRoutesMatchOpenAPI(t *testing.T) {
	e := newEnv(t)
	documented := map[string]string{}
	for path, pi := range e.spec.doc.Paths.Map() {
		for method, o := range pi.Operations() {
			documented[method+" "+path] = o.OperationID
		}
	}
	served := admin.RouteTable()
	for k, v := range served {
		if documented[k] != v {
			t.Errorf("server operation %s (%s) is documented as %q", k, v, documented[k])
		}
	}
	for k, v := range documented {
		if served[k] != v {
			t.Errorf("documented operation %s (%s) is not served", k, v)
		}
	}
	tested := map[string]string{}
	for _, o := range ops() {
		path, _ := o.setup(e)
		path, _, _ = strings.Cut(path, "?")
		for _, prefix := range []string{"/v1/consumers/", "/v1/keys/", "/v1/admin-tokens/", "/v1/security/blocks/", "/v1/signing-keys/", "/v1/identities/"} {
			if rest, ok := strings.CutPrefix(path, prefix); ok && rest != "" {
				id, tail, _ := strings.Cut(rest, "/")
				if keys.CheckID(id) {
					path = prefix + "{id}"
					if tail != "" {
						path += "/" + tail
					}
				}
			}
		}
		tested[o.method+" "+path] = o.action
	}
	for k, v := range served {
		if tested[k] != v {
			t.Errorf("server operation %s (%s) is missing from the RBAC matrix (ops)", k, v)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

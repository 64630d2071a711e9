package apikey_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/apikey"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/testenv"
)

var pg = testenv.NewPostgres()

func TestMain(m *testing.M) { testenv.RunStopping(m, pg) }

var (
	bg = context.Background()
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// seen is what the protected handler observed.
type seen struct {
	Principal struct {
		ConsumerID, Subject, CredentialID, Tier, Authenticator string
		Method                                                 string
		Scopes, Groups                                         []string
	}
	APIKeyHeader string
	Query        string
}

// harness serves one authenticator on a real loopback listener: the
// authn middleware in front of a handler that echoes the principal, errors
// written by package problem as the gateway does. hint records the
// request's CredentialHint.
type harness struct {
	url  string
	hint chan string
}

func serve(t *testing.T, a authn.Authenticator, client netip.Addr) *harness {
	t.Helper()
	h := &harness{hint: make(chan string, 1)}
	final := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := reqinfo.From(r.Context()).Principal
		var out seen
		out.Principal.ConsumerID, out.Principal.Subject, out.Principal.CredentialID = p.ConsumerID, p.Subject, p.CredentialID
		out.Principal.Tier, out.Principal.Authenticator, out.Principal.Method = p.Tier, p.Authenticator, string(p.Method)
		out.Principal.Scopes, out.Principal.Groups = p.Scopes, p.Groups
		out.APIKeyHeader, out.Query = r.Header.Get("X-API-Key"), r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(out)
	})
	chain := authn.NewStage([]authn.Authenticator{a}, nil).Handle(final)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &reqinfo.Info{ID: "req-1", ClientIP: client}
		r = r.WithContext(reqinfo.With(r.Context(), info))
		if err := chain.ServeHTTP(w, r); err != nil {
			problem.Write(w, r, err)
		}
		h.hint <- info.CredentialHint
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

type reply struct {
	status int
	header http.Header
	body   string
	hint   string
}

func (h *harness) get(t *testing.T, path string, header map[string][]string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", h.url+path, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b), hint: <-h.hint}
}

func newAuth(t *testing.T, cfg config.APIKeyAuth, v apikey.Verifier) *apikey.Authenticator {
	t.Helper()
	cfg.Header = strings.TrimSpace(cfg.Header)
	if cfg.Header == "" {
		cfg.Header = "X-API-Key"
	}
	a, err := apikey.New("partner-keys", cfg, apikey.Deps{Keys: v})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const (
	invalidBody = `{"type":"https://portcullis.dev/problems/invalid-credential","title":"Unauthorized","status":401,"detail":"The API key is invalid.","request_id":"req-1"}` + "\n"
	invalidAuth = `ApiKey realm="portcullis", header="X-API-Key", error="invalid_token", error_description="The API key is invalid."`
)

func TestAuthenticate(t *testing.T) {
	clock := testenv.NewClock(t0)
	svc := keystest.Service(t, keystest.SQLite(t), keystest.NewSecrets(t), keys.Options{Clock: clock})
	c, err := svc.CreateConsumer(bg, keys.ConsumerSpec{Name: "acme", Groups: []string{"partners"}, Tier: "gold"})
	if err != nil {
		t.Fatal(err)
	}
	good := keystest.Key(t, svc, c.ID, "accounts:read")
	revoked := keystest.Key(t, svc, c.ID)
	if _, err := svc.RevokeKey(bg, revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	expiring, _ := svc.IssueKey(bg, keys.KeySpec{ConsumerID: c.ID, ExpiresAt: t0.Add(time.Minute)})
	rotated := keystest.Key(t, svc, c.ID)
	zero := time.Duration(0)
	if _, _, err := svc.RotateKey(bg, rotated.Key.ID, keys.RotateSpec{Grace: &zero}); err != nil {
		t.Fatal(err)
	}
	cidr, _ := svc.IssueKey(bg, keys.KeySpec{ConsumerID: c.ID, AllowedCIDRs: []string{"10.0.0.0/8"}})
	other := keystest.Consumer(t, svc, "disabled")
	disabledKey := keystest.Key(t, svc, other.ID)
	yes := true
	if _, err := svc.UpdateConsumer(bg, other.ID, keys.ConsumerPatch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // past expiring's expiry
	unknown, unknownTok, _ := keys.Generate(keys.KindLive)
	wrongSecret, _, _ := keys.Build(keys.KindLive, good.Key.ID)
	liveOnTest, liveTok, _ := keys.Generate(keys.KindTest)

	h := serve(t, newAuth(t, config.APIKeyAuth{}, svc), netip.MustParseAddr("203.0.113.9"))

	// Every rejected key looks exactly the same to the client.
	for _, tc := range []struct{ name, key, hint string }{
		{"malformed", "not-a-key", ""},
		{"typo", typo(good.Secret, 40), ""},
		{"unknown", unknown, unknownTok.ID},
		{"wrong secret", wrongSecret, good.Key.ID},
		{"revoked", revoked.Secret, revoked.Key.ID},
		{"expired", expiring.Secret, expiring.Key.ID},
		{"rotated past grace", rotated.Secret, rotated.Key.ID},
		{"source not allowed", cidr.Secret, cidr.Key.ID},
		{"disabled consumer", disabledKey.Secret, disabledKey.Key.ID},
		{"test key on a live gateway", liveOnTest, liveTok.ID},
		{"empty", "", ""},
	} {
		t.Run("rejected/"+tc.name, func(t *testing.T) {
			r := h.get(t, "/", map[string][]string{"X-API-Key": {tc.key}})
			if r.status != 401 || r.body != invalidBody || r.header.Get("Www-Authenticate") != invalidAuth ||
				r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %q %q", r.status, r.header.Get("Www-Authenticate"), r.body)
			}
			if r.hint != tc.hint {
				t.Fatalf("CredentialHint = %q, want %q", r.hint, tc.hint)
			}
		})
	}

	t.Run("accepted", func(t *testing.T) {
		r := h.get(t, "/?page=2", map[string][]string{"X-API-Key": {good.Secret}})
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var s seen
		if err := json.Unmarshal([]byte(r.body), &s); err != nil {
			t.Fatal(err)
		}
		p := s.Principal
		if p.ConsumerID != c.ID || p.Subject != c.ID || p.CredentialID != good.Key.ID || p.Tier != "gold" ||
			p.Method != "api_key" || p.Authenticator != "partner-keys" || p.Scopes[0] != "accounts:read" || p.Groups[0] != "partners" {
			t.Fatalf("principal = %+v", p)
		}
		if s.APIKeyHeader != "" {
			t.Fatal("the key was passed on to the handler behind the authenticator")
		}
		if s.Query != "page=2" {
			t.Fatalf("query = %q", s.Query)
		}
	})

	t.Run("no key", func(t *testing.T) {
		r := h.get(t, "/", nil)
		want := `{"type":"https://portcullis.dev/problems/unauthenticated","title":"Unauthorized","status":401,"detail":"This route requires authentication.","request_id":"req-1"}` + "\n"
		if r.status != 401 || r.body != want || r.header.Get("Www-Authenticate") != `ApiKey realm="portcullis", header="X-API-Key"` {
			t.Fatalf("got %d %q %q", r.status, r.header.Get("Www-Authenticate"), r.body)
		}
	})

	t.Run("two keys", func(t *testing.T) {
		r := h.get(t, "/", map[string][]string{"X-API-Key": {good.Secret, good.Secret}})
		if r.status != 401 || !strings.Contains(r.header.Get("Www-Authenticate"), `error="invalid_request"`) {
			t.Fatalf("got %d %q", r.status, r.header.Get("Www-Authenticate"))
		}
	})

	t.Run("query string ignored unless configured", func(t *testing.T) {
		r := h.get(t, "/?api_key="+url.QueryEscape(good.Secret), nil)
		if r.status != 401 || !strings.Contains(r.body, "This route requires authentication.") {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

func TestQueryParam(t *testing.T) {
	svc := keystest.Service(t, keystest.SQLite(t), keystest.NewSecrets(t), keys.Options{})
	c := keystest.Consumer(t, svc, "hooks")
	k := keystest.Key(t, svc, c.ID)
	h := serve(t, newAuth(t, config.APIKeyAuth{QueryParam: "api_key"}, svc), netip.MustParseAddr("192.0.2.1"))

	r := h.get(t, "/?z=1&api_key="+url.QueryEscape(k.Secret)+"&b=%2F", nil)
	var s seen
	_ = json.Unmarshal([]byte(r.body), &s)
	if r.status != 200 || s.Query != "z=1&b=%2F" || s.Principal.CredentialID != k.Key.ID {
		t.Fatalf("got %d, query %q: %s", r.status, s.Query, r.body)
	}
	r = h.get(t, "/?api_key="+url.QueryEscape(k.Secret), map[string][]string{"X-API-Key": {k.Secret}})
	if r.status != 401 || !strings.Contains(r.header.Get("Www-Authenticate"), `error="invalid_request"`) {
		t.Fatalf("header and query together: %d %q", r.status, r.header.Get("Www-Authenticate"))
	}
}

// failing is a verifier whose store is down: the one fault a unit test
// cannot produce with SQLite (the Postgres end-to-end test cuts a real
// connection instead).
type failing struct{}

func (failing) Verify(context.Context, string, netip.Addr) (*keys.Verified, error) {
	return nil, errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func TestStoreDownFailsClosed(t *testing.T) {
	k, _, _ := keys.Generate(keys.KindLive)
	h := serve(t, newAuth(t, config.APIKeyAuth{}, failing{}), netip.MustParseAddr("192.0.2.1"))
	r := h.get(t, "/", map[string][]string{"X-API-Key": {k}})
	want := `{"type":"https://portcullis.dev/problems/auth-unavailable","title":"Service Unavailable","status":503,"detail":"The gateway cannot verify credentials right now.","request_id":"req-1"}` + "\n"
	if r.status != 503 || r.body != want || r.header.Get("Retry-After") != "5" {
		t.Fatalf("got %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := apikey.New("x", config.APIKeyAuth{}, apikey.Deps{}); err == nil {
		t.Fatal("no verifier accepted")
	}
	if _, err := apikey.New("x", config.APIKeyAuth{Header: "Bad Header"}, apikey.Deps{Keys: failing{}}); err == nil {
		t.Fatal("bad header name accepted")
	}
}

// typo changes the character at i to a different base62 character.
func typo(s string, i int) string {
	c := byte('x')
	if s[i] == c {
		c = 'y'
	}
	return s[:i] + string(c) + s[i+1:]
}

package bruteforce

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/testenv"
)

// keyAuth is a tiny authenticator: "X-Key: <id>.<secret>" verifies when
// the secret is "right". Like the real ones, it sets CredentialHint to the
// key id of a failed credential.
type keyAuth struct{}

func (keyAuth) Name() string { return "test" }

func (keyAuth) Challenge() authn.Challenge {
	return authn.Challenge{Scheme: "ApiKey", Params: [][2]string{{"realm", authn.Realm}}}
}

func (keyAuth) Authenticate(r *http.Request) (*principal.Principal, error) {
	v := r.Header.Get("X-Key")
	if v == "" {
		return nil, authn.ErrNotApplicable
	}
	id, secret, _ := strings.Cut(v, ".")
	if secret != "right" {
		reqinfo.From(r.Context()).CredentialHint = id
		return nil, authn.Reject("wrong secret", "The API key is invalid.")
	}
	return &principal.Principal{ConsumerID: "owner-of-" + id, Subject: "owner-of-" + id, Method: principal.MethodAPIKey, CredentialID: id}, nil
}

func bruteForceConfig(ip, cred int) config.BruteForce {
	var c config.Config
	c.RateLimits.BruteForce.IPThreshold = &ip
	c.RateLimits.BruteForce.CredentialThreshold = &cred
	c.RateLimits.BruteForce.Block = []config.Duration{config.Duration(time.Minute), config.Duration(5 * time.Minute)}
	return config.WithDefaults(c).RateLimits.BruteForce
}

// serve runs the gateway's order (guard, auth, guard after auth, upstream)
// over a real loopback listener; X-Test-IP sets the client IP.
func serve(t *testing.T, g *Guard) *httptest.Server {
	t.Helper()
	up := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.WriteString(w, "ok")
		return nil
	})
	chain := guarded(t, g, up)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &reqinfo.Info{ID: "rid", ClientIP: netip.MustParseAddr(r.Header.Get("X-Test-IP"))}
		r = r.WithContext(reqinfo.With(r.Context(), info))
		if err := chain.ServeHTTP(w, r); err != nil {
			problem.Write(w, r, err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	status     int
	retryAfter string
	body       string
	challenge  string
}

func call(t *testing.T, srv *httptest.Server, ip, key string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("X-Test-IP", ip)
	if key != "" {
		req.Header.Set("X-Key", key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get("Retry-After"), string(b), resp.Header.Get("WWW-Authenticate")}
}

const blockedBody = `{"type":"https://portcullis.dev/problems/blocked","title":"Too Many Requests","status":429,"detail":"Too many failed authentication attempts; try again later.","request_id":"rid"}` + "\n"

func redisStores(t testing.TB, addr, prefix string, clock ratelimit.Clock) *ratelimit.Stores {
	st, err := ratelimit.NewStores(config.WithDefaults(config.RateLimitStore{Type: "redis", MaxKeys: 10000, Redis: &config.RedisConfig{
		Address: addr, KeyPrefix: prefix, DialTimeout: config.Duration(time.Second),
		Timeout: config.Duration(time.Second), RetryInterval: config.Duration(time.Second),
	}}), ratelimit.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func memStores(t *testing.T, clock *testenv.Clock) *ratelimit.Stores {
	s, err := ratelimit.NewStores(config.WithDefaults(config.RateLimitStore{Type: "memory", MaxKeys: 10000}), ratelimit.Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIPBlockLadder(t *testing.T) {
	clock := testenv.NewClock(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
	g := New(bruteForceConfig(3, 0), memStores(t, clock), slog.New(slog.DiscardHandler))
	srv := serve(t, g)
	const attacker = "203.0.113.9"
	for offence, block := range []string{"60", "300", "300"} {
		for i := 1; i <= 3; i++ {
			// Each guess uses another key id: only the IP dimension counts.
			got := call(t, srv, attacker, "guess"+strings.Repeat("x", offence*3+i)+".wrong")
			if got.status != 401 || got.challenge == "" {
				t.Fatalf("offence %d guess %d: %d (challenge %q)", offence+1, i, got.status, got.challenge)
			}
		}
		got := call(t, srv, attacker, "")
		if got.status != 429 || got.retryAfter != block || got.body != blockedBody {
			t.Fatalf("offence %d: %+v, want 429 Retry-After %s", offence+1, got, block)
		}
		// A blocked IP cannot even use a valid key.
		if got := call(t, srv, attacker, "k1.right"); got.status != 429 {
			t.Fatalf("offence %d: valid key from a blocked IP: %d", offence+1, got.status)
		}
		// Others are not affected.
		if got := call(t, srv, "192.0.2.1", "k1.right"); got.status != 200 {
			t.Fatalf("innocent client: %d", got.status)
		}
		if block == "60" {
			clock.Advance(time.Minute)
		} else {
			clock.Advance(5 * time.Minute)
		}
		if got := call(t, srv, attacker, "k1.right"); got.status != 200 {
			t.Fatalf("offence %d: still blocked after the block: %d", offence+1, got.status)
		}
	}
}

// A credential is blocked per source, never on its own: the guesser's
// address is refused (right and wrong secret answer the same, so there is
// no oracle) while the owner elsewhere keeps working. This used to block
// the key id everywhere, which let anyone who knows a key id (not a
// secret) lock its owner out; the test asserted that and was changed.
func TestCredentialBlockIsPerSource(t *testing.T) {
	clock := testenv.NewClock(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
	g := New(bruteForceConfig(0, 3), memStores(t, clock), nil)
	srv := serve(t, g)
	const guesser, owner = "198.51.100.1", "192.0.2.77"
	for i := range 2 {
		if got := call(t, srv, guesser, "k7.guess"); got.status != 401 {
			t.Fatalf("guess %d: %d", i+1, got.status)
		}
	}
	// The third failure blocks k7 from the guesser; this response already
	// says so.
	if got := call(t, srv, guesser, "k7.guess"); got.status != 429 || got.retryAfter != "60" || got.body != blockedBody {
		t.Fatalf("third guess: %+v", got)
	}
	// While blocked, the right and a wrong secret answer the same.
	wrong := call(t, srv, guesser, "k7.other")
	right := call(t, srv, guesser, "k7.right")
	if wrong != right || right.status != 429 {
		t.Fatalf("oracle: wrong secret %+v, right secret %+v", wrong, right)
	}
	// The owner is not locked out; the same address in another IPv4
	// mapping is the same source.
	if got := call(t, srv, owner, "k7.right"); got.status != 200 {
		t.Fatalf("the owner elsewhere: %d", got.status)
	}
	if got := call(t, srv, "::ffff:"+guesser, "k7.right"); got.status != 429 {
		t.Fatalf("the guesser as an IPv4-mapped address: %d", got.status)
	}
	// Other keys work from the guesser's address: the IP dimension is off.
	if got := call(t, srv, guesser, "k8.right"); got.status != 200 {
		t.Fatalf("other key: %d", got.status)
	}
	// Guesses spread over addresses block nothing here (the security
	// monitor's route_failures detector watches for them).
	for i := range 5 {
		if got := call(t, srv, "203.0.113."+string(rune('1'+i)), "k9.guess"); got.status != 401 {
			t.Fatalf("distributed guess %d: %d", i+1, got.status)
		}
	}
	if got := call(t, srv, owner, "k9.right"); got.status != 200 {
		t.Fatalf("k9's owner after distributed guesses: %d", got.status)
	}
	clock.Advance(time.Minute)
	if got := call(t, srv, guesser, "k7.right"); got.status != 200 {
		t.Fatalf("after the block: %d", got.status)
	}
}

func TestDisabled(t *testing.T) {
	off := false
	if g := New(config.BruteForce{Enabled: &off}, nil, nil); g != nil {
		t.Fatalf("disabled: %v", g)
	}
}

// guarded is the gateway's order: the guard's Admit stage, then
// authentication, which tells the guard every outcome.
func guarded(t testing.TB, g *Guard, up pipeline.Handler) pipeline.Handler {
	t.Helper()
	h, err := pipeline.Compose(up, []pipeline.Stage{g, authn.NewStage([]authn.Authenticator{keyAuth{}}, []pipeline.AuthObserver{g})})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Blocks are shared through Redis: a block imposed by one gateway instance
// holds there at once, and on another once that one has read the block
// horizon again (rate_limits.store.redis.block_sync, default 1s).
func TestBlocksSharedThroughRedis(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	clock := testenv.NewClock(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
	instance := func() *httptest.Server {
		g := New(bruteForceConfig(2, 0), redisStores(t, r.Addr(), "bf-test:", clock.Now), nil)
		return serve(t, g)
	}
	a, b := instance(), instance()
	call(t, a, "203.0.113.50", "x.bad")
	call(t, b, "203.0.113.50", "y.bad") // the second failure, on another instance
	if got := call(t, b, "203.0.113.50", "k.right"); got.status != 429 || got.retryAfter != "60" {
		t.Fatalf("instance b, which imposed the block: %+v", got)
	}
	clock.Advance(time.Second)
	// The first request after block_sync starts a read in the background;
	// a later one is blocked.
	var got reply
	for range 200 {
		if got = call(t, a, "203.0.113.50", "k.right"); got.status == 429 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.status != 429 || got.retryAfter != "60" {
		t.Fatalf("instance a, one block_sync later: %+v", got)
	}
}

package jwks

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/internal/testissuer"
)

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	weak, _ := is.AddKey("RS1024")
	good := string(is.JWKS())
	// Splice in keys a verifier must never use.
	doc := strings.Replace(good, `{"keys":[`, `{"keys":[`+
		`{"kty":"oct","kid":"hmac","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},`+
		`{"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},`+
		`{"kty":"XYZ","kid":"odd"},`, 1)
	s, skipped, err := ParseJWKS([]byte(doc), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 {
		t.Fatalf("usable keys = %d, want 3 (RS256, ES256, EdDSA)", s.Len())
	}
	joined := strings.Join(skipped, "\n")
	for _, want := range []string{"symmetric keys are never accepted", `use is "enc"`, "RSA key of 1024 bits", "key 2: "} {
		if !strings.Contains(joined, want) {
			t.Errorf("skipped reasons lack %q:\n%s", want, joined)
		}
	}
	for _, kid := range []string{"hmac", "enc", weak} {
		if _, err := s.Candidates(kid, "RS256"); !errors.Is(err, ErrUnknownKID) {
			t.Errorf("kid %s: %v, want ErrUnknownKID", kid, err)
		}
	}
	if _, _, err := ParseJWKS([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`), time.Now()); err == nil {
		t.Error("a JWKS of only symmetric keys was accepted")
	}
}

func TestCandidates(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	s, _, err := ParseJWKS(is.JWKS(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rsa, ec, ed := is.KidFor("RS256"), is.KidFor("ES256"), is.KidFor("EdDSA")
	tests := []struct {
		name, kid, alg string
		want           error
	}{
		{"rsa", rsa, "RS256", nil},
		{"jwk alg must equal token alg", rsa, "PS256", ErrKeyMismatch},
		{"ec", ec, "ES256", nil},
		{"ec curve must fit", ec, "ES384", ErrKeyMismatch},
		{"ed", ed, "EdDSA", nil},
		{"rsa alg on ed key", ed, "RS256", ErrKeyMismatch},
		{"hmac alg", rsa, "HS256", ErrKeyMismatch},
		{"unknown", "nope", "RS256", ErrUnknownKID},
		{"no kid, several keys", "", "RS256", ErrNoKID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Candidates(tt.kid, tt.alg)
			if !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func newRemote(t *testing.T, is *testissuer.Issuer, clk *testenv.Clock) *Remote {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, is.CA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(nil, clk.Now)
	o := Options{URL: is.JWKSURL(), CAFile: ca, RefreshInterval: 5 * time.Minute, MinRefreshInterval: 30 * time.Second, FetchTimeout: 5 * time.Second}
	rm, err := reg.Remote(o)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := reg.Remote(o); again != rm {
		t.Fatal("the registry built a second Remote for the same options")
	}
	return rm
}

// waitFetches waits (bounded) for a background fetch to finish.
func waitFetches(t *testing.T, rm *Remote, want int64) {
	t.Helper()
	for range 500 {
		rm.mu.Lock()
		idle := rm.inflight == nil
		rm.mu.Unlock()
		if idle && rm.Fetches() >= want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fetches = %d, want %d", rm.Fetches(), want)
}

func TestBackgroundRefreshKeepsServing(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	clk := testenv.NewClock(time.Now())
	rm := newRemote(t, is, clk)
	ctx := context.Background()
	kid := is.KidFor("RS256")
	if _, err := rm.Candidates(ctx, kid, "RS256"); err != nil {
		t.Fatal(err)
	}
	if rm.Fetches() != 1 {
		t.Fatalf("fetches = %d", rm.Fetches())
	}
	// Fresh: no fetch.
	clk.Advance(time.Minute)
	if _, err := rm.Candidates(ctx, kid, "RS256"); err != nil || rm.Fetches() != 1 {
		t.Fatalf("fresh set refetched: %v, %d", err, rm.Fetches())
	}
	// Stale and the issuer is down: the request is served from the old
	// set, a background refresh runs and fails, the old keys stay.
	is.FailJWKS(http.StatusInternalServerError)
	clk.Advance(5 * time.Minute)
	if _, err := rm.Candidates(ctx, kid, "RS256"); err != nil {
		t.Fatalf("stale set not served: %v", err)
	}
	waitFetches(t, rm, 2)
	if _, err := rm.Candidates(ctx, kid, "RS256"); err != nil {
		t.Fatalf("keys lost after a failed refresh: %v", err)
	}
	if rm.Fetches() != 2 {
		t.Fatalf("a failing issuer was retried within min_refresh_interval: %d fetches", rm.Fetches())
	}
	// Back up: the next stale request refreshes in the background and
	// picks up a rotated key.
	is.FailJWKS(0)
	newKid, _ := is.Rotate()
	clk.Advance(31 * time.Second)
	if _, err := rm.Candidates(ctx, kid, "RS256"); err != nil {
		t.Fatal(err)
	}
	waitFetches(t, rm, 3)
	if _, err := rm.Candidates(ctx, newKid, "RS256"); err != nil || rm.Fetches() != 3 {
		t.Fatalf("rotated key after background refresh: %v (%d fetches)", err, rm.Fetches())
	}
}

func TestRemoteFailures(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	clk := testenv.NewClock(time.Now())
	tests := []struct {
		name   string
		remote func(t *testing.T) *Remote
	}{
		{"untrusted certificate (no ca_file)", func(t *testing.T) *Remote {
			rm, err := NewRegistry(nil, clk.Now).Remote(Options{URL: is.JWKSURL(), RefreshInterval: time.Minute, MinRefreshInterval: time.Second, FetchTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return rm
		}},
		{"issuer answers 503", func(t *testing.T) *Remote {
			is.FailJWKS(http.StatusServiceUnavailable)
			t.Cleanup(func() { is.FailJWKS(0) })
			return newRemote(t, is, clk)
		}},
		{"redirect is not followed", func(t *testing.T) *Remote {
			return serveRemote(t, clk, http.RedirectHandler(is.JWKSURL(), http.StatusFound))
		}},
		{"oversized document", func(t *testing.T) *Remote {
			return serveRemote(t, clk, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("A", 2<<20) + `"}`))
			}))
		}},
		{"not JSON", func(t *testing.T) *Remote {
			return serveRemote(t, clk, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rm := tt.remote(t)
			_, err := rm.Candidates(context.Background(), "k", "RS256")
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			// Rate-limited: the next request fails fast without a fetch.
			n := rm.Fetches()
			if _, err := rm.Candidates(context.Background(), "k", "RS256"); !errors.Is(err, ErrUnavailable) || rm.Fetches() != n {
				t.Fatalf("second attempt: %v, fetches %d -> %d", err, n, rm.Fetches())
			}
		})
	}
}

// serveRemote serves h over TLS (httptest's own CA, trusted via ca_file).
func serveRemote(t *testing.T, clk *testenv.Clock, h http.Handler) *Remote {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCert(t, ca, srv)
	rm, err := NewRegistry(nil, clk.Now).Remote(Options{URL: srv.URL + "/jwks", CAFile: ca, RefreshInterval: time.Minute, MinRefreshInterval: time.Second, FetchTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return rm
}

// Ready is the /readyz signal: not ready until the first successful fetch
// (and retried by the check itself, since an instance out of rotation sees
// no tokens), degraded with the old keys still served after a failed
// refresh, ready again once a fetch succeeds.
func TestReady(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	clk := testenv.NewClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC))
	rm := newRemote(t, is, clk)
	ctx := context.Background()
	check := func(wantMsg string, wantDegraded bool) {
		t.Helper()
		err := rm.Ready()
		if wantMsg == "" {
			if err != nil {
				t.Fatalf("Ready() = %v, want nil", err)
			}
			return
		}
		var d interface{ Degraded() bool }
		degraded := errors.As(err, &d) && d.Degraded()
		if err == nil || err.Error() != wantMsg || degraded != wantDegraded {
			t.Fatalf("Ready() = %v (degraded %v), want %q (degraded %v)", err, degraded, wantMsg, wantDegraded)
		}
	}

	is.FailJWKS(http.StatusInternalServerError)
	check("keys not loaded yet", false) // and starts the first fetch
	waitFetches(t, rm, 1)
	check("keys never loaded: fetching jwks: status 500", false)
	is.FailJWKS(0)
	check("keys never loaded: fetching jwks: status 500", false) // retried at most once per min_refresh_interval
	if rm.Fetches() != 1 {
		t.Fatalf("retried within min_refresh_interval: %d fetches", rm.Fetches())
	}
	clk.Advance(30 * time.Second)
	check("keys never loaded: fetching jwks: status 500", false) // starts the retry
	waitFetches(t, rm, 2)
	check("", false)
	loadedAt := clk.Now()

	// A later refresh fails: the old keys are still served, degraded.
	is.FailJWKS(http.StatusServiceUnavailable)
	clk.Advance(5 * time.Minute)
	kid := is.KidFor("RS256")
	if _, err := rm.Candidates(ctx, kid, "RS256"); err != nil {
		t.Fatal(err)
	}
	waitFetches(t, rm, 3)
	want := "refresh failed, serving the 3 keys fetched at " + loadedAt.Format(time.RFC3339) + ": fetching jwks: status 503"
	check(want, true)
	if _, err := rm.Candidates(ctx, kid, "RS256"); err != nil {
		t.Fatalf("keys lost after a failed refresh: %v", err)
	}
	is.FailJWKS(0)
	clk.Advance(30 * time.Second)
	check(want, true) // starts the retry
	waitFetches(t, rm, 4)
	check("", false)
}

// Ready's errors never carry the JWKS URL, whose path or query may hold a
// secret: the HTTP client's errors name it.
func TestReadyDoesNotNameTheURL(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	clk := testenv.NewClock(time.Now())
	// No ca_file: the certificate is not trusted, a transport error.
	var logs testenv.SyncBuffer
	rm, err := NewRegistry(slog.New(slog.NewJSONHandler(&logs, nil)), clk.Now).Remote(Options{URL: srv.URL + "/jwks?api_key=s3cret", RefreshInterval: time.Minute, MinRefreshInterval: time.Second, FetchTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = rm.Ready()
	waitFetches(t, rm, 1)
	err = rm.Ready()
	if err == nil || !strings.HasPrefix(err.Error(), "keys never loaded: fetching jwks: tls: ") ||
		strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), srv.Listener.Addr().String()) {
		t.Fatalf("Ready() = %v", err)
	}
	if out := logs.String(); !strings.Contains(out, `"jwks_url":"`+srv.URL+`/jwks?[REDACTED]"`) || strings.Contains(out, "s3cret") {
		t.Fatalf("the log names the URL with its query, or not at all: %s", out)
	}
}

// Dropped tells a refresh that withdrew a key (or replaced one under the
// same kid) from one that only added keys.
func TestDropped(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = is.Close() })
	now := time.Now()
	snap := func() *Set {
		t.Helper()
		s, _, err := ParseJWKS(is.JWKS(), now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := snap()
	oldKid := is.Current()
	if _, err := is.Rotate(); err != nil {
		t.Fatal(err)
	}
	added := snap()
	is.Retire(oldKid)
	retired := snap()
	tests := []struct {
		name       string
		prev, next *Set
		want       bool
	}{
		{"unchanged", first, snap0(t, first), false},
		{"a key added", first, added, false},
		{"a key withdrawn", added, retired, true},
		{"everything replaced", first, retired, true},
	}
	for _, tc := range tests {
		if got := tc.prev.Dropped(tc.next); got != tc.want {
			t.Errorf("%s: Dropped = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The same kid with another public key counts as withdrawn.
	swapped := &Set{all: append([]Key(nil), first.all...)}
	for _, k := range retired.all {
		if k.KID != swapped.all[0].KID {
			swapped.all[0].Public = k.Public
			break
		}
	}
	if !first.Dropped(swapped) {
		t.Error("a kid whose key changed was not reported")
	}
}

// snap0 is a copy of s with fresh slices, so "unchanged" compares values.
func snap0(t *testing.T, s *Set) *Set {
	t.Helper()
	return &Set{all: append([]Key(nil), s.all...)}
}

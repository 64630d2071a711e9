// Package jwks owns issuers' verification keys: parsing JWK Sets and PEM
// keys (keeping only asymmetric signature keys of adequate strength), and
// fetching remote JWKS over https into a cache that outlives configuration
// reloads. A remote set is refreshed in the background once it is older
// than its refresh interval, and at once when a token names an unknown kid
// (rate-limited), so issuer key rotation causes no outage and a flood of
// made-up kids cannot flood the issuer. Requests never wait for a fetch,
// except that unknown-kid refresh (or the very first load). Ready tells
// /readyz whether a set ever loaded and whether its last refresh failed.
package jwks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// maxBody bounds a JWKS document.
const maxBody = 1 << 20

// Options describe one remote JWKS.
type Options struct {
	// URL is the https URL of the JWKS.
	URL string
	// CAFile is an optional PEM bundle trusted instead of the system roots.
	CAFile string
	// RefreshInterval is the age after which a request triggers a
	// background refresh.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two fetch attempts.
	MinRefreshInterval time.Duration
	// FetchTimeout bounds one fetch.
	FetchTimeout time.Duration
}

// Registry hands out one Remote per distinct JWKS source and keeps them
// across configuration reloads, so a reload neither refetches keys nor
// loses them. It is safe for concurrent use.
type Registry struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	remotes map[string]*Remote
}

// NewRegistry returns an empty registry. now is its clock (time.Now if nil).
func NewRegistry(log *slog.Logger, now func() time.Time) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Registry{log: log, now: now, remotes: map[string]*Remote{}}
}

// Remote returns the cached Remote for o, creating it (without fetching)
// if needed. The CA file is read now, and its content is part of the
// identity, so a reload with a changed CA builds a new client.
func (r *Registry) Remote(o Options) (*Remote, error) {
	var caPEM []byte
	if o.CAFile != "" {
		var err error
		if caPEM, err = os.ReadFile(o.CAFile); err != nil {
			return nil, fmt.Errorf("reading ca_file: %w", err)
		}
	}
	id := fmt.Sprintf("%s|%x|%d|%d|%d", o.URL, sha256.Sum256(caPEM), o.RefreshInterval, o.MinRefreshInterval, o.FetchTimeout)
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm, ok := r.remotes[id]; ok {
		return rm, nil
	}
	tc := tlsconf.NewClientConfig()
	if caPEM != nil {
		pool, err := tlsconf.PoolFromPEM(caPEM)
		if err != nil {
			return nil, fmt.Errorf("ca_file %s: %w", o.CAFile, err)
		}
		tc.RootCAs = pool
	}
	client := &http.Client{
		Timeout: o.FetchTimeout,
		Transport: &http.Transport{
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   o.FetchTimeout,
			ResponseHeaderTimeout: o.FetchTimeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
			Proxy:                 http.ProxyFromEnvironment,
		},
		// A redirect could lead the fetch off the configured https origin.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	rm := &Remote{opts: o, client: client, log: r.log.With("jwks_url", loggableURL(o.URL)), now: r.now}
	r.remotes[id] = rm
	return rm, nil
}

// User is a part that fetches keys through Remotes of a Registry (a jwt
// authenticator); Retain keeps what the current users name.
type User interface {
	Remotes() []*Remote
}

// Retain drops every Remote that keep does not list (the issuers a reload
// removed or reconfigured) and releases its idle connections. Requests of
// a retired runtime that still hold a dropped Remote keep using it.
func (r *Registry) Retain(keep []*Remote) {
	live := make(map[*Remote]bool, len(keep))
	for _, rm := range keep {
		live[rm] = true
	}
	r.mu.Lock()
	var dropped []*Remote
	for id, rm := range r.remotes {
		if !live[rm] {
			delete(r.remotes, id)
			dropped = append(dropped, rm)
		}
	}
	r.mu.Unlock()
	for _, rm := range dropped {
		rm.client.CloseIdleConnections()
	}
}

// Len is the number of Remotes held.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.remotes)
}

// Remote is one cached remote JWKS.
type Remote struct {
	opts   Options
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	cur atomic.Pointer[Set]

	mu          sync.Mutex
	inflight    chan struct{}
	lastAttempt time.Time
	lastForced  time.Time
	lastErr     error
	fetches     atomic.Int64
	removals    atomic.Uint64
}

// Removals counts refreshes that dropped a key the set had. Verifiers that
// cache tokens key their cache on it, so a token signed with a key the
// issuer withdrew is never accepted from a cache afterwards.
func (rm *Remote) Removals() uint64 { return rm.removals.Load() }

// Candidates returns the keys that may verify a token with kid and alg.
// A set older than the refresh interval is refreshed in the background; an
// unknown kid triggers a refresh the request waits for (bounded by ctx and
// the fetch timeout), at most once per MinRefreshInterval.
func (rm *Remote) Candidates(ctx context.Context, kid, alg string) ([]Key, error) {
	s := rm.cur.Load()
	if s != nil {
		keys, err := s.Candidates(kid, alg)
		if !errors.Is(err, ErrUnknownKID) {
			if rm.now().Sub(s.FetchedAt) >= rm.opts.RefreshInterval {
				rm.start(false)
			}
			return keys, err
		}
	}
	done := rm.start(true)
	if done == nil { // rate-limited
		if s == nil {
			return nil, rm.unavailable()
		}
		return nil, ErrUnknownKID
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for the JWKS: %w", ErrUnavailable, ctx.Err())
	}
	if s = rm.cur.Load(); s == nil {
		return nil, rm.unavailable()
	}
	return s.Candidates(kid, alg)
}

func (rm *Remote) unavailable() error {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.lastErr != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, rm.lastErr)
	}
	return ErrUnavailable
}

// Prefetch starts loading the set if it was never loaded, without waiting.
func (rm *Remote) Prefetch() {
	if rm.cur.Load() == nil {
		rm.start(false)
	}
}

// Refresh fetches now (unless a fetch is already running, which it joins)
// and waits, ignoring the rate limit. For tests and admin use.
func (rm *Remote) Refresh(ctx context.Context) error {
	rm.mu.Lock()
	rm.lastAttempt, rm.lastForced = time.Time{}, time.Time{}
	rm.mu.Unlock()
	done := rm.start(true)
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.lastErr
}

// Ready is the set's /readyz check. It is nil while the set is loaded and
// its last fetch succeeded. An error means the set never loaded since the
// process started (every token on the issuer fails: the instance is not
// ready); one whose Degraded method returns true means a refresh failed
// and the previous keys are still used. Neither names the URL. A set that
// is not loaded or whose last fetch failed is fetched again in the
// background (at most once per MinRefreshInterval), so an instance kept
// out of a load balancer, which sees no token to trigger a fetch, still
// recovers.
func (rm *Remote) Ready() error {
	s := rm.cur.Load()
	rm.mu.Lock()
	lastErr := rm.lastErr
	rm.mu.Unlock()
	if s == nil || lastErr != nil {
		rm.start(false)
	}
	switch {
	case s == nil && lastErr == nil:
		return errors.New("keys not loaded yet")
	case s == nil:
		return fmt.Errorf("keys never loaded: %s", lastErr.Error())
	case lastErr != nil:
		return &DegradedError{fmt.Sprintf("refresh failed, serving the %d keys fetched at %s: %s",
			s.Len(), s.FetchedAt.UTC().Format(time.RFC3339), lastErr.Error())}
	}
	return nil
}

// DegradedError is a refresh failure while the previous keys are still
// served: reported on /readyz without failing it.
type DegradedError struct{ msg string }

// Error implements error.
func (e *DegradedError) Error() string { return e.msg }

// Degraded marks the error as a warning for /readyz.
func (e *DegradedError) Degraded() bool { return true }

// Fetches counts fetch attempts.
func (rm *Remote) Fetches() int64 { return rm.fetches.Load() }

// start begins a fetch unless one is running (it returns that one's done
// channel) or it is rate-limited (nil). Forced fetches (an unknown kid, the
// first load) are limited to one per MinRefreshInterval on their own, so a
// routine refresh just before does not delay picking up a rotated key;
// background refreshes wait MinRefreshInterval after any attempt, so a
// failing issuer is not retried on every request.
func (rm *Remote) start(forced bool) <-chan struct{} {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.inflight != nil {
		return rm.inflight
	}
	now := rm.now()
	last := rm.lastAttempt
	if forced {
		last = rm.lastForced
	}
	if !last.IsZero() && now.Sub(last) < rm.opts.MinRefreshInterval {
		return nil
	}
	rm.lastAttempt = now
	if forced {
		rm.lastForced = now
	}
	done := make(chan struct{})
	rm.inflight = done
	go func() {
		// Not tied to any request: one caller giving up must not cancel a
		// fetch others wait for.
		ctx, cancel := context.WithTimeout(context.Background(), rm.opts.FetchTimeout)
		err := rm.fetch(ctx)
		cancel()
		rm.mu.Lock()
		rm.lastErr = err
		rm.inflight = nil
		rm.mu.Unlock()
		close(done)
	}()
	return done
}

func (rm *Remote) fetch(ctx context.Context) error {
	rm.fetches.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rm.opts.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := rm.client.Do(req)
	if err != nil {
		err = authn.OutboundError("fetching jwks", err)
		rm.log.Warn("jwks fetch failed; keeping the current keys", "error", err.Error())
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rm.log.Warn("jwks fetch failed; keeping the current keys", "status", resp.StatusCode)
		return fmt.Errorf("fetching jwks: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("reading jwks: %w", err)
	}
	if len(data) > maxBody {
		rm.log.Warn("jwks document too large; keeping the current keys", "limit", maxBody)
		return fmt.Errorf("jwks larger than %d bytes", maxBody)
	}
	s, skipped, err := ParseJWKS(data, rm.now())
	for _, why := range skipped {
		rm.log.Warn("jwks key skipped", "reason", why)
	}
	if err != nil {
		rm.log.Warn("jwks unusable; keeping the current keys", "error", err.Error())
		return err
	}
	prev := rm.cur.Swap(s)
	if prev != nil && prev.Dropped(s) {
		// After the swap: a verifier that sees the new count also sees
		// the new set, so nothing is cached under it with a dropped key.
		rm.removals.Add(1)
		rm.log.Info("jwks dropped a key; tokens it signed are verified again")
	}
	rm.log.Info("jwks loaded", "keys", s.Len())
	return nil
}

// loggableURL is u without its query, which may carry a secret (some
// identity providers put an access key there).
func loggableURL(u string) string {
	if base, _, found := strings.Cut(u, "?"); found {
		return base + "?[REDACTED]"
	}
	return u
}

package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/httpsig/digest"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
)

// integrityBenchConfig is one API-key route per variant: the same
// authentication everywhere, so the differences are the integrity stages.
const integrityBenchConfig = `
listeners:
  - name: public
    address: "127.0.0.1:0"
    insecure: true
upstreams:
  - name: up
    targets: ["http://127.0.0.1:1"]
authenticators:
  - name: keys
    api_key: {}
keys:
  store: {path: unused.db}
routes:
  - name: unsigned
    path: /plain
    methods: [POST]
    upstream: up
    auth: {authenticators: [keys]}
  - name: idempotent
    path: /idempotent
    methods: [POST]
    upstream: up
    auth: {authenticators: [keys]}
    idempotency: {required: true}
  - name: signed
    path: /signed
    methods: [POST]
    upstream: up
    auth: {authenticators: [keys]}
    signatures:
      verify: {}
`

// cpuNow is the process's user+system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIntegrity measures, in one run, the CPU per request of the
// payment-integrity stages through the whole chain: an API-key route
// without them (the baseline), Idempotency-Key on the memory and the Redis
// store (a new key: Get, Reserve, Complete; and a replay), and signature
// verification with Ed25519, ECDSA P-256 and RSA-PSS (nonce recorded in
// memory). Besides ns/op it reports cpu-ns/op, the process's user+system
// CPU per request: with Redis, ns/op also counts the wait for Redis, which
// costs no CPU here (Redis's own CPU is not counted). Signing the requests
// is done with the timer stopped.
func BenchmarkIntegrity(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	svc := keystest.Service(b, keystest.SQLite(b), keystest.NewSecrets(b), keys.Options{})
	consumer := keystest.Consumer(b, svc, "bench")
	apiKey := keystest.Key(b, svc, consumer.ID).Secret
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	signers := map[string]crypto.Signer{"ed25519": ed, "es256": ec, "ps512": rs}
	for kid, s := range signers {
		jwk, _ := jose.JSONWebKey{Key: s.Public(), KeyID: kid}.MarshalJSON()
		if _, err := svc.AddSigningKey(context.Background(), keys.SigningKeySpec{ConsumerID: consumer.ID, PublicKey: jwk}); err != nil {
			b.Fatal(err)
		}
	}
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	rc := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	b.Cleanup(func() { rc.Close() })
	onRedis, err := sharedstate.NewRedis(rc, "bench:ss:", sharedstate.Limits{MaxMetaBytes: 256, MaxValueBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	inMemory, err := sharedstate.NewMemory(10_000_000, sharedstate.MemoryOptions{Limits: sharedstate.Limits{MaxMetaBytes: 256, MaxValueBytes: 1 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	handler := func(b *testing.B, shared sharedstate.Store) http.Handler {
		cfg, err := config.Parse([]byte(integrityBenchConfig), func(string) (string, bool) { return "", false })
		if err != nil {
			b.Fatal(err)
		}
		rt, err := Build(cfg, Deps{Log: log, Keys: svc, SigningKeys: svc, Shared: shared})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(rt.Stop)
		for _, u := range rt.Upstreams() {
			u.UseTransport(cannedUpstream{})
		}
		return New(rt, nil, observe.NewMetrics(), log).Handler(cfg.Listeners[0])
	}
	body := []byte(`{"from":"acc_1001","to":"acc_1002","amount":"250.00","currency":"EUR"}`)
	dig, _ := digest.Compute(body, digest.SHA256)
	request := func(path string) *http.Request {
		req := httptest.NewRequest("POST", "http://127.0.0.1"+path, bytes.NewReader(body))
		req.Header.Set("X-API-Key", apiKey)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	// batch makes n requests for the timed loop, with the timer stopped.
	type variant struct {
		name   string
		shared sharedstate.Store
		batch  func(b *testing.B, n, from int) []*http.Request
	}
	plain := func(b *testing.B, n, _ int) []*http.Request {
		out := make([]*http.Request, n)
		for i := range out {
			out[i] = request("/plain")
		}
		return out
	}
	newKeys := func(prefix string) func(b *testing.B, n, from int) []*http.Request {
		return func(b *testing.B, n, from int) []*http.Request {
			out := make([]*http.Request, n)
			for i := range out {
				out[i] = request("/idempotent")
				out[i].Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), from+i))
			}
			return out
		}
	}
	replay := func(b *testing.B, n, _ int) []*http.Request {
		out := make([]*http.Request, n)
		for i := range out {
			out[i] = request("/idempotent")
			out[i].Header.Set("Idempotency-Key", "replayed-key")
		}
		return out
	}
	signed := func(kid string) func(b *testing.B, n, _ int) []*http.Request {
		sk, err := httpsig.NewSigningKey(kid, signers[kid])
		if err != nil {
			b.Fatal(err)
		}
		sg, err := httpsig.NewSigner(httpsig.SignerConfig{Key: sk, Nonce: true,
			Components: []string{"@method", "@target-uri", "content-digest", "content-type"}})
		if err != nil {
			b.Fatal(err)
		}
		return func(b *testing.B, n, _ int) []*http.Request {
			out := make([]*http.Request, n)
			for i := range out {
				req := request("/signed")
				req.Header.Set("Content-Digest", dig)
				s, err := sg.Sign(httpsig.IncomingRequest(req, "http", req.Host))
				if err != nil {
					b.Fatal(err)
				}
				_ = s.AddTo(req.Header)
				out[i] = req
			}
			return out
		}
	}
	for _, v := range []variant{
		{"unsigned", inMemory, plain},
		{"idempotency-memory-new-key", inMemory, newKeys("m")},
		{"idempotency-memory-replay", inMemory, replay},
		{"idempotency-redis-new-key", onRedis, newKeys("r")},
		{"idempotency-redis-replay", onRedis, replay},
		{"signature-ed25519", inMemory, signed("ed25519")},
		{"signature-es256", inMemory, signed("es256")},
		{"signature-ps512", inMemory, signed("ps512")},
	} {
		b.Run(v.name, func(b *testing.B) {
			h := handler(b, v.shared)
			serve := func(req *http.Request) int {
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				return w.status
			}
			// Warm the caches (API key, signing key) and, for replays, store
			// the answer.
			for _, req := range v.batch(b, 2, -2) {
				if st := serve(req); st != http.StatusOK {
					b.Fatalf("%s: status %d before timing", v.name, st)
				}
			}
			const chunk = 512
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			for done := 0; done < b.N; {
				b.StopTimer()
				reqs := v.batch(b, min(chunk, b.N-done), done)
				b.StartTimer()
				start := cpuNow()
				for _, req := range reqs {
					if st := serve(req); st != http.StatusOK {
						b.Fatalf("%s: status %d", v.name, st)
					}
				}
				cpu += cpuNow() - start
				done += len(reqs)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}

}

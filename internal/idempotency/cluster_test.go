package idempotency_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
)

// redisShared is what one gateway instance builds: its own connection to
// the shared Redis, keys under the same prefix.
func redisShared(t *testing.T, addr string) *sharedstate.Redis {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	st, err := sharedstate.NewRedis(c, "portcullis:ss:", sharedstate.Limits{MaxMetaBytes: 256, MaxValueBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// cluster is two gateway instances on one Redis and one key store, in
// front of one counting upstream.
type cluster struct {
	env    *gatewaytest.Env
	yaml   string
	redis  *testenv.Redis
	svc    *keys.Service
	up     *countingLedger
	apiKey string
	gws    []*gatewaytest.Gateway
}

// countingLedger books a payment per request, after a short random delay
// (so duplicates overlap in flight), and counts them per key.
type countingLedger struct {
	mu    sync.Mutex
	count map[string]int
	seq   int
}

func (l *countingLedger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
	l.mu.Lock()
	l.count[r.Header.Get("Idempotency-Key")]++
	l.seq++
	id := l.seq
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "pay_" + strconv.Itoa(id)})
}

func (l *countingLedger) booked(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[key]
}

const clusterRoutes = `
authenticators:
  - name: keys
    api_key: {}
upstreams:
  - name: ledger
    targets: ["%s"]
routes:
  - name: payments
    path: /v1/payments
    methods: [POST]
    upstream: ledger
    auth: {authenticators: [keys]}
    idempotency: {required: true}
keys:
  store: {path: unused.db}
`

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{env: gatewaytest.NewEnv(t), redis: testenv.StartRedis(t, testenv.RedisOptions{}),
		up: &countingLedger{count: map[string]int{}}}
	up := httptest.NewServer(c.up)
	t.Cleanup(up.Close)
	c.svc = keystest.Service(t, keystest.SQLite(t), keystest.NewSecrets(t), keys.Options{})
	c.apiKey = keystest.Key(t, c.svc, keystest.Consumer(t, c.svc, "acme").ID).Secret
	c.yaml = strings.Replace(c.env.Base("none"), "upstreams:\n  - name: echo\n    targets: [\""+c.env.Upstream+"\"]\n", "", 1) +
		fmt.Sprintf(clusterRoutes, up.URL)
	c.gws = []*gatewaytest.Gateway{c.start(t), c.start(t)}
	return c
}

// start runs one more gateway instance, as a new process would: its own
// Redis connection.
func (c *cluster) start(t *testing.T) *gatewaytest.Gateway {
	t.Helper()
	return c.env.Start(t, c.yaml, gateway.Deps{Log: slog.New(slog.DiscardHandler), Keys: c.svc, Shared: redisShared(t, c.redis.Addr())})
}

func (c *cluster) pay(t *testing.T, client *http.Client, gw *gatewaytest.Gateway, key, body string) (gatewaytest.Response, error) {
	req, err := http.NewRequest(http.MethodPost, gw.URL+"/v1/payments", strings.NewReader(body))
	if err != nil {
		return gatewaytest.Response{}, err
	}
	req.Header.Set("X-API-Key", c.apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return gatewaytest.Response{}, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, rerr := resp.Body.Read(buf)
		b.WriteString(string(buf[:n]))
		if rerr != nil {
			break
		}
	}
	return gatewaytest.Response{Status: resp.StatusCode, Header: resp.Header, Body: []byte(b.String())}, nil
}

// trials is how many randomised trials TestDuplicatesAcrossInstances runs:
// PORTCULLIS_IDEMPOTENCY_TRIALS, else defaultTrials (1000; 250 under the
// race detector).
func trials(t *testing.T) int {
	if v := os.Getenv("PORTCULLIS_IDEMPOTENCY_TRIALS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PORTCULLIS_IDEMPOTENCY_TRIALS=%q", v)
		}
		return n
	}
	return defaultTrials
}

// Concurrent duplicates of one payment, sent to two gateway instances that
// share one Redis, reach the upstream exactly once, in every one of the
// randomised trials: 2 to 6 copies, each to a random instance over HTTP/1.1
// or HTTP/2, started together with random jitter. Every copy gets the
// original answer, its replay, or 409 while the original is in flight.
func TestDuplicatesAcrossInstances(t *testing.T) {
	c := newCluster(t)
	cls := clients(c.env)
	protos := []string{"HTTP/1.1", "HTTP/2.0"}
	n := trials(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("%d trials, seed %d", n, seed)
	type result struct {
		r   gatewaytest.Response
		err error
	}
	var originals, replays, inFlight int
	for trial := range n {
		key := fmt.Sprintf("trial-%d-%d", seed, trial)
		body := fmt.Sprintf(`{"amount":"%d.00"}`, trial)
		copies := 2 + rng.IntN(5)
		results := make([]result, copies)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range copies {
			gw := c.gws[rng.IntN(len(c.gws))]
			client := cls[protos[rng.IntN(2)]]
			jitter := time.Duration(rng.IntN(800)) * time.Microsecond
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				time.Sleep(jitter)
				r, err := c.pay(t, client, gw, key, body)
				results[i] = result{r, err}
			}()
		}
		close(start)
		wg.Wait()
		if got := c.up.booked(key); got != 1 {
			t.Fatalf("trial %d (%d copies): the upstream booked the payment %d times", trial, copies, got)
		}
		var original string
		for i, res := range results {
			if res.err != nil {
				t.Fatalf("trial %d copy %d: %v", trial, i, res.err)
			}
			switch r := res.r; {
			case r.Status == 201 && r.Header.Get(idempotency.ReplayHeader) == "":
				originals++
				original = string(r.Body)
			case r.Status == 201:
				replays++
			case r.Status == 409 && strings.Contains(string(r.Body), "idempotency-key-in-flight"):
				inFlight++
			default:
				t.Fatalf("trial %d copy %d: %d %s", trial, i, r.Status, r.Body)
			}
		}
		for i, res := range results {
			if res.r.Status == 201 && string(res.r.Body) != original {
				t.Fatalf("trial %d copy %d: replayed %s, the original answer was %s", trial, i, res.r.Body, original)
			}
		}
	}
	if originals != n {
		t.Fatalf("%d original answers in %d trials", originals, n)
	}
	t.Logf("%d originals, %d replays, %d answered 409 in flight", originals, replays, inFlight)
}

// On Redis, a completed key outlives the instance that completed it: a new
// instance replays it. With Redis unreachable, a route that requires
// idempotency fails closed.
func TestRedisRestartAndOutage(t *testing.T) {
	c := newCluster(t)
	client := clients(c.env)["HTTP/2.0"]
	first, err := c.pay(t, client, c.gws[0], "restart-1", `{"amount":"1.00"}`)
	if err != nil || first.Status != 201 {
		t.Fatalf("first: %v %d %s", err, first.Status, first.Body)
	}
	c.gws[0].Stop()
	c.gws[1].Stop()
	fresh := c.start(t)
	again, err := c.pay(t, client, fresh, "restart-1", `{"amount":"1.00"}`)
	if err != nil || again.Status != 201 || again.Header.Get(idempotency.ReplayHeader) != "true" || string(again.Body) != string(first.Body) {
		t.Fatalf("after a gateway restart: %v %d %s", err, again.Status, again.Body)
	}
	c.redis.Stop()
	down, err := c.pay(t, client, fresh, "outage-1", `{"amount":"2.00"}`)
	if err != nil || down.Status != 503 || down.Header.Get("Retry-After") != "1" ||
		!strings.Contains(string(down.Body), "idempotency-unavailable") {
		t.Fatalf("with Redis down: %v %d %v %s", err, down.Status, down.Header, down.Body)
	}
	if n := c.up.booked("outage-1"); n != 0 {
		t.Fatalf("forwarded %d times with the store down", n)
	}
}

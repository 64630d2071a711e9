// Command ratelimit measures the rate limiter (it is a benchmark, not a
// test): how many requests N gateway instances sharing one Redis admit
// against the configured limit, the per-check cost of the memory and Redis
// stores, and the memory the in-process store holds after 1,000,000
// distinct keys.
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/ratelimit [-redis host:port] [-duration 5s]
//
// Without -redis it starts redis-server (from PATH) on a free loopback port.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/ratelimit"
)

func main() {
	redisAddr := flag.String("redis", "", "Redis to use (default: start redis-server on a free port)")
	duration := flag.Duration("duration", 5*time.Second, "length of each accuracy run")
	clients := flag.Int("clients", 8, "concurrent clients per instance in accuracy runs")
	skipMemory := flag.Bool("skip-memory", false, "skip the 1,000,000-key memory measurement")
	flag.Parse()
	if *redisAddr == "" {
		addr, stop, err := startRedis()
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting redis-server:", err)
			os.Exit(1)
		}
		defer stop()
		*redisAddr = addr
	}
	fmt.Printf("# portcullis rate-limit benchmark — %s, GOMAXPROCS=%d, %s\n\n", runtime.Version(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))

	fmt.Println("## Accuracy: N gateway instances (HTTP, one Redis) vs one limit")
	fmt.Printf("policy: 100 per 1s, burst 20, keyed on client IP; %d clients per instance; %s per run\n\n", *clients, *duration)
	fmt.Println("| store | instances | requests | admitted | allowed max (burst + rate × elapsed) | admitted / max |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, n := range []int{1, 2, 4} {
		if err := accuracy("redis", *redisAddr, n, *clients, *duration); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	for _, n := range []int{2, 4} {
		if err := accuracy("memory", "", n, *clients, *duration); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}

	fmt.Println("\n## Per-check cost (in process, one rate check per call)")
	fmt.Println("| store | case | ns/op | allocs/op |")
	fmt.Println("|---|---|---|---|")
	storeCost(*redisAddr)

	if !*skipMemory {
		fmt.Println("\n## Memory held by the in-process store after 1,000,000 distinct keys")
		fmt.Println("| max_keys | keys held | evictions | heap growth (after GC) | bytes per held key |")
		fmt.Println("|---|---|---|---|---|")
		for _, maxKeys := range []int{1_000_000, 100_000} {
			memoryHeld(maxKeys)
		}
	}
}

// accuracy runs n gateways (each with its own stores, like n processes)
// in front of one upstream and counts what they admit for one client IP.
func accuracy(store, redisAddr string, n, clients int, d time.Duration) error {
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }), ReadHeaderTimeout: 5 * time.Second}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = up.Serve(upLn) }()
	defer up.Close()
	prefix := fmt.Sprintf("bench-%d-%d:", n, time.Now().UnixNano())
	storeYAML := ""
	if store == "redis" {
		storeYAML = fmt.Sprintf("  store:\n    type: redis\n    redis: {address: %q, key_prefix: %q}\n", redisAddr, prefix)
	}
	doc := fmt.Sprintf(`
listeners: [{address: "127.0.0.1:0", insecure: true}]
upstreams: [{name: up, targets: ["http://%s"]}]
routes: [{name: r, prefix: /, upstream: up, auth: none, rate_limits: [p]}]
logging: {access: {enabled: false}}
rate_limits:
%s  instances: %d
  brute_force: {enabled: false}
  policies:
    - name: p
      key: [client_ip]
      rate: {limit: 100, period: 1s, burst: 20}
`, upLn.Addr(), storeYAML, n)
	var urls []string
	for range n {
		cfg, err := config.Parse([]byte(doc), os.LookupEnv)
		if err != nil {
			return err
		}
		log := slog.New(slog.DiscardHandler)
		stores, err := ratelimit.NewStores(cfg.RateLimits.Store, ratelimit.Options{Log: log})
		if err != nil {
			return err
		}
		defer stores.Close()
		rt, err := gateway.Build(cfg, gateway.Deps{Log: log, RateLimits: stores})
		if err != nil {
			return err
		}
		gw := gateway.New(rt, nil, nil, log)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: gw.Handler(cfg.Listeners[0]), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		urls = append(urls, "http://"+ln.Addr().String()+"/x")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	var total, admitted, other atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range n * clients {
		wg.Add(1)
		go func(url string) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := client.Get(url)
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				total.Add(1)
				switch resp.StatusCode {
				case 200:
					admitted.Add(1)
				case 429:
				default:
					other.Add(1)
				}
			}
		}(urls[i%n])
	}
	wg.Wait()
	elapsed := time.Since(start)
	allowed := 20 + int64(elapsed.Seconds()*100)
	note := ""
	if store == "memory" {
		note = " (no shared store: each instance limits alone)"
	}
	if other.Load() > 0 {
		note += fmt.Sprintf(" (%d errors)", other.Load())
	}
	fmt.Printf("| %s | %d | %d | %d | %d | %.3f%s |\n", store, n, total.Load(), admitted.Load(), allowed, float64(admitted.Load())/float64(allowed), note)
	return nil
}

// storeCost benchmarks one rate check against each store.
func storeCost(redisAddr string) {
	mem := ratelimit.NewMemoryStore(1_000_000, nil)
	report := func(store, name string, r testing.BenchmarkResult) {
		fmt.Printf("| %s | %s | %d | %d |\n", store, name, r.NsPerOp(), r.AllocsPerOp())
	}
	ctx := context.Background()
	check := func(key string) []ratelimit.Check {
		return []ratelimit.Check{{Kind: ratelimit.KindRate, Key: key, Cost: 1, Interval: time.Millisecond, Burst: 1 << 30}}
	}
	report("memory", "one key, 1 goroutine", testing.Benchmark(func(b *testing.B) {
		c := check("hot")
		b.ReportAllocs()
		for b.Loop() {
			_, _ = mem.Check(ctx, c)
		}
	}))
	report("memory", "distinct keys, parallel", testing.Benchmark(func(b *testing.B) {
		var seq atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = mem.Check(ctx, check("k"+strconv.FormatInt(seq.Add(1)%100_000, 10)))
			}
		})
	}))
	cfg := config.WithDefaults(config.RateLimitStore{Type: "redis", MaxKeys: 1000, Redis: &config.RedisConfig{
		Address: redisAddr, KeyPrefix: "bench-cost:", DialTimeout: config.Duration(time.Second),
		Timeout: config.Duration(time.Second), RetryInterval: config.Duration(time.Second),
	}})
	stores, err := ratelimit.NewStores(cfg, ratelimit.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer stores.Close()
	rs := stores.Redis()
	report("redis", "PING only (baseline round trip, not a check)", testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := rs.Ping(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}))
	report("redis", "one key, 1 goroutine (round-trip latency)", testing.Benchmark(func(b *testing.B) {
		c := check("hot")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rs.Check(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	}))
	raw := redis.NewClient(&redis.Options{Addr: redisAddr, Protocol: 2, DisableIdentity: true})
	defer raw.Close()
	_ = raw.ConfigResetStat(ctx).Err()
	defer func() {
		// What Redis itself spends per script call, without the network.
		stats, err := raw.Info(ctx, "commandstats").Result()
		if err != nil {
			return
		}
		for _, line := range strings.Split(stats, "\n") {
			if strings.HasPrefix(line, "cmdstat_evalsha:") {
				fmt.Printf("| redis | server time per check script (INFO commandstats) | %s |  |\n", strings.TrimSpace(line))
			}
		}
	}()
	report("redis", "distinct keys, parallel (throughput)", testing.Benchmark(func(b *testing.B) {
		var seq atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := rs.Check(ctx, check("k"+strconv.FormatInt(seq.Add(1)%100_000, 10))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}))
}

// memoryHeld inserts 1,000,000 distinct keys (as a flood of spoofed client
// IPs would) and reports the heap the store holds afterwards.
func memoryHeld(maxKeys int) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st := ratelimit.NewMemoryStore(maxKeys, nil)
	ctx := context.Background()
	for i := range 1_000_000 {
		key := "rl:per-ip:r:" + strconv.Itoa(i)
		_, _ = st.Check(ctx, []ratelimit.Check{{Kind: ratelimit.KindRate, Key: key, Cost: 1, Interval: time.Minute, Burst: 10}})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	fmt.Printf("| %d | %d | %d | %.1f MiB | %.0f |\n", maxKeys, st.Len(), st.Evictions(), float64(held)/(1<<20), float64(held)/float64(st.Len()))
	runtime.KeepAlive(st)
}

func startRedis() (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "portcullis-bench-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = os.RemoveAll(dir) }
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("redis-server did not start on %s", addr)
}

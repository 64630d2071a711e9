// Command loadgen is the benchmark's open-loop load generator and
// connection holder, for what wrk cannot do:
//
//	loadgen rate -url U -rate R -duration D [-conns N] [-header 'K: V']
//	    sends R requests/s on a fixed schedule (latency is measured from the
//	    scheduled send time, so a stall is not hidden: no coordinated
//	    omission) and prints p50/p90/p99/max and errors as key=value.
//	loadgen idle -url U -conns N -hold D
//	    opens N keep-alive connections, sends one request on each, keeps
//	    them idle for D and prints when they are all up ("ready n=N"), so
//	    the caller can read the server's memory meanwhile.
//
// Every URL must be on the loopback interface.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: loadgen rate|idle [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	target := fs.String("url", "", "loopback URL")
	rate := fs.Int("rate", 1000, "requests per second (rate mode)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send (rate mode)")
	conns := fs.Int("conns", 64, "connections (rate: pool size; idle: connections to hold)")
	hold := fs.Duration("hold", 10*time.Second, "how long to hold idle connections (idle mode)")
	var headers multi
	fs.Var(&headers, "header", "extra request header 'Name: value' (repeatable)")
	_ = fs.Parse(os.Args[2:])
	u, err := url.Parse(*target)
	if err != nil || !loopback(u.Hostname()) {
		log.Fatalf("-url must be a loopback URL, got %q", *target)
	}
	switch os.Args[1] {
	case "rate":
		runRate(*target, *rate, *duration, *conns, headers)
	case "idle":
		runIdle(u, *conns, *hold, headers)
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ", ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func loopback(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

func newRequest(ctx context.Context, target string, headers []string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return req
}

func runRate(target string, rate int, duration time.Duration, conns int, headers []string) {
	tr := &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // loopback benchmark only
	}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	total := int(float64(rate) * duration.Seconds())
	lat := make([]time.Duration, total)
	var errs atomic.Int64
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, conns*4) // bounds outstanding requests
	for i := 0; i < total; i++ {
		scheduled := start.Add(time.Duration(i) * interval)
		if d := time.Until(scheduled); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int, scheduled time.Time) {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := client.Do(newRequest(context.Background(), target, headers))
			if err != nil {
				errs.Add(1)
				lat[i] = -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs.Add(1)
			}
			lat[i] = time.Since(scheduled)
		}(i, scheduled)
	}
	wg.Wait()
	elapsed := time.Since(start)
	ok := lat[:0]
	for _, l := range lat {
		if l >= 0 {
			ok = append(ok, l)
		}
	}
	slices.Sort(ok)
	pct := func(p float64) float64 {
		if len(ok) == 0 {
			return 0
		}
		return float64(ok[min(len(ok)-1, int(p*float64(len(ok))))].Microseconds()) / 1000
	}
	fmt.Printf("requests=%d achieved_rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d\n",
		total, float64(total)/elapsed.Seconds(), pct(0.50), pct(0.90), pct(0.99), pct(0.9999999), errs.Load())
}

func runIdle(u *url.URL, n int, hold time.Duration, headers []string) {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	for _, h := range headers {
		req += h + "\r\n"
	}
	req += "\r\n"
	held := make([]net.Conn, 0, n)
	buf := make([]byte, 64<<10)
	failed := 0
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			failed++
			continue
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			failed++
			c.Close()
			continue
		}
		// One response per connection; it is small, one read suffices.
		if _, err := c.Read(buf); err != nil {
			failed++
			c.Close()
			continue
		}
		_ = c.SetDeadline(time.Time{})
		held = append(held, c)
	}
	fmt.Printf("ready n=%d failed=%d\n", len(held), failed)
	time.Sleep(hold)
	for _, c := range held {
		c.Close()
	}
	fmt.Println("done")
}

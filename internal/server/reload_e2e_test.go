package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const reloadConfig = gatewayHead + `routes:
  - name: accounts
    path: /v1/accounts
    upstream: api
    auth: none
logging:
  access:
    enabled: false
`

func named(t *testing.T, name string) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) })
}

func writeConfig(t *testing.T, g *gw, up string) {
	t.Helper()
	cert, key := g.dir+"/server.crt", g.dir+"/server.key"
	doc := expand(reloadConfig, map[string]string{"CERT": cert, "KEY": key, "UP": up})
	if err := os.WriteFile(g.cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadUnderLoad reloads the configuration 30 times, switching the
// upstream each time, while clients send requests without pause. No request
// may fail.
func TestReloadUnderLoad(t *testing.T) {
	a, b := named(t, "A"), named(t, "B")
	g := startGateway(t, reloadConfig, map[string]string{"UP": a.URL})

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ { // bounded even if stop never comes
				select {
				case <-stop:
					return
				default:
				}
				resp, err := g.client.Get(g.base + "/v1/accounts")
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || (string(body) != "A" && string(body) != "B") {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i := 0; i < 30; i++ {
		up := a.URL
		if i%2 == 0 {
			up = b.URL
		}
		writeConfig(t, g, up)
		if err := g.srv.ReloadFile(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		time.Sleep(15 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	if ok.Load() < 100 || a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Fatalf("too little traffic to prove anything: ok=%d a=%d b=%d", ok.Load(), a.hits.Load(), b.hits.Load())
	}
	t.Logf("%d requests, 0 failed, across 30 reloads", ok.Load())
}

func TestInvalidReloadKeepsServing(t *testing.T) {
	a := named(t, "A")
	g := startGateway(t, reloadConfig, map[string]string{"UP": a.URL})
	if err := os.WriteFile(g.cfgPath, []byte("listeners: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.srv.ReloadFile(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	writeConfig(t, g, "ftp://nope") // valid YAML, invalid config
	err := g.srv.ReloadFile()
	if err == nil || !strings.Contains(err.Error(), "upstreams[0].targets[0]: scheme must be http or https") {
		t.Fatalf("reload error = %v", err)
	}
	resp, body := g.get("/v1/accounts")
	if resp.StatusCode != 200 || body != "A" {
		t.Fatalf("after failed reloads: %d %q", resp.StatusCode, body)
	}
	// /readyz warns that the running configuration is not the file's
	// until a reload succeeds.
	ops := "http://" + g.srv.Addr("ops")
	if code, body := readyzStatus(ops); code != 200 || body != `{"status":"degraded","warnings":{"reload":"the last configuration reload failed (1 problem(s), see the log); the previous configuration keeps serving"}}`+"\n" {
		t.Fatalf("/readyz after a failed reload: %d %s", code, body)
	}
	b := named(t, "B")
	writeConfig(t, g, b.URL)
	if err := g.srv.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if code, body := readyzStatus(ops); code != 200 || body != `{"status":"ready"}`+"\n" {
		t.Fatalf("/readyz after a good reload: %d %s", code, body)
	}
}

// TestSignals drives Run: SIGHUP reloads the file, SIGTERM drains and
// returns.
func TestSignals(t *testing.T) {
	a, b := named(t, "A"), named(t, "B")
	g := startGateway(t, reloadConfig, map[string]string{"UP": a.URL})
	sigs := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- g.srv.Run(context.Background(), sigs) }()

	writeConfig(t, g, b.URL)
	sigs <- syscall.SIGHUP
	var body string
	for i := 0; i < 100 && body != "B"; i++ {
		_, body = g.get("/v1/accounts")
		time.Sleep(10 * time.Millisecond)
	}
	if body != "B" {
		t.Fatalf("SIGHUP did not reload: body %q", body)
	}
	sigs <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after SIGTERM")
	}
	g.client.CloseIdleConnections()
	if _, err := g.client.Get(g.base + "/v1/accounts"); err == nil {
		t.Fatal("still accepting connections after SIGTERM")
	}
}

// TestGracefulDrain: a request in flight when shutdown starts completes.
func TestGracefulDrain(t *testing.T) {
	a := named(t, "A")
	a.delay.Store(int64(400 * time.Millisecond))
	g := startGateway(t, reloadConfig, map[string]string{"UP": a.URL})
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := g.client.Get(g.base + "/v1/accounts")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{status: resp.StatusCode, body: string(b)}
	}()
	for i := 0; i < 200 && a.hits.Load() == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if a.hits.Load() == 0 {
		t.Fatal("request never reached the upstream")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r := <-res
	if r.err != nil || r.status != 200 || r.body != "A" {
		t.Fatalf("in-flight request: %+v", r)
	}
}

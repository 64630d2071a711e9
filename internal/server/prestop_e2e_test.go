package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

const preStopDoc = gatewayHead + `routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
shutdown:
  pre_stop_delay: {{DELAY}}
  drain_timeout: 5s
logging:
  access:
    enabled: false
`

// readyzStatus is the ops listener's /readyz status and body ("" when the
// ops listener is gone).
func readyzStatus(ops string) (int, string) {
	resp, err := http.Get(ops + "/readyz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A load balancer that follows /readyz sees the instance leave before its
// listeners close: across SIGTERM, with clients holding idle keep-alive
// connections (the case that lost requests), no request fails. POST, so
// the client never retries a request silently.
func TestNoRequestFailsAcrossSIGTERM(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			up := newUpstream(t, nil)
			g := startGateway(t, preStopDoc, map[string]string{"UP": up.URL, "DELAY": "1500ms"})
			ops := "http://" + g.srv.Addr("ops")
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()}, MaxIdleConnsPerHost: 16, ForceAttemptHTTP2: proto == "HTTP/2"}
			if proto == "HTTP/1.1" {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			t.Cleanup(tr.CloseIdleConnections)
			post := func() (*http.Response, error) {
				resp, err := client.Post(g.base+"/v1/payments", "application/json", strings.NewReader(`{"amount":"1.00"}`))
				if err != nil {
					return nil, err
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp, err
			}

			sigs := make(chan os.Signal, 1)
			ran := make(chan error, 1)
			go func() { ran <- g.srv.Run(context.Background(), sigs) }()

			// The load balancer: in rotation while /readyz answers 200.
			var inRotation atomic.Bool
			inRotation.Store(true)
			lbSaw := make(chan string, 1)
			lbStop := make(chan struct{})
			go func() {
				for {
					select {
					case <-lbStop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if code, body := readyzStatus(ops); code != http.StatusOK {
						inRotation.Store(false)
						lbSaw <- body
						return
					}
				}
			}()
			defer close(lbStop)

			var (
				mu       sync.Mutex
				failures []string
				sent     atomic.Int64
			)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if !inRotation.Load() {
							time.Sleep(5 * time.Millisecond)
							continue
						}
						resp, err := post()
						sent.Add(1)
						if err != nil || resp.StatusCode != http.StatusOK {
							mu.Lock()
							failures = append(failures, errText(resp, err))
							mu.Unlock()
						}
						// Idle keep-alive connections between requests.
						time.Sleep(2 * time.Millisecond)
					}
				}()
			}
			waitUntil(t, "traffic on keep-alive connections", func() bool { return sent.Load() >= 200 })
			sigs <- syscall.SIGTERM

			var body string
			select {
			case body = <-lbSaw:
			case <-time.After(10 * time.Second):
				t.Fatal("/readyz never left 200 after SIGTERM")
			}
			if !strings.Contains(body, `"server":"shutting down"`) || !strings.Contains(body, `"status":"not ready"`) {
				t.Errorf("/readyz during the pre-stop delay: %s", body)
			}
			// A request the load balancer still sends (its view is a poll
			// old) is served, and told to close its connection.
			resp, err := post()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("request during the pre-stop delay: %s", errText(resp, err))
			}
			if proto == "HTTP/1.1" && !resp.Close {
				t.Errorf("HTTP/1.1 response during the pre-stop delay has no Connection: close")
			}
			select {
			case err := <-ran:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not return")
			}
			close(stop)
			wg.Wait()
			if len(failures) > 0 {
				t.Fatalf("%d of %d requests failed across SIGTERM, first: %s", len(failures), sent.Load(), failures[0])
			}
		})
	}
}

// During the pre-stop delay an HTTP/2 connection keeps serving new
// streams; the drain then sends it GOAWAY (NO_ERROR) at once, before the
// drain timeout, so its client moves to another connection.
func TestPreStopThenGOAWAYOnHTTP2(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, preStopDoc, map[string]string{"UP": up.URL, "DELAY": "1m"})
	ops := "http://" + g.srv.Addr("ops")
	c := dialGW(t, g)
	get := [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", strings.TrimPrefix(g.base, "https://")}, {":path", "/v1/x"}}
	if st, _ := c.exchange(get, nil); st != http.StatusOK {
		t.Fatalf("before SIGTERM: %d", st)
	}
	sigs := make(chan os.Signal, 1)
	ran := make(chan error, 1)
	go func() { ran <- g.srv.Run(context.Background(), sigs) }()
	sigs <- syscall.SIGTERM
	waitUntil(t, "/readyz to answer 503", func() bool { code, _ := readyzStatus(ops); return code == http.StatusServiceUnavailable })
	if st, body := c.exchange(get, nil); st != http.StatusOK || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("during the pre-stop delay: %d %s", st, body)
	}
	if acked, goaway := c.ping(); !acked || goaway != nil {
		t.Fatalf("during the pre-stop delay: ping acked %v, GOAWAY %v", acked, goaway)
	}
	sigs <- syscall.SIGTERM // the delay (1m) is cut short: the drain starts
	res := c.await(0)
	if !res.goaway || res.code != http2.ErrCodeNo {
		t.Fatalf("when the drain starts: %+v, want GOAWAY NO_ERROR", res)
	}
	<-ran
}

func errText(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// waitUntil polls cond, which waits on the server's goroutines, for at
// most 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
)

// The process has one budget for read request bodies, and the runtimes a
// reload builds count in it too: a reload does not make room for another
// budget's worth of held bodies.
func TestOneBodyBudgetAcrossReloads(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(up.Close)
	doc := fmt.Sprintf(`
listeners: [{name: public, address: "127.0.0.1:0", insecure: true}]
ops: {disabled: true}
upstreams: [{name: up, targets: ["%s"]}]
routes: [{name: all, prefix: /, upstream: up, auth: none}]
logging: {access: {enabled: false}}
`, up.URL)
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	const body = "0123456789"
	send := func() chan error {
		done := make(chan error, 1)
		go func() {
			// Unknown length, so the body stage reads it.
			req, _ := http.NewRequest("POST", "http://"+p.Server.Addr("public")+"/pay", io.NopCloser(strings.NewReader(body)))
			req.ContentLength = -1
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		return done
	}
	first := send()
	<-arrived
	if err := p.Server.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	second := send()
	<-arrived
	if n := p.Bodies.InUse(); n != 2*int64(len(body)) {
		t.Fatalf("the process's budget holds %d bytes, want %d (both runtimes' requests)", n, 2*len(body))
	}
	close(release)
	for _, done := range []chan error{first, second} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

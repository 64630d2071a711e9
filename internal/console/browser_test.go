//go:build browser

// The browser tests drive Debian's chromium (headless) against a real
// gateway. They are slow next to the rest, so they build only with
// -tags browser and run in their own CI step, without the race detector:
//
//	go test -tags browser -run TestBrowser ./internal/console
//
// PORTCULLIS_CONSOLE_SCREENSHOTS=<dir> keeps the screenshots there
// (docs/console/ holds the ones docs/console.md shows).
package console_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/portcullis/portcullis/internal/console"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/testenv"
)

// browser is one headless chromium tab that records what the tests check
// across pages: every console response's CSP header and every CSP
// violation or script error the page reports.
type browser struct {
	ctx context.Context
	t   *testing.T

	mu         sync.Mutex
	responses  map[string]string // console URL -> its Content-Security-Policy
	violations []string
	errors     []string
}

// violationProbe reports CSP violations to the console, so they reach the
// test by the same road as the browser's own CSP messages. DevTools adds it
// to every document; the page's CSP does not apply to it.
const violationProbe = `document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP-VIOLATION " + e.violatedDirective + " " + e.blockedURI);
});`

func newBrowser(t *testing.T) *browser {
	path := testenv.Binary(t, "chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 800),
		// The admin listener's certificate is from the test's own CA.
		chromedp.Flag("ignore-certificate-errors", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	b := &browser{ctx: ctx, t: t, responses: map[string]string{}}
	if err := chromedp.Listen(ctx, b.observe); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: violationProbe}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browser) observe(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if strings.Contains(ev.Response.URL, "/console/") && strings.HasPrefix(ev.Response.URL, "https://") {
			csp := ""
			for k, v := range ev.Response.Headers {
				if strings.EqualFold(k, "Content-Security-Policy") {
					csp, _ = v.(string)
				}
			}
			b.responses[ev.Response.URL] = csp
		}
	case *cdplog.EventEntryAdded:
		if strings.Contains(ev.Entry.Text, "Content Security Policy") {
			b.violations = append(b.violations, ev.Entry.Text)
		} else if ev.Entry.Level == cdplog.EntryLevelError && !strings.Contains(ev.Entry.URL, "localhost") {
			b.errors = append(b.errors, ev.Entry.URL+": "+ev.Entry.Text)
		}
	case *runtime.EventConsoleAPICalled:
		for _, a := range ev.Args {
			if s := string(a.Value); strings.Contains(s, "CSP-VIOLATION") {
				b.violations = append(b.violations, s)
			}
		}
	case *runtime.EventExceptionThrown:
		b.errors = append(b.errors, "exception: "+ev.ExceptionDetails.Text)
	}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) eval(js string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

// waitFor evaluates the JavaScript condition until it is true, for at
// most 15 s; evaluations that fail while a page is being replaced are
// retried.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s: condition still false after 15 s (last error: %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shot keeps a screenshot of the viewport (1280×800).
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("PORTCULLIS_CONSOLE_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) signIn(g *gw, role string) {
	b.t.Helper()
	b.do("sign in as "+role,
		chromedp.Navigate(g.admin+"/console/login"),
		chromedp.SendKeys(chromedp.ID("token"), g.tokens[role]),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("who")),
	)
	if who := b.text("#who"); !strings.Contains(who, role) {
		b.t.Fatalf("signed in as %q, want role %s", who, role)
	}
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do("sign out", chromedp.Click(chromedp.CSS("form.who button")), chromedp.WaitVisible(chromedp.ID("token")))
}

func callPublic(t *testing.T, g *gw, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", g.public+"/accounts", nil)
	req.Header.Set("X-API-Key", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The daily work, in a real browser against a real gateway: sign in,
// create a consumer, issue a key and use it (200), revoke it in the console
// (401 next), see it in the audit trail; an auditor gets no revoke control;
// a cross-site form post is refused; every console response has the CSP
// and the real pages cause no CSP violation.
func TestBrowserConsole(t *testing.T) {
	g := startGateway(t)
	b := newBrowser(t)
	start := time.Now()

	b.do("login page", chromedp.Navigate(g.admin+"/console/login"), chromedp.WaitVisible(chromedp.ID("token")))
	b.shot("login")
	b.signIn(g, "admin")

	var consumerID, keyID, secret string
	t.Run("create consumer", func(t *testing.T) {
		b.do("create",
			chromedp.Navigate(g.admin+"/console/consumers"),
			chromedp.Click(chromedp.CSS("details summary")),
			chromedp.SendKeys(chromedp.ID("name"), "acme-browser"),
			chromedp.SendKeys(chromedp.ID("groups"), "partners"),
			chromedp.Click(chromedp.ID("create-consumer")),
			chromedp.WaitVisible(chromedp.ID("issue")),
		)
		v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("consumer_id")))
		if err != nil || !keys.CheckID(v) {
			t.Fatalf("issue form prefilled with %q: %v", v, err)
		}
		consumerID = v
	})
	t.Run("issue key and use it", func(t *testing.T) {
		b.do("issue",
			chromedp.SendKeys(chromedp.ID("expires_in"), "90d"),
			chromedp.Click(chromedp.ID("issue")),
			chromedp.WaitVisible(chromedp.ID("secret")),
		)
		var err error
		if secret, err = chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("secret"))); err != nil {
			t.Fatal(err)
		}
		keyID = b.text("#issued-id")
		if !strings.HasPrefix(secret, "pcl_live_"+keyID+"_") {
			t.Fatalf("secret %q for key %s", secret, keyID)
		}
		if warn := b.text(".warn"); !strings.Contains(warn, "shown once") {
			t.Fatalf("no once-only warning: %q", warn)
		}
		b.shot("key-issued")
		if got := callPublic(t, g, secret); got != http.StatusOK {
			t.Fatalf("public call with the new key: %d, want 200", got)
		}
	})
	t.Run("revoke in the console", func(t *testing.T) {
		b.do("keys", chromedp.Navigate(g.admin+"/console/keys?consumer="+consumerID), chromedp.WaitVisible(chromedp.ID("revoke-"+keyID)))
		b.shot("keys")
		b.do("revoke",
			chromedp.Click(chromedp.ID("revoke-"+keyID)),
			chromedp.WaitVisible(chromedp.ID("reason")),
			chromedp.SendKeys(chromedp.ID("reason"), "laptop stolen"),
			chromedp.SendKeys(chromedp.ID("token"), g.tokens["admin"]),
		)
		b.shot("revoke")
		b.do("confirm", chromedp.Click(chromedp.ID("confirm-revoke")), chromedp.WaitVisible(chromedp.CSS(".notice")))
		if state := b.text("#key-" + keyID + " .state"); state != "revoked" {
			t.Fatalf("state after revoke: %q", state)
		}
		if got := callPublic(t, g, secret); got != http.StatusUnauthorized {
			t.Fatalf("public call after revoke: %d, want 401", got)
		}
	})
	t.Run("audit trail", func(t *testing.T) {
		b.do("audit", chromedp.Navigate(g.admin+"/console/audit?action=key."), chromedp.WaitVisible(chromedp.ID("audit")))
		rows := b.text("#audit")
		for _, want := range []string{"key.issue", "key.revoke", "key:" + keyID, "token:" + g.tokenIDs["admin"], "reason: laptop stolen"} {
			if !strings.Contains(rows, want) {
				t.Errorf("audit rows lack %q", want)
			}
		}
		b.do("audit consumers", chromedp.Navigate(g.admin+"/console/audit?action=consumer.create"), chromedp.WaitVisible(chromedp.ID("audit")))
		if rows := b.text("#audit"); !strings.Contains(rows, "consumer:"+consumerID) {
			t.Errorf("audit rows lack the consumer's creation: %s", rows)
		}
		b.do("audit newest", chromedp.Navigate(g.admin+"/console/audit"), chromedp.WaitVisible(chromedp.ID("head-hash")))
		if h := b.text("#head-hash"); len(h) != 64 {
			t.Errorf("head hash %q", h)
		}
		b.shot("audit")
		b.do("health", chromedp.Navigate(g.admin+"/console/health"), chromedp.WaitVisible(chromedp.ID("config-version")))
		if v := b.text("#config-version"); len(v) != 12 {
			t.Errorf("config version %q", v)
		}
		b.shot("health")
	})
	t.Run("lift a block a detection imposed", func(t *testing.T) {
		// A real credential-stuffing burst from 127.0.0.2 through the
		// public listener: the detector blocks that address.
		id := g.stuffCredentials(t)
		b.do("security", chromedp.Navigate(g.admin+"/console/security"), chromedp.WaitVisible(chromedp.ID("lift-"+id)))
		if row := b.text("#block-" + id); !strings.Contains(row, "127.0.0.2") || !strings.Contains(row, "credential_stuffing") {
			t.Fatalf("block row %q", row)
		}
		if rows := b.text("#events"); !strings.Contains(rows, "detection") || !strings.Contains(rows, "auth_failure") {
			t.Fatalf("event rows lack the detection and its failures: %s", rows)
		}
		b.shot("security")
		b.do("filter",
			chromedp.SendKeys(chromedp.ID("f-ip"), "127.0.0.2"),
			chromedp.SetValue(chromedp.ID("f-type"), "detection"),
			chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)),
		)
		// #events is on the page before the submit too: wait for the
		// filtered page itself, or the old page's rows get counted.
		b.waitFor("the filtered page", `new URLSearchParams(location.search).get("type") === "detection" &&
			document.readyState === "complete" && document.getElementById("events") !== null`)
		if n := b.eval(`document.querySelectorAll("#events tbody tr").length`); n != 1 {
			t.Fatalf("%d detection rows for 127.0.0.2, want 1", n)
		}
		b.do("lift",
			chromedp.Click(chromedp.ID("lift-"+id)),
			chromedp.WaitVisible(chromedp.ID("reason")),
			chromedp.SendKeys(chromedp.ID("reason"), "our own load test"),
			chromedp.SendKeys(chromedp.ID("token"), g.tokens["admin"]),
			chromedp.Click(chromedp.ID("confirm-lift")),
			chromedp.WaitVisible(chromedp.CSS(".notice")),
		)
		if g.blockInForce(id) {
			t.Fatal("the block is still in force after the lift")
		}
		if n := b.eval(`document.querySelectorAll("#block-` + id + `").length`); n != 0 {
			t.Fatal("the lifted block is still listed")
		}
		b.do("audit", chromedp.Navigate(g.admin+"/console/audit?action=security.block.lift"), chromedp.WaitVisible(chromedp.ID("audit")))
		rows := b.text("#audit")
		for _, want := range []string{"block:" + id, "token:" + g.tokenIDs["admin"], "reason: our own load test"} {
			if !strings.Contains(rows, want) {
				t.Errorf("audit rows lack %q: %s", want, rows)
			}
		}
	})
	t.Run("auditor cannot revoke", func(t *testing.T) {
		other, err := g.p.Keys.IssueKey(context.Background(), keys.KeySpec{ConsumerID: consumerID})
		if err != nil {
			t.Fatal(err)
		}
		b.signOut()
		b.signIn(g, "auditor")
		b.do("keys", chromedp.Navigate(g.admin+"/console/keys?consumer="+consumerID), chromedp.WaitVisible(chromedp.ID("key-"+other.Key.ID)))
		if n := b.eval(`document.querySelectorAll('a[id^="revoke-"], #issue, form[action$="/rotate"]').length`); n != 0 {
			t.Fatalf("the auditor sees %d key controls", n)
		}
		b.shot("keys-auditor")
		b.signOut()
		b.signIn(g, "admin")
	})
	t.Run("cross-site form post refused", func(t *testing.T) {
		// Another site: localhost is not 127.0.0.1 (two ports of one host
		// would be the same site).
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		attacker := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/console/consumers">
<input name="name" value="evil-csrf"></form><script>document.getElementById("f").submit()</script>`, g.admin)
		})}
		go attacker.Serve(ln)
		t.Cleanup(func() { attacker.Close() })
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		b.mu.Lock()
		before := len(b.errors)
		b.mu.Unlock()
		defer func() {
			// The browser logs the refusal, the 403 this step expects.
			b.mu.Lock()
			b.errors = b.errors[:before]
			b.mu.Unlock()
		}()
		b.do("attacker page", chromedp.Navigate("http://localhost:"+port+"/"), chromedp.WaitVisible(chromedp.ID("error")))
		if msg := b.text("#error"); !strings.Contains(msg, "Cross-origin request refused") {
			t.Fatalf("the cross-site post got %q", msg)
		}
		list, _, err := g.p.Keys.ListConsumers(context.Background(), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if c.Name == "evil-csrf" {
				t.Fatal("the cross-site post created a consumer")
			}
		}
	})
	t.Run("CSP on every response, no violations", func(t *testing.T) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.responses) < 10 {
			t.Fatalf("only %d console responses seen", len(b.responses))
		}
		for u, csp := range b.responses {
			if csp != console.CSP {
				t.Errorf("%s: Content-Security-Policy %q", u, csp)
			}
		}
		if len(b.violations) > 0 {
			t.Errorf("CSP violations on the console's pages: %q", b.violations)
		}
		if len(b.errors) > 0 {
			t.Errorf("page errors: %q", b.errors)
		}
	})
	t.Run("injected inline script is blocked", func(t *testing.T) {
		// The negative control of the check above: the probe does see a
		// violation when there is one.
		b.do("page", chromedp.Navigate(g.admin+"/console/keys"), chromedp.WaitVisible(chromedp.ID("who")))
		ran := b.eval(`(function () { var s = document.createElement("script"); s.textContent = "window.__injected = 1"; document.body.appendChild(s); return window.__injected === 1 ? 1 : 0; })()`)
		if ran != 0 {
			t.Fatal("an injected inline script ran")
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			b.mu.Lock()
			n := len(b.violations)
			b.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the blocked inline script was not reported as a CSP violation")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Logf("browser flow took %v", time.Since(start).Round(time.Millisecond))
}

// seedKeys inserts n active keys of consumerID straight into the store's
// database, in one transaction of multi-row inserts: the bulk path, not
// the API.
func seedKeys(t *testing.T, st store.Store, env, consumerID string, n int) {
	t.Helper()
	const batch = 500 // rows per INSERT; 6 parameters each, under SQLite's limit
	db := st.(*store.SQLite).DB()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	row := "(?, ?, ?, ?, '[]', '', '{}', ?, 'active', 0, 0, '', '', 0, ?, 0, 0)"
	stmt, err := tx.Prepare(`INSERT INTO api_keys (id, consumer_id, environment, hash, scopes_json, tier, labels_json, sealed, state,
  expires_at, grace_until, successor_id, predecessor_id, revoked_at, created_at, last_used_at, request_count)
VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", batch), ","))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMicro()
	args := make([]any, 0, 6*batch)
	for i := range n {
		id, err := keys.NewID()
		if err != nil {
			t.Fatal(err)
		}
		hash := make([]byte, 32)
		_, _ = rand.Read(hash)
		args = append(args, id, consumerID, env, hash, []byte{}, now+int64(i))
		if len(args) == cap(args) {
			if _, err := stmt.Exec(args...); err != nil {
				t.Fatal(err)
			}
			args = args[:0]
		}
	}
	if len(args) > 0 {
		t.Fatalf("n=%d is not a multiple of %d", n, batch)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// With 100,000 keys the keys list still renders from one page of the store
// (server-side paging by id). The time to first render is logged, not
// asserted.
func TestBrowserKeysListAt100k(t *testing.T) {
	g := startGateway(t)
	b := newBrowser(t)
	cons, err := g.p.Keys.CreateConsumer(context.Background(), keys.ConsumerSpec{Name: "bulk"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	seedStart := time.Now()
	seedKeys(t, g.p.Keys.Store(), string(g.p.Keys.Environment()), cons.ID, n)
	t.Logf("seeded %d keys through the store in %v", n, time.Since(seedStart).Round(time.Millisecond))
	b.signIn(g, "admin")
	for _, tc := range []struct{ name, path string }{
		{"all keys", "/console/keys"},
		{"one consumer's keys", "/console/keys?consumer=" + cons.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			b.do("keys", chromedp.Navigate(g.admin+tc.path), chromedp.WaitVisible(chromedp.CSS("table tbody tr")))
			t.Logf("time to first render of %s with %d keys: %v", tc.path, n, time.Since(start).Round(time.Millisecond))
			if rows := b.eval(`document.querySelectorAll("table tbody tr").length`); rows != 50 {
				t.Fatalf("%d rows, want a page of 50", rows)
			}
			first := b.text("table tbody tr")
			before, err := chromedp.Run(b.ctx, chromedp.Evaluate[string]("location.href"))
			if err != nil {
				t.Fatal(err)
			}
			b.do("next page", chromedp.Click(chromedp.ID("next")))
			// The rows are on the page before the click too: wait for the
			// next page itself.
			b.waitFor("the next page", "location.href !== "+strconv.Quote(before)+
				` && document.readyState === "complete" && document.querySelector("table tbody tr") !== null`)
			if b.text("table tbody tr") == first {
				t.Fatal("the next page shows the same first key")
			}
		})
	}
}

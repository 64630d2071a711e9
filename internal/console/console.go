// Package console is the web console on the admin listener (/console/):
// server-rendered pages for the people who run Portcullis to manage
// consumers and keys, read and verify the audit trail and check health.
// It has no logic of its own for what an admin may do: sign-in goes through
// the admin API's token check and failure lockout, and every read and
// change runs the admin API operation itself (admin.Server.Invoke), so the
// role check, the service call and the audit event are the API's. Pages
// are html/template with every asset embedded; one small script file, no
// inline script or style, and a strict Content-Security-Policy on every
// response. Sessions are __Host- cookies holding a random 256-bit id that
// the server keeps only hashed; state changes are refused cross-origin
// (http.CrossOriginProtection) besides SameSite=Strict.
package console

import (
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/server"
)

// Prefix is where the console is served on the admin listener.
const Prefix = "/console/"

// CSP is sent on every console response: only the console's own files
// load, nothing inline runs, no other site may frame it or receive its
// forms.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// maxForm bounds a form post: console forms are small.
const maxForm = 32 << 10

//go:embed assets
var assets embed.FS

// Deps are what the console works with.
type Deps struct {
	// Admin is the admin API the console acts through.
	Admin *admin.Server
	// Sessions is where sign-ins are kept: the key store.
	Sessions SessionStore
	// Readiness and Status feed the health page (nil: not shown).
	Readiness func() (int, map[string]any)
	Status    func() server.ConfigStatus
	// Certificates is each TLS listener's certificate NotAfter (nil: not
	// shown); the health page warns within certWarn of it.
	Certificates func() map[string]time.Time
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration
	// Now is the clock of sessions. Default time.Now.
	Now func() time.Time
	// Log receives failures (redacted).
	Log *slog.Logger
}

// Console is the console's handler.
type Console struct {
	d        Deps
	sessions *sessions
	pages    *pages
	h        http.Handler
}

// New builds the console. Mount it with admin.Server.Mount(Prefix, c).
func New(d Deps) (*Console, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.Log = slog.New(observe.Redacting(d.Log.Handler()))
	if d.SessionTTL <= 0 {
		d.SessionTTL = 15 * time.Minute
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	if d.Admin == nil || d.Sessions == nil {
		return nil, errors.New("console: needs the admin API and the session store")
	}
	c := &Console{d: d, sessions: &sessions{st: d.Sessions, ttl: d.SessionTTL, now: d.Now}, pages: p}
	static, _ := fs.Sub(assets, "assets/static")
	mux := http.NewServeMux()
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console/{$}", c.home)
	mux.HandleFunc("GET /console/login", c.loginForm)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("POST /console/login/cert", c.loginCert)
	mux.HandleFunc("POST /console/logout", c.signedIn(c.logout))
	mux.HandleFunc("GET /console/keys", c.signedIn(c.keysPage))
	mux.HandleFunc("POST /console/keys", c.signedIn(c.issueKey))
	mux.HandleFunc("POST /console/keys/{id}/rotate", c.signedIn(c.rotateKey))
	mux.HandleFunc("GET /console/keys/{id}/revoke", c.signedIn(c.revokeForm))
	mux.HandleFunc("POST /console/keys/{id}/revoke", c.signedIn(c.revokeKey))
	mux.HandleFunc("GET /console/consumers", c.signedIn(c.consumersPage))
	mux.HandleFunc("POST /console/consumers", c.signedIn(c.createConsumer))
	mux.HandleFunc("GET /console/audit", c.signedIn(c.auditPage))
	mux.HandleFunc("GET /console/audit/export", c.signedIn(c.auditExport))
	mux.HandleFunc("GET /console/health", c.signedIn(c.healthPage))
	mux.HandleFunc("GET /console/security", c.signedIn(c.securityPage))
	mux.HandleFunc("GET /console/security/blocks/{id}/lift", c.signedIn(c.liftForm))
	mux.HandleFunc("POST /console/security/blocks/{id}/lift", c.signedIn(c.liftBlock))
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, nil, http.StatusNotFound, "There is no console page here.")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.d.Log.Warn("console: cross-origin request refused", "method", r.Method, "path", observe.Clip(r.URL.Path, 256),
			"sec_fetch_site", observe.Clip(r.Header.Get("Sec-Fetch-Site"), 32), "origin", observe.Clip(r.Header.Get("Origin"), 256))
		c.errorPage(w, r, nil, http.StatusForbidden, "Cross-origin request refused: console changes can only be made from the console's own pages.")
	}))
	c.h = cop.Handler(mux)
	return c, nil
}

// ServeHTTP sets the security headers every console response carries and
// serves the page.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	}
	c.h.ServeHTTP(w, r)
}

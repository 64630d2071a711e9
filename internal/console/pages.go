package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/problem"
)

// pageSize is the rows per list page.
const pageSize = 50

// notices are the fixed messages a redirect may ask for (?done=): the
// query never carries text of its own onto the page.
var notices = map[string]string{
	"revoked":          "The key was revoked. Calls with it are refused from now on.",
	"lifted":           "The block was lifted on every instance.",
	"consumer-created": "The consumer was created. Issue its first key below.",
	"signed-out":       "You are signed out.",
}

type signedHandler func(w http.ResponseWriter, r *http.Request, a *admin.Actor)

// signedIn runs h for a live session whose admin token still checks out
// (unrevoked, unexpired, same role: asked of the store on every request);
// otherwise the session ends and the browser goes to the sign-in page.
func (c *Console) signedIn(h signedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var a *admin.Actor
		if ck, err := r.Cookie(CookieName); err == nil {
			if a, err = c.sessions.get(r.Context(), ck.Value); err != nil {
				c.unavailable(w, r, "reading the console session", err)
				return
			}
		}
		if a != nil && a.TokenID == "" {
			// Signed in by client certificate: this request's connection
			// must still present it, mapped to the same role.
			if c.d.Admin.RecheckCert(r, a) != nil {
				ck, _ := r.Cookie(CookieName)
				if err := c.sessions.end(r.Context(), ck.Value); err != nil {
					c.unavailable(w, r, "ending a stale certificate session", err)
					return
				}
				a = nil
			}
		} else if a != nil {
			if err := c.d.Admin.Recheck(r.Context(), a, c.d.Now()); err != nil {
				if !errors.Is(err, admin.ErrSessionStale) {
					c.unavailable(w, r, "checking the session's admin token", err)
					return
				}
				if err := c.sessions.endToken(r.Context(), a.TokenID); err != nil {
					c.unavailable(w, r, "ending a stale token's sessions", err)
					return
				}
				a = nil
			}
		}
		if a == nil {
			http.SetCookie(w, sessionCookie("", time.Time{}))
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/login", http.StatusSeeOther)
				return
			}
			c.errorPage(w, r, nil, http.StatusUnauthorized, "Your console session has ended. Sign in again.")
			return
		}
		h(w, r, a)
	}
}

// unavailable answers 503 when the key store cannot be asked.
func (c *Console) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	c.d.Log.Error("console: "+what+" failed", "error", err.Error())
	c.errorPage(w, r, nil, http.StatusServiceUnavailable, "The console cannot reach its key store right now. Try again shortly.")
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/console/keys", http.StatusSeeOther)
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "login", &view{Title: "Sign in", Notice: notices[r.URL.Query().Get("done")], Data: c.certOffered(r)})
}

// certOffered is whether r's connection presents a client certificate
// the admin API maps to a role: the sign-in page then offers it.
func (c *Console) certOffered(r *http.Request) bool {
	return c.d.Admin.CertPresented(r)
}

// loginCert turns the client certificate on the connection into a
// session, through the admin API's own certificate mapping.
func (c *Console) loginCert(w http.ResponseWriter, r *http.Request) {
	a := c.d.Admin.CertSignIn(r, clientip.Peer(r.RemoteAddr), "console.login")
	if a == nil {
		c.render(w, http.StatusUnauthorized, "login", &view{Title: "Sign in",
			Error: "No client certificate that the admin API maps to a role was presented. Sign in with an admin token."})
		return
	}
	c.startSession(w, r, a)
}

// login turns an admin token into a session, through the admin API's own
// token check and per-IP failure lockout.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	a, err := c.d.Admin.SignIn(r.Context(), clientip.Peer(r.RemoteAddr), token, "console.login")
	if err != nil {
		pe := problem.From(err)
		for k, v := range pe.Header {
			w.Header()[k] = v
		}
		w.Header().Del("Www-Authenticate")
		c.render(w, pe.Status, "login", &view{Title: "Sign in", Error: pe.Detail})
		return
	}
	c.startSession(w, r, a)
}

func (c *Console) startSession(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	id, exp, err := c.sessions.create(r.Context(), a)
	if err != nil {
		c.unavailable(w, r, "storing a console session", err)
		return
	}
	http.SetCookie(w, sessionCookie(id, exp))
	http.Redirect(w, r, "/console/keys", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	if ck, err := r.Cookie(CookieName); err == nil {
		if err := c.sessions.end(r.Context(), ck.Value); err != nil {
			c.unavailable(w, r, "ending a console session", err)
			return
		}
	}
	c.d.Admin.Record(r.Context(), a, clientip.Peer(r.RemoteAddr), "console.logout")
	http.SetCookie(w, sessionCookie("", time.Time{}))
	http.Redirect(w, r, "/console/login?done=signed-out", http.StatusSeeOther)
}

// ---- keys

type keysData struct {
	Q, Cursor, Next string
	Keys            []*keys.Key
	// Consumer prefills the issue form.
	Consumer string
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	v := &view{Title: "Keys", Nav: "keys", Actor: a, Notice: notices[r.URL.Query().Get("done")]}
	status := c.loadKeys(r, a, v)
	c.render(w, status, "keys", v)
}

// loadKeys fills v with the keys page r asks for: q is a key id (that key)
// or a consumer id (its keys); the list is paged on the server.
func (c *Console) loadKeys(r *http.Request, a *admin.Actor, v *view) int {
	q := r.URL.Query()
	d := &keysData{Q: strings.TrimSpace(q.Get("q")), Cursor: q.Get("cursor")}
	// ?consumer= is a consumer id for sure (links and redirects): no key
	// lookup first, which would be a needless 404 in the audit trail.
	if c := strings.TrimSpace(q.Get("consumer")); c != "" {
		d.Q, d.Consumer = c, c
	}
	v.Data = d
	if d.Q != "" && !keys.CheckID(d.Q) {
		v.Error = "Search by a key id or a consumer id."
		return http.StatusBadRequest
	}
	if d.Q != "" && d.Cursor == "" && d.Consumer == "" {
		var k keys.Key
		if err := c.call(r, a, "GET", "/v1/keys/"+d.Q, nil, &k); err == nil {
			d.Keys = []*keys.Key{&k}
			return http.StatusOK
		}
		d.Consumer = d.Q
	}
	target := "/v1/keys?limit=" + itoa(pageSize)
	if d.Q != "" {
		d.Consumer = d.Q
		target += "&consumer_id=" + url.QueryEscape(d.Q)
	}
	if d.Cursor != "" {
		target += "&cursor=" + url.QueryEscape(d.Cursor)
	}
	var out list[*keys.Key]
	if err := c.call(r, a, "GET", target, nil, &out); err != nil {
		v.Error = err.Error()
		return err.Status
	}
	d.Keys, d.Next = out.Data, out.NextCursor
	return http.StatusOK
}

// issuedData is the one page that shows a key's secret.
type issuedData struct {
	Issued   *keys.Issued
	Previous *keys.Key
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		out = append(out, f)
	}
	return out
}

func (c *Console) issueKey(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	spec := keys.KeySpec{ConsumerID: strings.TrimSpace(r.PostFormValue("consumer_id")),
		Scopes: splitList(r.PostFormValue("scopes")), AllowedCIDRs: splitList(r.PostFormValue("allowed_cidrs")),
		Notes: r.PostFormValue("notes")}
	if spec.Scopes == nil {
		spec.Scopes = []string{}
	}
	if e := strings.TrimSpace(r.PostFormValue("expires_in")); e != "" {
		d, err := config.ParseDuration(e)
		if err != nil || d.D() <= 0 {
			c.keysError(w, r, a, http.StatusBadRequest, "Expires in must be a duration such as 30d or 12h.")
			return
		}
		spec.ExpiresAt = c.d.Now().Add(d.D()).UTC()
	}
	var out keys.Issued
	if err := c.call(r, a, "POST", "/v1/keys", spec, &out); err != nil {
		c.keysError(w, r, a, err.Status, err.Error())
		return
	}
	c.render(w, http.StatusCreated, "issued", &view{Title: "Key issued", Nav: "keys", Actor: a, Data: &issuedData{Issued: &out}})
}

func (c *Console) keysError(w http.ResponseWriter, r *http.Request, a *admin.Actor, status int, msg string) {
	v := &view{Title: "Keys", Nav: "keys", Actor: a}
	c.loadKeys(r, a, v)
	v.Error = msg
	c.render(w, status, "keys", v)
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	id := r.PathValue("id")
	body := map[string]any{}
	if g := strings.TrimSpace(r.PostFormValue("grace")); g != "" {
		body["grace"] = g
	}
	var out struct {
		keys.Issued
		Previous *keys.Key `json:"previous"`
	}
	if err := c.call(r, a, "POST", "/v1/keys/"+url.PathEscape(id)+"/rotate", body, &out); err != nil {
		c.keysError(w, r, a, err.Status, err.Error())
		return
	}
	c.render(w, http.StatusCreated, "issued", &view{Title: "Key rotated", Nav: "keys", Actor: a,
		Data: &issuedData{Issued: &out.Issued, Previous: out.Previous}})
}

func (c *Console) revokeForm(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	var k keys.Key
	if err := c.call(r, a, "GET", "/v1/keys/"+url.PathEscape(r.PathValue("id")), nil, &k); err != nil {
		c.errorPage(w, r, a, err.Status, err.Error())
		return
	}
	c.render(w, http.StatusOK, "revoke", &view{Title: "Revoke key", Nav: "keys", Actor: a, Data: &k})
}

// revokeKey asks for the signed-in admin token again (a left-open browser
// is not enough to revoke) and a reason, then runs the API's revocation.
func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	id := r.PathValue("id")
	var k keys.Key
	if err := c.call(r, a, "GET", "/v1/keys/"+url.PathEscape(id), nil, &k); err != nil {
		c.errorPage(w, r, a, err.Status, err.Error())
		return
	}
	again := func(status int, msg string) {
		c.render(w, status, "revoke", &view{Title: "Revoke key", Nav: "keys", Actor: a, Data: &k, Error: msg})
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		again(http.StatusBadRequest, "Give a reason (up to 500 characters).")
		return
	}
	if status, msg := c.reauth(r, a); status != 0 {
		again(status, msg)
		return
	}
	// The API checks the reason and keeps it in the key.revoke audit event.
	if err := c.call(r, a, "POST", "/v1/keys/"+url.PathEscape(id)+"/revoke", map[string]string{"reason": reason}, nil); err != nil {
		again(err.Status, err.Error())
		return
	}
	http.Redirect(w, r, "/console/keys?done=revoked&q="+url.QueryEscape(id), http.StatusSeeOther)
}

// ---- consumers

type consumersData struct {
	Q, Cursor, Next string
	Consumers       []*keys.Consumer
}

func (c *Console) consumersPage(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	v := &view{Title: "Consumers", Nav: "consumers", Actor: a, Notice: notices[r.URL.Query().Get("done")]}
	c.render(w, c.loadConsumers(r, a, v), "consumers", v)
}

func (c *Console) loadConsumers(r *http.Request, a *admin.Actor, v *view) int {
	q := r.URL.Query()
	d := &consumersData{Q: strings.TrimSpace(q.Get("q")), Cursor: q.Get("cursor")}
	v.Data = d
	if d.Q != "" {
		if !keys.CheckID(d.Q) {
			v.Error = "Search by a consumer id."
			return http.StatusBadRequest
		}
		var cons keys.Consumer
		if err := c.call(r, a, "GET", "/v1/consumers/"+d.Q, nil, &cons); err != nil {
			if err.Status != http.StatusNotFound {
				v.Error = err.Error()
			}
			return err.Status
		}
		d.Consumers = []*keys.Consumer{&cons}
		return http.StatusOK
	}
	target := "/v1/consumers?limit=" + itoa(pageSize)
	if d.Cursor != "" {
		target += "&cursor=" + url.QueryEscape(d.Cursor)
	}
	var out list[*keys.Consumer]
	if err := c.call(r, a, "GET", target, nil, &out); err != nil {
		v.Error = err.Error()
		return err.Status
	}
	d.Consumers, d.Next = out.Data, out.NextCursor
	return http.StatusOK
}

func (c *Console) createConsumer(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	spec := keys.ConsumerSpec{Name: strings.TrimSpace(r.PostFormValue("name")), Groups: splitList(r.PostFormValue("groups")),
		Tier: strings.TrimSpace(r.PostFormValue("tier")), Contact: strings.TrimSpace(r.PostFormValue("contact"))}
	var out keys.Consumer
	if err := c.call(r, a, "POST", "/v1/consumers", spec, &out); err != nil {
		v := &view{Title: "Consumers", Nav: "consumers", Actor: a}
		c.loadConsumers(r, a, v)
		v.Error = err.Error()
		c.render(w, err.Status, "consumers", v)
		return
	}
	http.Redirect(w, r, "/console/keys?done=consumer-created&consumer="+url.QueryEscape(out.ID), http.StatusSeeOther)
}

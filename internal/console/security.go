package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/secmon"
)

// The security page: the blocks in force (shared by every instance) and
// this instance's recent security events, filtered by the admin API
// itself, and lifting a block with a reason.

// securityFilter is the page's filter form; each field is the admin API's
// query parameter of the same meaning.
type securityFilter struct {
	Type, ClientIP, Consumer, Route, Detector, Since, Until string
}

// localTime is what an <input type="datetime-local"> sends: read as UTC
// (the form says so), the API wants RFC 3339.
const localTime = "2006-01-02T15:04"

// apiTime turns a filter time into the API's RFC 3339; text it cannot
// read goes through as typed, so the API's own field error names it.
func apiTime(s string) string {
	if t, err := time.Parse(localTime, s); err == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return s
}

func (f *securityFilter) query() string {
	q := url.Values{}
	for _, p := range []struct{ k, v string }{{"type", f.Type}, {"client_ip", f.ClientIP}, {"consumer", f.Consumer},
		{"route", f.Route}, {"detector", f.Detector}, {"since", apiTime(f.Since)}, {"until", apiTime(f.Until)}} {
		if p.v != "" {
			q.Set(p.k, p.v)
		}
	}
	return q.Encode()
}

type securityData struct {
	Filter securityFilter
	Types  []secevent.Type
	Blocks []secmon.Block
	Events []secmon.EventView
}

func (c *Console) securityPage(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	q := r.URL.Query()
	f := securityFilter{Type: q.Get("type"), ClientIP: strings.TrimSpace(q.Get("client_ip")), Consumer: strings.TrimSpace(q.Get("consumer")),
		Route: strings.TrimSpace(q.Get("route")), Detector: strings.TrimSpace(q.Get("detector")),
		Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until"))}
	d := &securityData{Filter: f, Types: secevent.Types}
	v := &view{Title: "Security events and blocks", Nav: "security", Actor: a, Data: d, Notice: notices[q.Get("done")]}
	var blocks list[secmon.Block]
	if err := c.call(r, a, "GET", "/v1/security/blocks", nil, &blocks); err != nil {
		v.Error = err.Error()
		c.render(w, err.Status, "security", v)
		return
	}
	d.Blocks = blocks.Data
	target := "/v1/security/events?limit=" + itoa(pageSize)
	if fq := f.query(); fq != "" {
		target += "&" + fq
	}
	var events list[secmon.EventView]
	if err := c.call(r, a, "GET", target, nil, &events); err != nil {
		v.Error = err.Error()
		c.render(w, err.Status, "security", v)
		return
	}
	d.Events = events.Data
	c.render(w, http.StatusOK, "security", v)
}

// block finds the block id among those in force (the API lists them; it
// has no single-block read).
func (c *Console) block(r *http.Request, a *admin.Actor, id string) (*secmon.Block, *apiError) {
	var blocks list[secmon.Block]
	if err := c.call(r, a, "GET", "/v1/security/blocks", nil, &blocks); err != nil {
		return nil, err
	}
	for i := range blocks.Data {
		if blocks.Data[i].ID == id {
			return &blocks.Data[i], nil
		}
	}
	return nil, &apiError{Status: http.StatusNotFound, Title: "No such block in force: it may have expired or been lifted."}
}

func (c *Console) liftForm(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	b, err := c.block(r, a, r.PathValue("id"))
	if err != nil {
		c.errorPage(w, r, a, err.Status, err.Error())
		return
	}
	c.render(w, http.StatusOK, "lift", &view{Title: "Lift block", Nav: "security", Actor: a, Data: b})
}

// liftBlock asks for the signed-in admin token again and a reason, as a
// revocation does, then runs the API's lift, which audits it with both.
func (c *Console) liftBlock(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	b, err := c.block(r, a, r.PathValue("id"))
	if err != nil {
		c.errorPage(w, r, a, err.Status, err.Error())
		return
	}
	again := func(status int, msg string) {
		c.render(w, status, "lift", &view{Title: "Lift block", Nav: "security", Actor: a, Data: b, Error: msg})
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
	if err := c.call(r, a, "DELETE", "/v1/security/blocks/"+url.PathEscape(b.ID), map[string]string{"reason": reason}, nil); err != nil {
		again(err.Status, err.Error())
		return
	}
	http.Redirect(w, r, "/console/security?done=lifted", http.StatusSeeOther)
}

// reauth checks that the form's token is the one a signed in with (or,
// for a certificate sign-in, that the certificate is still presented), through
// the API's token check and failure lockout: destructive actions need
// more than a left-open browser. It returns 0 when it is, otherwise the
// status and message to show.
func (c *Console) reauth(r *http.Request, a *admin.Actor) (int, string) {
	if a.TokenID == "" {
		// Signed in by certificate: there is no token to type; the
		// connection proves the certificate's key on this very request.
		if who := c.d.Admin.CertSignIn(r, clientip.Peer(r.RemoteAddr), "console.reauth"); who == nil || who.Name != a.Name {
			return http.StatusForbidden, "Present the client certificate you signed in with."
		}
		return 0, ""
	}
	who, err := c.d.Admin.SignIn(r.Context(), clientip.Peer(r.RemoteAddr), strings.TrimSpace(r.PostFormValue("token")), "console.reauth")
	if err != nil {
		pe := problem.From(err)
		return pe.Status, pe.Detail
	}
	if who.TokenID != a.TokenID {
		return http.StatusForbidden, "Enter the admin token you signed in with."
	}
	return 0, ""
}

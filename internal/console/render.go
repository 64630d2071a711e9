package console

import (
	"bytes"
	"html/template"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
)

// pageNames are the templates under assets/templates, each rendered inside
// layout.html.
var pageNames = []string{"login", "keys", "issued", "revoke", "consumers", "audit", "health", "security", "lift", "error"}

type pages struct{ t map[string]*template.Template }

var funcs = template.FuncMap{
	// when renders a time for <time datetime>; the script shows it in the
	// viewer's zone, the title keeps UTC.
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"hex":   func(b []byte) string { return hexString(b) },
	"list4": func(a, b, c, d string) []string { return []string{a, b, c, d} },
}

func parsePages() (*pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/templates/layout.html")
	if err != nil {
		return nil, err
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "assets/templates/"+n+".html")
		if err != nil {
			return nil, err
		}
		p.t[n] = t
	}
	return p, nil
}

// view is what every page template gets.
type view struct {
	Title  string
	Nav    string
	Actor  *admin.Actor
	Error  string
	Notice string
	Data   any
	c      *Console
}

// Can reports whether the signed-in role may run the admin API operation
// action: controls for anything else are not rendered.
func (v *view) Can(action string) bool {
	return v.Actor != nil && v.c.d.Admin.Allows(v.Actor.Role, action)
}

func (c *Console) render(w http.ResponseWriter, status int, name string, v *view) {
	v.c = c
	var buf bytes.Buffer
	if err := c.pages.t[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		c.d.Log.Error("console: rendering a page failed", "page", name, "error", err.Error())
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, a *admin.Actor, status int, msg string) {
	c.render(w, status, "error", &view{Title: http.StatusText(status), Actor: a, Error: msg})
}

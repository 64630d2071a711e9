package console

import (
	"net/http"
	"slices"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
)

// certWarn is how close to its expiry a listener's certificate is shown
// as a warning on the health page.
const certWarn = 14 * 24 * time.Hour

// certExpiry is one TLS listener's certificate on the health page.
type certExpiry struct {
	Listener string
	NotAfter time.Time
	Days     int
	Soon     bool
}

type healthData struct {
	Ready       bool
	ReadyStatus string
	Checks      map[string]any
	Config      any
	Certs       []certExpiry
}

func (c *Console) healthPage(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	d := &healthData{}
	if c.d.Readiness != nil {
		status, body := c.d.Readiness()
		d.Ready = status == http.StatusOK
		d.ReadyStatus, _ = body["status"].(string)
		d.Checks = map[string]any{}
		for _, k := range []string{"problems", "warnings"} {
			if v, ok := body[k]; ok {
				d.Checks[k] = v
			}
		}
	}
	if c.d.Status != nil {
		d.Config = c.d.Status()
	}
	if c.d.Certificates != nil {
		now := c.d.Now()
		for name, na := range c.d.Certificates() {
			d.Certs = append(d.Certs, certExpiry{Listener: name, NotAfter: na, Days: int(na.Sub(now).Hours() / 24), Soon: na.Sub(now) < certWarn})
		}
		slices.SortFunc(d.Certs, func(a, b certExpiry) int { return a.NotAfter.Compare(b.NotAfter) })
	}
	c.render(w, http.StatusOK, "health", &view{Title: "Health", Nav: "health", Actor: a, Data: d})
}

package console

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/audit"
)

// auditScanPages bounds how many API pages one filtered audit page reads,
// so a filter that matches nothing costs a bounded amount of work; the
// page then offers to continue from where the scan stopped.
const auditScanPages = 20

// auditBatch is the page size the console asks the audit API for.
const auditBatch = 200

type auditFilter struct{ Actor, Action, Outcome, Target string }

func (f auditFilter) empty() bool { return f == auditFilter{} }

func (f auditFilter) match(e *audit.Event) bool {
	return (f.Actor == "" || e.Actor == f.Actor) && (f.Action == "" || strings.HasPrefix(e.Action, f.Action)) &&
		(f.Outcome == "" || e.Outcome == f.Outcome) && (f.Target == "" || strings.Contains(e.Target, f.Target))
}

// verification is GET /v1/audit/verify's answer.
type verification struct {
	OK       bool   `json:"ok"`
	Verified int64  `json:"events_verified"`
	HeadHash string `json:"head_hash"`
	Problem  string `json:"problem"`
}

type auditData struct {
	Filter        auditFilter
	Events        []audit.Event
	After         int64
	Next, Earlier string
	Verify        *verification
	ExportQuery   string
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	q := r.URL.Query()
	d := &auditData{Filter: auditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Outcome: q.Get("outcome"), Target: q.Get("target")}}
	v := &view{Title: "Audit trail", Nav: "audit", Actor: a, Data: d}
	d.Verify = &verification{}
	if err := c.call(r, a, "GET", "/v1/audit/verify", nil, d.Verify); err != nil {
		v.Error = err.Error()
		c.render(w, err.Status, "audit", v)
		return
	}
	d.After = -1
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			v.Error = "after must be an event number."
			c.render(w, http.StatusBadRequest, "audit", v)
			return
		}
		d.After = n
	}
	if d.After < 0 {
		// Unfiltered, the newest page first; filtered, from the start.
		d.After = 0
		if d.Filter.empty() {
			d.After = max(0, d.Verify.Verified-pageSize)
		}
	}
	after, more := d.After, false
scan:
	for range auditScanPages {
		var out list[audit.Event]
		if err := c.call(r, a, "GET", "/v1/audit?limit="+itoa(auditBatch)+"&cursor="+strconv.FormatInt(after, 10), nil, &out); err != nil {
			v.Error = err.Error()
			c.render(w, err.Status, "audit", v)
			return
		}
		for i := range out.Data {
			after = out.Data[i].Seq
			if d.Filter.match(&out.Data[i]) {
				d.Events = append(d.Events, out.Data[i])
				if len(d.Events) == pageSize {
					more = i < len(out.Data)-1 || out.NextCursor != ""
					break scan
				}
			}
		}
		more = out.NextCursor != ""
		if !more {
			break
		}
	}
	if more {
		d.Next = d.link(after)
	}
	if d.After > 0 && d.Filter.empty() {
		d.Earlier = d.link(max(0, d.After-pageSize))
	}
	d.ExportQuery = d.query(-1)
	c.render(w, http.StatusOK, "audit", v)
}

func (d *auditData) query(after int64) string {
	q := make([]string, 0, 5)
	add := func(k, v string) {
		if v != "" {
			q = append(q, k+"="+urlQuery(v))
		}
	}
	add("actor", d.Filter.Actor)
	add("action", d.Filter.Action)
	add("outcome", d.Filter.Outcome)
	add("target", d.Filter.Target)
	if after >= 0 {
		add("after", strconv.FormatInt(after, 10))
	}
	return strings.Join(q, "&")
}

func (d *auditData) link(after int64) string { return "/console/audit?" + d.query(after) }

// auditExport streams the (filtered) audit trail as JSON lines, exactly
// the events the API returns, hashes included, so the export can be
// verified elsewhere.
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, a *admin.Actor) {
	q := r.URL.Query()
	f := auditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Outcome: q.Get("outcome"), Target: q.Get("target")}
	var after int64
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	started := false
	for {
		var out list[audit.Event]
		if err := c.call(r, a, "GET", "/v1/audit?limit="+itoa(auditBatch)+"&cursor="+strconv.FormatInt(after, 10), nil, &out); err != nil {
			if !started {
				c.errorPage(w, r, a, err.Status, err.Error())
			}
			return
		}
		if !started {
			w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="portcullis-audit.jsonl"`)
			started = true
		}
		for i := range out.Data {
			after = out.Data[i].Seq
			if f.match(&out.Data[i]) {
				_ = enc.Encode(&out.Data[i])
			}
		}
		if out.NextCursor == "" {
			break
		}
	}
	_ = bw.Flush()
}

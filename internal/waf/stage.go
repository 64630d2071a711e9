package waf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/portcullis/portcullis/internal/secevent"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/validate"
	"github.com/portcullis/portcullis/internal/waf/crs"
)

// Verdicts, as logged and counted.
const (
	resultPass     = "pass"
	resultBlocked  = "blocked"
	resultDetected = "detected"
	resultError    = "error"
)

// routeWAF is one route's WAF: its instance and its settings on it.
type routeWAF struct {
	route    string
	level    int
	waf      coraza.WAF
	engines  *Engines
	bodies   *validate.Budget
	redactor *observe.Redactor

	detect            bool
	inbound, outbound []string // thresholds, as CRS transaction values
	profile           []string // exclusion profile; nil: none
	bodyLimit         int64

	response     bool
	respLimit    int64
	respOverflow string // refuse or relay

	// newTx makes the request's transaction; tests replace it to make
	// Coraza fail.
	newTx func(w coraza.WAF, id string) types.Transaction
}

func newRouteWAF(rc config.Route, e *Engines, bodies *validate.Budget, red *observe.Redactor) *routeWAF {
	w := rc.WAF
	return &routeWAF{
		route: rc.Name, engines: e, bodies: bodies, redactor: red,
		detect:       w.Mode == "detect",
		inbound:      []string{strconv.Itoa(w.InboundAnomalyThreshold)},
		outbound:     []string{strconv.Itoa(w.OutboundAnomalyThreshold)},
		bodyLimit:    int64(*w.RequestBodyLimit),
		response:     w.Response.Enabled,
		respLimit:    int64(w.Response.BodyLimit),
		respOverflow: w.Response.OverLimit,
		newTx:        func(w coraza.WAF, id string) types.Transaction { return w.NewTransactionWithID(id) },
	}
}

// Stage returns the WAF stage of route rc, or nil when it has no WAF.
// The stage also acts on responses when the route inspects them.
func (s *Set) Stage(rc config.Route) pipeline.Stage {
	if s == nil {
		return nil // the WAF failed to build; Build reports it
	}
	rw := s.routes[rc.Name]
	if rw == nil {
		return nil
	}
	if rw.response {
		return responseStage{requestStage{rw}}
	}
	return requestStage{rw}
}

// requestStage runs CRS phases 1 and 2 before the upstream sees the
// request.
type requestStage struct{ *routeWAF }

// responseStage also runs phases 3 and 4 on the upstream's answer.
type responseStage struct{ requestStage }

var (
	_ pipeline.BodyConsumer  = requestStage{}
	_ pipeline.ResponseStage = responseStage{}
)

func (requestStage) Name() string { return "waf" }

// ReportsRefusals implements secevent.Reporter: the stage emits
// WAFRejected itself, with the matched rule ids, for blocks and detections.
func (requestStage) ReportsRefusals()                       {}
func (requestStage) Phase() pipeline.Phase                  { return pipeline.Validate }
func (requestStage) NeedsBody() bool                        { return true }
func (responseStage) ResponsePhase() pipeline.ResponsePhase { return pipeline.InspectResponse }

// txState is one request's transaction, kept on the request's context so
// that the response stage continues it.
type txState struct {
	tx       types.Transaction
	info     *reqinfo.Info
	ctx      context.Context // the request's, for its security events
	logged   int             // matched rules already written to the WAF log
	reserved int64           // bytes counted in the body budget
}

type stateKey struct{}

// Errors behind a 500: the WAF could not inspect, so nothing passes.
var (
	errUnread     = errors.New("waf: the request body was not read for the WAF")
	errNoState    = errors.New("waf: no transaction for the response")
	errNoDetector = errors.New("waf: the transaction cannot report detect-mode verdicts")
)

func (s requestStage) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		info := reqinfo.From(r.Context())
		var body []byte
		switch {
		case info.BodyRead:
			body = info.Body
		case r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0:
			return s.fail(info, errUnread)
		}
		n := int64(len(body))
		if n > s.bodyLimit {
			return problem.PayloadTooLarge(s.bodyLimit).WithCause(errors.New("request body over waf.request_body_limit"))
		}
		// Coraza keeps its own copy of the body while the transaction
		// lives: it is held like the body itself.
		if n > 0 && !s.bodies.Acquire(n) {
			return problem.Unavailable("body-budget-exhausted",
				"The gateway is holding too many request bodies; retry shortly.", time.Second, errors.New("no budget for the WAF's body copy"))
		}
		st := &txState{info: info, ctx: r.Context(), reserved: n}
		defer s.finish(st)
		st.tx = s.newTx(s.waf, info.ID)
		verdict, err := s.inspectRequest(st, r, body)
		if err != nil {
			return s.fail(info, err)
		}
		if verdict != nil {
			return verdict
		}
		if s.response {
			// Compressed bodies cannot be inspected: ask for identity.
			r.Header.Del("Accept-Encoding")
			r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		}
		return next.ServeHTTP(w, r)
	})
}

// finish ends the transaction and gives back its memory.
func (s requestStage) finish(st *txState) {
	if st.tx != nil {
		st.tx.ProcessLogging()
		_ = st.tx.Close()
	}
	if st.reserved > 0 {
		s.bodies.Release(st.reserved)
	}
}

// fail refuses the request with 500: a WAF that cannot inspect lets
// nothing through.
func (s requestStage) fail(info *reqinfo.Info, err error) error {
	info.WAF = &reqinfo.WAFOutcome{Action: resultError}
	s.engines.metrics.record(s.route, resultError, nil)
	s.engines.log.Error("waf failed; request refused", "request_id", info.ID, "route", s.route, "error", err.Error())
	return problem.Internal(err)
}

// inspectRequest feeds the request to the transaction and runs phases 1
// and 2. It returns the problem to answer with when the request is
// refused.
func (s requestStage) inspectRequest(st *txState, r *http.Request, body []byte) (error, error) {
	tx := st.tx
	ts, ok := tx.(plugintypes.TransactionState)
	if !ok {
		return nil, errors.New("waf: the transaction does not expose its variables")
	}
	vars := ts.Variables().TX()
	vars.Set(txInbound, s.inbound)
	vars.Set(txOutbound, s.outbound)
	if s.detect {
		vars.Set(txDetect, one)
	}
	if s.profile != nil {
		vars.Set(txProfile, s.profile)
	}
	client, cport := hostPort(r.RemoteAddr)
	server, sport := "", 0
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		server, sport = hostPort(a.String())
	}
	if ip := st.info.ClientIPString(); ip != "" {
		client = ip
	}
	tx.ProcessConnection(client, cport, server, sport)
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	// net/http moved Host out of the header map. HTTP/1.1 requires it, so
	// an empty r.Host there was an empty Host header (CRS's 920290); on
	// HTTP/1.0 it was no header at all (920280).
	switch host := r.Host; {
	case host != "":
		tx.AddRequestHeader("Host", host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		tx.SetServerName(host)
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		tx.AddRequestHeader("Host", "")
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	// The body stage read a body of unknown length and dropped the
	// framing: show what the client sent (HTTP/1.1 chunked), as CRS's
	// protocol rules expect.
	if len(body) > 0 && r.ProtoMajor == 1 && len(r.Header["Content-Length"]) == 0 {
		tx.AddRequestHeader("Transfer-Encoding", "chunked")
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return s.verdict(st, it, true), nil
	}
	if len(body) > 0 {
		it, _, err := tx.WriteRequestBody(body)
		if err != nil {
			return nil, fmt.Errorf("waf: writing the request body: %w", err)
		}
		if it != nil {
			return s.verdict(st, it, true), nil
		}
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		return nil, fmt.Errorf("waf: inspecting the request body: %w", err)
	}
	return s.verdict(st, it, true), nil
}

var one = []string{"1"}

// verdict records what the transaction concluded so far (request side, or
// response side when request is false) and returns the problem that
// refuses it, if any.
func (s requestStage) verdict(st *txState, it *types.Interruption, request bool) error {
	tx := st.tx
	if it == nil && s.detect {
		d, ok := tx.(interface{ DetectionOnlyInterruption() *types.Interruption })
		if !ok {
			s.engines.log.Error("waf: detect mode verdict unavailable", "route", s.route, "error", errNoDetector.Error())
		} else {
			it = d.DetectionOnlyInterruption()
		}
	}
	matched := tx.MatchedRules()
	newRules := matched[st.logged:]
	var ids []int
	var lines []string
	now := time.Now()
	cat := crs.Load()
	for _, mr := range newRules {
		if l, ok := mr.(interface{ Log() bool }); ok && !l.Log() {
			continue
		}
		id := mr.Rule().ID()
		if rule, ok := cat.Rule(id); (ok && rule.Detection()) || (id >= 200000 && id <= 200009) {
			ids = append(ids, id)
		}
		if s.engines.errLog != nil {
			lines = append(lines, formatLine(mr, it != nil && it.RuleID == id, s.redactor, now))
		}
	}
	st.logged = len(matched)
	if s.engines.errLog != nil {
		s.engines.errLog.write(lines)
	}

	out := st.info.WAF
	if out == nil {
		out = &reqinfo.WAFOutcome{Action: resultPass}
		st.info.WAF = out
	}
	out.RuleIDs = append(out.RuleIDs, ids...)
	ts := tx.(plugintypes.TransactionState).Variables().TX()
	if request {
		out.InboundScore = score(ts.Get("blocking_inbound_anomaly_score"))
	} else {
		out.OutboundScore = score(ts.Get("blocking_outbound_anomaly_score"))
	}
	result := resultPass
	switch {
	case it != nil && s.detect:
		result = resultDetected
	case it != nil:
		result = resultBlocked
	}
	if result != resultPass || out.Action == resultPass {
		out.Action = result
	}
	if request || result != resultPass {
		s.engines.metrics.requests.WithLabelValues(s.route, result).Inc()
	}
	s.engines.metrics.rulesMatched(s.route, result, ids)
	if result == resultPass && len(ids) == 0 {
		return nil
	}
	side := "request"
	if !request {
		side = "response"
	}
	consumer := ""
	if p := st.info.Principal; p != nil {
		consumer = p.ConsumerID
	}
	s.engines.log.Warn("waf "+result, "request_id", st.info.ID, "route", s.route, "consumer", consumer, "side", side,
		"rule_ids", ruleList(ids), "inbound_score", out.InboundScore, "outbound_score", out.OutboundScore, "mode", mode(s.detect))
	if result == resultPass {
		// Matches under the anomaly threshold are logged, not rejections.
		return nil
	}
	// The event names the rules and the side, never the matched data: the
	// monitor ships it, and the data is the attacker's payload.
	ev := secevent.Event{Type: secevent.WAFRejected, Reason: "waf-" + result + " " + side + " rule_ids=" + ruleList(ids)}
	if result == resultDetected {
		secevent.Emit(st.ctx, ev)
		return nil
	}
	ev.Status = http.StatusForbidden
	secevent.Emit(st.ctx, ev)
	return problem.New(http.StatusForbidden, "waf-blocked", "Forbidden", "The request was refused by the web application firewall.")
}

func mode(detect bool) string {
	if detect {
		return "detect"
	}
	return "block"
}

func score(v []string) int {
	if len(v) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(v[0])
	return n
}

func ruleList(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, ",")
}

func hostPort(addr string) (string, int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// OnResponse runs phases 3 and 4 on the upstream's answer: headers always,
// the body when its type is one CRS reads and it fits the route's limit.
// A body over the limit (or compressed) is refused with 502 or relayed
// uninspected, as the route chose.
func (s responseStage) OnResponse(resp *http.Response, r *http.Request) error {
	st, _ := r.Context().Value(stateKey{}).(*txState)
	if st == nil || st.tx == nil {
		return s.fail(reqinfo.From(r.Context()), errNoState)
	}
	tx := st.tx
	for k, vs := range resp.Header {
		for _, v := range vs {
			tx.AddResponseHeader(k, v)
		}
	}
	if it := tx.ProcessResponseHeaders(resp.StatusCode, resp.Proto); it != nil {
		return s.verdict(st, it, false)
	}
	if tx.IsResponseBodyProcessable() && resp.Body != nil && resp.Body != http.NoBody {
		if err := s.inspectBody(st, resp); err != nil {
			return err
		}
	}
	it, err := tx.ProcessResponseBody()
	if err != nil {
		return s.fail(st.info, fmt.Errorf("waf: inspecting the response body: %w", err))
	}
	return s.verdict(st, it, false)
}

// errResponseTooLarge is the logged cause of a refused oversize response.
var errResponseTooLarge = errors.New("response body over waf.response.body_limit (or compressed): not inspected")

// inspectBody buffers the response body within the route's limit and the
// body budget, gives it to the transaction, and puts it back for the
// client.
func (s responseStage) inspectBody(st *txState, resp *http.Response) error {
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return s.overLimit(st, resp, nil)
	}
	reserve := s.respLimit + 1
	if resp.ContentLength >= 0 && resp.ContentLength < reserve {
		reserve = resp.ContentLength
	}
	// Two copies: the one relayed to the client and Coraza's.
	if !s.bodies.Acquire(2 * reserve) {
		return problem.Unavailable("body-budget-exhausted",
			"The gateway is holding too many bodies; retry shortly.", time.Second, errors.New("no budget to inspect the response"))
	}
	st.reserved += 2 * reserve
	var buf bytes.Buffer
	buf.Grow(int(reserve))
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, s.respLimit+1))
	if err != nil {
		return problem.BadGateway(fmt.Errorf("reading the response for the WAF: %w", err))
	}
	if int64(buf.Len()) > s.respLimit {
		return s.overLimit(st, resp, buf.Bytes())
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	it, _, err := st.tx.WriteResponseBody(buf.Bytes())
	if err != nil {
		return s.fail(st.info, fmt.Errorf("waf: writing the response body: %w", err))
	}
	if it != nil {
		return s.verdict(st, it, false)
	}
	return nil
}

// overLimit follows the route's over_limit choice for a body the WAF
// cannot inspect; head is what was read of it already.
func (s responseStage) overLimit(st *txState, resp *http.Response, head []byte) error {
	s.engines.log.Warn("waf: response not inspected", "request_id", st.info.ID, "route", s.route, "over_limit", s.respOverflow)
	if s.respOverflow != "relay" {
		return problem.BadGateway(errResponseTooLarge)
	}
	if head != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	}
	return nil
}

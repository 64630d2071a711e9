package waf

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
)

// errorLog is the WAF log: one line per matched rule in the format of
// ModSecurity's and Coraza's error log, which log tooling (and the CRS
// regression suite's go-ftw) reads:
//
//	2026-01-02T03:04:05.123456Z [client "203.0.113.9"] Coraza: Access denied (phase 2). Inbound Anomaly Score Exceeded ... [id "949110"] [msg "..."] [data "..."] ... [uri "/v1/accounts?q=[REDACTED]"] [unique_id "<request id>"]
//
// The values in it pass the same masking as every other log: the whole
// line goes through observe.Redact (card numbers, JWTs, credentials by
// shape); the query's values are replaced as in the access log; and a
// matched value in a credential header, a cookie or a parameter named
// like a credential is replaced by [REDACTED] before it is written.
type errorLog struct {
	mu        sync.Mutex
	out       *observe.BufferedWriter
	writeThru bool // flush_interval 0: each request's lines go out at once
}

func openErrorLog(c config.WAFLog) (*errorLog, error) {
	w, closer, err := observe.OpenOutput(c.Output)
	if err != nil {
		return nil, err
	}
	interval := c.FlushInterval.D()
	if interval == 0 {
		interval = time.Hour // the ticker needs one; every write flushes
	}
	return &errorLog{out: observe.NewBufferedWriter(w, closer, int(c.BufferSize), interval), writeThru: c.FlushInterval == 0}, nil
}

func (l *errorLog) write(lines []string) {
	if len(lines) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range lines {
		_, _ = io.WriteString(l.out, line)
	}
	if l.writeThru {
		_ = l.out.Flush()
	}
}

// Close flushes and closes the output.
func (l *errorLog) Close() error { return l.out.Close() }

// maxLogged bounds a logged message or data field, as Coraza does.
const maxLogged = 280

// formatLine renders mr; denied says whether mr is the rule that
// interrupted the transaction.
func formatLine(mr types.MatchedRule, denied bool, red *observe.Redactor, now time.Time) string {
	rule := mr.Rule()
	mds := mr.MatchedDatas()
	var msg, data string
	for _, md := range mds {
		if md.Message() != "" {
			msg, data = md.Message(), md.Data()
			break
		}
	}
	if msg == "" && len(mds) > 0 {
		msg, data = mds[0].Message(), mds[0].Data()
	}
	var secret string
	for _, md := range mds {
		if sensitiveMatch(md, red) && md.Value() != "" {
			secret = md.Value()
			// The value may appear in the message and data in any
			// transformed form; none of it is kept.
			where := md.Variable().Name()
			if md.Key() != "" {
				where += ":" + md.Key()
			}
			data = observe.Redacted + " within " + where
			msg = strings.ReplaceAll(msg, md.Value(), observe.Redacted)
			break
		}
	}
	msg, data = clipField(msg), clipField(data)
	uri := mr.URI()
	if secret != "" {
		// A path segment can carry the same value (/reset/<token>).
		uri = strings.ReplaceAll(uri, secret, observe.Redacted)
	}

	var b strings.Builder
	b.Grow(512)
	b.WriteString(now.UTC().Format("2006-01-02T15:04:05.000000Z"))
	b.WriteString(" [client ")
	b.WriteString(strconv.Quote(mr.ClientIPAddress()))
	b.WriteString("] ")
	if denied {
		b.WriteString("Coraza: Access denied (phase " + strconv.Itoa(int(rule.Phase())) + "). ")
	} else {
		b.WriteString("Coraza: Warning. ")
	}
	// The message may carry request values (a parameter name); written
	// bare here, it must not be able to start a line of its own.
	b.WriteString(escapeControls(msg))
	field := func(name, v string) {
		b.WriteString(" [" + name + " ")
		b.WriteString(strconv.Quote(v))
		b.WriteByte(']')
	}
	field("file", rule.File())
	field("line", strconv.Itoa(rule.Line()))
	field("id", strconv.Itoa(rule.ID()))
	field("rev", rule.Revision())
	field("msg", msg)
	field("data", data)
	field("severity", rule.Severity().String())
	field("ver", rule.Version())
	field("maturity", strconv.Itoa(rule.Maturity()))
	field("accuracy", strconv.Itoa(rule.Accuracy()))
	for _, t := range rule.Tags() {
		field("tag", t)
	}
	field("hostname", mr.ServerIPAddress())
	field("uri", redactURI(uri))
	field("unique_id", mr.TransactionID())
	return observe.Redact(b.String()) + "\n"
}

// escapeControls writes control bytes as \xNN, so a value can never break
// or forge a log line.
func escapeControls(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(c)&0xf, 16))
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func clipField(s string) string {
	if len(s) > maxLogged {
		return observe.Clip(s, maxLogged)
	}
	return s
}

// redactURI replaces the query's values, as the access log does.
func redactURI(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok {
		return uri
	}
	return path + "?" + observe.Query(query)
}

// sensitiveMatch reports whether md's value must not be logged: a header
// the access log redacts, any cookie, or an argument (query, form, JSON,
// XML, multipart) whose name says it holds a credential.
func sensitiveMatch(md types.MatchData, red *observe.Redactor) bool {
	key := md.Key()
	switch md.Variable() {
	case variables.RequestHeaders, variables.ResponseHeaders:
		return red.Sensitive(key) || observe.CredentialName(key)
	case variables.RequestCookies:
		return true
	case variables.Args, variables.ArgsGet, variables.ArgsPost, variables.ArgsPath, variables.RequestXML,
		variables.MultipartPartHeaders, variables.Files:
		if i := strings.LastIndexAny(key, ".]"); i >= 0 && i+1 < len(key) {
			key = key[i+1:]
		}
		return observe.CredentialName(key)
	}
	return false
}

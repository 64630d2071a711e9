package secmon

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// sdID is the SD-ID of the structured data element every message carries.
// 32473 is the private enterprise number RFC 5612 reserves for
// documentation; a site with its own number can map the element by name.
const sdID = "portcullis@32473"

// maxSyslogRetry caps the reconnection backoff.
const maxSyslogRetry = 30 * time.Second

// syslogShipper sends RFC 5424 messages over TLS (RFC 5425: octet-counting
// framing, "MSG-LEN SP SYSLOG-MSG"), or over plain TCP when insecure. It
// owns one connection and one goroutine; messages wait in a bounded buffer
// while the collector is away, and what does not fit is dropped and
// counted. Formatting happens on the monitor goroutine, so the buffer
// holds finished frames.
type syslogShipper struct {
	cfg      config.Syslog
	tls      *tls.Config // nil when insecure
	facility int
	host     string
	procID   string
	min      secevent.Severity
	metrics  *metrics
	log      *slog.Logger

	ch   chan []byte
	stop chan struct{}
	done chan struct{}
	// dial is replaced in tests.
	dial func(ctx context.Context) (net.Conn, error)
}

func newSyslog(cfg config.Syslog, m *metrics, log *slog.Logger) (*syslogShipper, error) {
	s := &syslogShipper{cfg: cfg, facility: config.SyslogFacilities[cfg.Facility], procID: strconv.Itoa(os.Getpid()),
		metrics: m, log: log, ch: make(chan []byte, cfg.BufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	s.min, _ = secevent.ParseSeverity(cfg.MinSeverity)
	s.host = cfg.Hostname
	if s.host == "" {
		s.host, _ = os.Hostname()
	}
	s.host = headerField(s.host, 255)
	if !cfg.Insecure {
		host, _, _ := net.SplitHostPort(cfg.Address)
		name := cfg.TLS.ServerName
		if name == "" {
			name = host
		}
		tc, err := tlsconf.ClientConfig(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile, name)
		if err != nil {
			return nil, config.FieldError{Path: "security.syslog.tls", Message: err.Error()}
		}
		s.tls = tc
	}
	s.dial = s.dialCollector
	m.syslogUp.Set(0)
	go s.run()
	return s, nil
}

func (s *syslogShipper) dialCollector(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.DialTimeout.D()}
	if s.tls == nil {
		return d.DialContext(ctx, "tcp", s.cfg.Address)
	}
	td := &tls.Dialer{NetDialer: d, Config: s.tls}
	return td.DialContext(ctx, "tcp", s.cfg.Address)
}

// send formats ev and queues it; it never blocks.
func (s *syslogShipper) send(ev *secevent.Event) {
	if ev.Severity < s.min {
		return
	}
	frame := frame5425(format5424(nil, s.facility, ev, s.host, s.cfg.AppName, s.procID))
	select {
	case s.ch <- frame:
	default:
		s.metrics.sinkDropped.WithLabelValues(sinkSyslog).Inc()
	}
}

func (s *syslogShipper) run() {
	defer close(s.done)
	var conn net.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	backoff := s.cfg.RetryInterval.D()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var pending []byte
	for {
		if pending == nil {
			select {
			case pending = <-s.ch:
			case <-s.stop:
				// Flush what is queued while the connection holds.
				for conn != nil && len(s.ch) > 0 {
					if s.write(conn, <-s.ch) != nil {
						break
					}
				}
				return
			}
		}
		if conn == nil {
			dctx, dcancel := context.WithTimeout(ctx, s.cfg.DialTimeout.D())
			c, err := s.dial(dctx)
			dcancel()
			if err != nil {
				s.metrics.sinkErrors.WithLabelValues(sinkSyslog).Inc()
				s.log.Warn("syslog collector unreachable; events wait in the buffer", "address", s.cfg.Address,
					"error", err.Error(), "retry_in", backoff.String())
				select {
				case <-time.After(backoff):
				case <-s.stop:
					return
				}
				backoff = min(2*backoff, maxSyslogRetry)
				continue
			}
			conn, backoff = c, s.cfg.RetryInterval.D()
			s.metrics.syslogUp.Set(1)
		}
		if err := s.write(conn, pending); err != nil {
			// The message is sent again on the next connection: at least
			// once, never silently lost while it is buffered.
			s.metrics.sinkErrors.WithLabelValues(sinkSyslog).Inc()
			s.metrics.syslogUp.Set(0)
			_ = conn.Close()
			conn = nil
			continue
		}
		pending = nil
	}
}

func (s *syslogShipper) write(conn net.Conn, frame []byte) error {
	_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout.D()))
	if _, err := conn.Write(frame); err != nil {
		return err
	}
	s.metrics.sent.WithLabelValues(sinkSyslog).Inc()
	return nil
}

// close stops the shipper after flushing what is queued, waiting at most
// a few seconds.
func (s *syslogShipper) close() {
	close(s.stop)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	s.metrics.syslogUp.Set(1)
}

// frame5425 prefixes msg with its length (RFC 5425 §4.3 octet counting).
func frame5425(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+8)
	out = strconv.AppendInt(out, int64(len(msg)), 10)
	out = append(out, ' ')
	return append(out, msg...)
}

// format5424 appends ev as an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [portcullis@32473 ...] MSG
//
// The structured data holds the event's fields (values escaped per §6.3.3);
// MSG is the same JSON the security log writes, so a SIEM can parse either.
func format5424(b []byte, facility int, ev *secevent.Event, host, app, procID string) []byte {
	v := viewOf(ev)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facility*8+ev.Severity.Syslog()), 10)
	b = append(b, ">1 "...)
	b = ev.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, nilvalue(headerField(host, 255))...)
	b = append(b, ' ')
	b = append(b, nilvalue(headerField(app, 48))...)
	b = append(b, ' ')
	b = append(b, nilvalue(headerField(procID, 128))...)
	b = append(b, ' ')
	b = append(b, nilvalue(headerField(string(ev.Type), 32))...)
	b = append(b, " ["+sdID...)
	param := func(name, value string) {
		if value == "" {
			return
		}
		b = append(b, ' ')
		b = append(b, name...)
		b = append(b, `="`...)
		b = appendParamValue(b, value)
		b = append(b, '"')
	}
	param("id", v.ID)
	param("type", v.Type)
	param("severity", v.Severity)
	param("request_id", v.RequestID)
	param("client_ip", v.ClientIP)
	param("consumer", v.Consumer)
	param("credential_id", v.CredentialID)
	param("route", v.Route)
	param("method", v.Method)
	if v.Status != 0 {
		param("status", strconv.Itoa(v.Status))
	}
	param("reason", v.Reason)
	param("actor", v.Actor)
	param("detector", v.Detector)
	param("action", v.Action)
	param("subject", v.Subject)
	param("block_id", v.BlockID)
	b = append(b, "] "...)
	return append(b, encodeView(v)...)
}

// appendParamValue escapes '"', '\' and ']' (RFC 5424 §6.3.3) and
// replaces invalid UTF-8 (PARAM-VALUE is UTF-8).
func appendParamValue(b []byte, s string) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', ']':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// headerField keeps a header field within PRINTUSASCII (33 to 126) and n
// bytes; "" becomes the NILVALUE in nilvalue.
func headerField(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return strings.Map(func(r rune) rune {
				if r < 33 || r > 126 || r >= utf8.RuneSelf {
					return '_'
				}
				return r
			}, s)
		}
	}
	return s
}

func nilvalue(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

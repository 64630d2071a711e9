package secmon

import (
	"reflect"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// shippers are the destinations events are shipped to. They are rebuilt
// on a reload only where their settings changed, so an unchanged syslog
// connection or webhook queue carries on.
type shippers struct {
	log    *secLog
	syslog *syslogShipper
	hooks  []*webhook
}

func (m *Monitor) buildShippers(cfg config.Security, old *shippers) (_ *shippers, err error) {
	s := &shippers{}
	var built []interface{ close() }
	defer func() {
		if err != nil {
			for _, b := range built {
				b.close()
			}
		}
	}()
	switch {
	case !*cfg.Log.Enabled:
	case old != nil && old.log != nil && reflect.DeepEqual(old.log.cfg, cfg.Log):
		s.log = old.log
	default:
		if s.log, err = newSecLog(cfg.Log, m.metrics); err != nil {
			return nil, err
		}
		built = append(built, s.log)
	}
	switch {
	case !cfg.Syslog.Enabled:
	case old != nil && old.syslog != nil && reflect.DeepEqual(old.syslog.cfg, cfg.Syslog):
		s.syslog = old.syslog
	default:
		if s.syslog, err = newSyslog(cfg.Syslog, m.metrics, m.log); err != nil {
			return nil, err
		}
		built = append(built, s.syslog)
	}
	for i, wc := range cfg.Webhooks {
		var w *webhook
		if old != nil {
			for _, ow := range old.hooks {
				if reflect.DeepEqual(ow.cfg, wc) {
					w = ow
				}
			}
		}
		if w == nil {
			if w, err = newWebhook(wc, config.Index("security.webhooks", i), m.metrics, m.log, m.now); err != nil {
				return nil, err
			}
			built = append(built, w)
		}
		s.hooks = append(s.hooks, w)
	}
	return s, nil
}

// send ships ev to every destination that takes it; it never blocks.
func (s *shippers) send(ev *secevent.Event) {
	var line []byte
	body := func() []byte {
		if line == nil {
			line = encode(ev)
		}
		return line
	}
	if s.log != nil {
		s.log.send(ev, body)
	}
	if s.syslog != nil {
		s.syslog.send(ev)
	}
	for _, w := range s.hooks {
		w.send(ev, body)
	}
}

func (s *shippers) flush() {}

func (s *shippers) close() {
	s.closeReplaced(&shippers{})
}

// closeReplaced closes the destinations of s that next does not reuse.
func (s *shippers) closeReplaced(next *shippers) {
	if s.log != nil && s.log != next.log {
		s.log.close()
	}
	if s.syslog != nil && s.syslog != next.syslog {
		s.syslog.close()
	}
	for _, w := range s.hooks {
		reused := false
		for _, n := range next.hooks {
			reused = reused || n == w
		}
		if !reused {
			w.close()
		}
	}
}

// secLog is the security log: JSON lines through a buffered writer.
type secLog struct {
	cfg     config.SecurityLog
	min     secevent.Severity
	out     *observe.BufferedWriter
	metrics *metrics
}

func newSecLog(cfg config.SecurityLog, m *metrics) (*secLog, error) {
	w, closer, err := observe.OpenOutput(cfg.Output)
	if err != nil {
		return nil, config.FieldError{Path: "security.log.output", Message: err.Error()}
	}
	min, _ := secevent.ParseSeverity(cfg.MinSeverity)
	return &secLog{cfg: cfg, min: min, metrics: m,
		out: observe.NewBufferedWriter(w, closer, int(cfg.BufferSize), cfg.FlushInterval.D())}, nil
}

func (l *secLog) send(ev *secevent.Event, body func() []byte) {
	if ev.Severity < l.min {
		return
	}
	if _, err := l.out.Write(body()); err != nil {
		l.metrics.sinkErrors.WithLabelValues(sinkLog).Inc()
		return
	}
	l.metrics.sent.WithLabelValues(sinkLog).Inc()
}

func (l *secLog) close() { _ = l.out.Close() }

// CheckConfig loads the files the shipping destinations need (CA bundles,
// the syslog client certificate) without connecting or opening the log:
// the validate command.
func CheckConfig(cfg config.Security) error {
	var errs config.Errors
	if y := cfg.Syslog; y.Enabled && !y.Insecure {
		if _, err := tlsconf.ClientConfig(y.TLS.CAFile, y.TLS.CertFile, y.TLS.KeyFile, ""); err != nil {
			errs.Add("security.syslog.tls", "%v", err)
		}
	}
	for i, w := range cfg.Webhooks {
		if _, err := tlsconf.ClientConfig(w.CAFile, "", "", ""); err != nil {
			errs.Add(config.Join(config.Index("security.webhooks", i), "ca_file"), "%v", err)
		}
	}
	return errs.Err()
}

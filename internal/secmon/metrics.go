package secmon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/secevent"
)

// Sinks are the shipping destinations, as metric labels.
const (
	sinkLog     = "log"
	sinkSyslog  = "syslog"
	sinkWebhook = "webhook"
)

// Block kinds, as metric labels and in Block.Kind.
const (
	KindIP         = "ip"
	KindConsumer   = "consumer"
	KindCredential = "credential"
)

// Response modes (Block.Mode) and actions.
const (
	ModeBlock    = "block"
	ModeReadOnly = "read_only"

	ActionAlert   = "alert"
	ActionObserve = "observe"
)

// metrics are the monitor's Prometheus metrics. Every series a label can
// take is created at zero when the monitor is built, so alert rules over
// rate() work from the first scrape.
type metrics struct {
	events      *prometheus.CounterVec
	eventByType map[secevent.Type]prometheus.Counter
	dropped     prometheus.Counter
	detections  *prometheus.CounterVec
	imposed     *prometheus.CounterVec
	lifted      prometheus.Counter
	rejected    *prometheus.CounterVec
	storeErrors prometheus.Counter
	auditErrors prometheus.Counter
	sent        *prometheus.CounterVec
	sinkDropped *prometheus.CounterVec
	sinkErrors  *prometheus.CounterVec
	syslogUp    prometheus.Gauge
	deadLetters *prometheus.CounterVec
	evictions   *prometheus.CounterVec
	collectors  []prometheus.Collector
}

func newMetrics(m *Monitor) *metrics {
	x := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_events_total",
			Help: "Security events emitted, by type (counted when emitted, even if the queue drops them).",
		}, []string{"type"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_security_events_dropped_total",
			Help: "Security events and request observations dropped because the monitor's queue was full.",
		}),
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_detections_total",
			Help: "Detections, by detector.",
		}, []string{"detector"}),
		imposed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_blocks_imposed_total",
			Help: "Automatic responses imposed, by target kind (ip, consumer, credential) and mode (block, read_only).",
		}, []string{"kind", "mode"}),
		lifted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_security_blocks_lifted_total",
			Help: "Blocks lifted by an admin.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_blocked_requests_total",
			Help: "Requests refused by an automatic response, by target kind (ip, consumer, credential) and mode.",
		}, []string{"kind", "mode"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_security_block_store_errors_total",
			Help: "Operations on the shared block store that failed (the block is then kept on this instance only).",
		}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_security_audit_errors_total",
			Help: "Blocks imposed whose audit event could not be written to the audit trail.",
		}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_sink_events_total",
			Help: "Events delivered, by sink (log, syslog, webhook).",
		}, []string{"sink"}),
		sinkDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_sink_dropped_total",
			Help: "Events a sink's bounded buffer could not take, by sink.",
		}, []string{"sink"}),
		sinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_sink_errors_total",
			Help: "Failed writes, connections or delivery attempts, by sink.",
		}, []string{"sink"}),
		syslogUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portcullis_security_syslog_connected",
			Help: "1 while the syslog collector is connected (or syslog is off), 0 while it is unreachable.",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_webhook_dead_letters_total",
			Help: "Webhook events given up after every retry, by webhook.",
		}, []string{"webhook"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_security_detector_evictions_total",
			Help: "Sources a detector forgot early because it tracked security.detectors.max_tracked of them.",
		}, []string{"detector"}),
	}
	x.eventByType = map[secevent.Type]prometheus.Counter{}
	for _, t := range secevent.Types {
		x.eventByType[t] = x.events.WithLabelValues(string(t))
	}
	for _, d := range detectorNames {
		x.detections.WithLabelValues(d)
		x.evictions.WithLabelValues(d)
	}
	for _, k := range []string{KindIP, KindConsumer, KindCredential} {
		for _, mode := range []string{ModeBlock, ModeReadOnly} {
			x.imposed.WithLabelValues(k, mode)
			x.rejected.WithLabelValues(k, mode)
		}
	}
	for _, s := range []string{sinkLog, sinkSyslog, sinkWebhook} {
		x.sent.WithLabelValues(s)
		x.sinkDropped.WithLabelValues(s)
		x.sinkErrors.WithLabelValues(s)
	}
	x.syslogUp.Set(1)
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "portcullis_security_blocks_active",
		Help: "Blocks and read-only responses in force, as this instance knows them.",
	}, func() float64 { return float64(m.blocks.active()) })
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "portcullis_security_queue_length",
		Help: "Events waiting for the monitor.",
	}, func() float64 { return float64(len(m.queue)) })
	x.collectors = []prometheus.Collector{x.events, x.dropped, x.detections, x.imposed, x.lifted, x.rejected,
		x.storeErrors, x.auditErrors, x.sent, x.sinkDropped, x.sinkErrors, x.syslogUp, x.deadLetters, x.evictions, active, queued}
	return x
}

// event counts an emitted event.
func (x *metrics) event(t secevent.Type) {
	if c, ok := x.eventByType[t]; ok {
		c.Inc()
	}
}

package ratelimit

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the limiter's and brute-force defence's Prometheus metrics.
// They live with the Stores, so they outlive reloads like the state does.
type Metrics struct {
	decisions   *prometheus.CounterVec
	fallbacks   *prometheus.CounterVec
	storeErrors prometheus.Counter
	storeUp     prometheus.Gauge
	blocks      *prometheus.CounterVec
	blocked     *prometheus.CounterVec
	collectors  []prometheus.Collector
}

func newMetrics(mem *MemoryStore) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_ratelimit_decisions_total",
			Help: "Rate-limit policy decisions, by policy and result (allowed, rate_limited, quota_exceeded, concurrency_limited, skipped).",
		}, []string{"policy", "result"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_ratelimit_store_fallbacks_total",
			Help: "Policy decisions made without the Redis store, by policy and on_store_error mode.",
		}, []string{"policy", "mode"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_ratelimit_store_errors_total",
			Help: "Redis store operations that failed or were skipped because Redis was down.",
		}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portcullis_ratelimit_store_up",
			Help: "1 when the shared (Redis) rate-limit store is reachable, 0 while requests fall back.",
		}),
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_bruteforce_blocks_total",
			Help: "Brute-force blocks imposed, by source kind (ip, credential).",
		}, []string{"kind"}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_bruteforce_rejected_total",
			Help: "Requests rejected because their source is blocked, by source kind (ip, credential).",
		}, []string{"kind"}),
	}
	m.storeUp.Set(1)
	// Every series at zero from the start, so rate() alert rules work
	// from the first scrape.
	for _, kind := range []string{"ip", "credential"} {
		m.blocks.WithLabelValues(kind)
		m.blocked.WithLabelValues(kind)
	}
	keys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "portcullis_ratelimit_memory_keys",
		Help: "Keys held by the in-process rate-limit store.",
	}, func() float64 { return float64(mem.Len()) })
	evictions := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "portcullis_ratelimit_memory_evictions_total",
		Help: "Live keys the in-process store dropped to stay within max_keys.",
	}, func() float64 { return float64(mem.Evictions()) })
	m.collectors = []prometheus.Collector{m.decisions, m.fallbacks, m.storeErrors, m.storeUp, m.blocks, m.blocked, keys, evictions}
	return m
}

// BlockImposed counts a brute-force block of a source kind.
func (m *Metrics) BlockImposed(kind string) { m.blocks.WithLabelValues(kind).Inc() }

// BlockRejected counts a request rejected for a blocked source kind.
func (m *Metrics) BlockRejected(kind string) { m.blocked.WithLabelValues(kind).Inc() }

// StoreError counts a failed or skipped Redis operation.
func (m *Metrics) StoreError() { m.storeErrors.Inc() }

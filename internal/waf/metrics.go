package waf

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the WAF's Prometheus metrics. They live with the Engines,
// so they outlive reloads.
type metrics struct {
	requests *prometheus.CounterVec
	rules    *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_waf_requests_total",
			Help: "Requests the WAF inspected, by route and result (pass, blocked, detected, error); a response the WAF refused counts once more as blocked or detected.",
		}, []string{"route", "result"}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_waf_rule_matches_total",
			Help: "CRS detection rules that matched, by route, rule id and action (blocked: the request or response was refused; detected: it was let through, in detect mode or below the anomaly threshold).",
		}, []string{"route", "rule", "action"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.rules}
}

// record counts one verdict and the rules behind it.
func (m *metrics) record(route, result string, ids []int) {
	m.requests.WithLabelValues(route, result).Inc()
	m.rulesMatched(route, result, ids)
}

// rulesMatched counts the rules behind a verdict.
func (m *metrics) rulesMatched(route, result string, ids []int) {
	action := "detected"
	if result == resultBlocked {
		action = resultBlocked
	}
	for _, id := range ids {
		m.rules.WithLabelValues(route, strconv.Itoa(id), action).Inc()
	}
}

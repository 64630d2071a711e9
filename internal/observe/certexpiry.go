package observe

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CertExpiry is portcullis_tls_certificate_expiry_timestamp_seconds: the
// NotAfter of each listener's certificate, read from the certificate in
// use at scrape time, so a hot-reloaded certificate is reported at once
// (an expiry alert stops firing when the renewed one serves).
type CertExpiry struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	srcs map[string]func() time.Time
}

func newCertExpiry() *CertExpiry {
	return &CertExpiry{
		desc: prometheus.NewDesc("portcullis_tls_certificate_expiry_timestamp_seconds",
			"NotAfter of the certificate each TLS listener (public listeners and admin) serves now.", []string{"listener"}, nil),
		srcs: map[string]func() time.Time{},
	}
}

// Watch reports the certificate of listener as notAfter returns it.
func (c *CertExpiry) Watch(listener string, notAfter func() time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.srcs[listener] = notAfter
}

// Describe implements prometheus.Collector.
func (c *CertExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *CertExpiry) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, f := range c.srcs {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(f().Unix()), name)
	}
}

// Expiries is the NotAfter of each watched listener's certificate now, as
// a scrape would report it: for pages that show it (the console's health).
func (c *CertExpiry) Expiries() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]time.Time, len(c.srcs))
	for name, f := range c.srcs {
		out[name] = f()
	}
	return out
}

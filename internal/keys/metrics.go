package keys

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the verification path's metrics (from Stats), for the
// process's registry: a key store outage shows as verifications served
// stale.
func (s *Service) Collectors() []prometheus.Collector {
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
	}
	return []prometheus.Collector{
		counter("portcullis_keys_cache_hits_total", "API key verifications answered from the cache.", s.stats.Hits.Load),
		counter("portcullis_keys_cache_misses_total", "API key verifications that read the key store.", s.stats.Misses.Load),
		counter("portcullis_keys_stale_total", "API key verifications served from an expired cache entry because the key store was unreachable.", s.stats.Stale.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "portcullis_keys_store_up",
			Help: "0 while the key store is unreachable (cached keys are served stale), else 1."},
			func() float64 {
				if s.storeDown.Load() {
					return 0
				}
				return 1
			}),
	}
}

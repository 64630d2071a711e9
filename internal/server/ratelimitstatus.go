package server

import (
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
)

// RouteRateLimits is the rate-limit policies one route applies
// (rate_limits.global, then the route's own), described for people: the
// console's health page shows them. Consumer tiers are not included.
type RouteRateLimits struct {
	Route    string
	Policies []PolicySummary
}

// PolicySummary is one policy in words.
type PolicySummary struct {
	Name, Limits, Key string
}

func rateLimitStatus(cfg *config.Config) []RouteRateLimits {
	byName := map[string]*config.RateLimitPolicy{}
	for i := range cfg.RateLimits.Policies {
		byName[cfg.RateLimits.Policies[i].Name] = &cfg.RateLimits.Policies[i]
	}
	out := make([]RouteRateLimits, 0, len(cfg.Routes))
	for _, rt := range cfg.Routes {
		r := RouteRateLimits{Route: rt.Name}
		for _, n := range append(append([]string{}, cfg.RateLimits.Global...), rt.RateLimits...) {
			if p := byName[n]; p != nil {
				r.Policies = append(r.Policies, summarize(p))
			}
		}
		out = append(out, r)
	}
	return out
}

func summarize(p *config.RateLimitPolicy) PolicySummary {
	var parts []string
	if p.Rate != nil {
		s := fmt.Sprintf("%d per %s", p.Rate.Limit, p.Rate.Period)
		if p.Rate.Burst != 0 && p.Rate.Burst != p.Rate.Limit {
			s += fmt.Sprintf(" (burst %d)", p.Rate.Burst)
		}
		parts = append(parts, s)
	}
	if p.Quota != nil {
		parts = append(parts, fmt.Sprintf("quota %d per %s", p.Quota.Limit, p.Quota.Period))
	}
	if p.Concurrency > 0 {
		parts = append(parts, fmt.Sprintf("%d in flight", p.Concurrency))
	}
	return PolicySummary{Name: p.Name, Limits: strings.Join(parts, "; "), Key: strings.Join(p.Key, "+")}
}

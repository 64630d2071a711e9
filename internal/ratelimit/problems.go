package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/problem"
)

// Problem types of rejected requests (documented in docs/problems.md). Quota
// exhaustion and rate limiting are distinct so clients can tell "slow
// down" from "come back next period".
const (
	TypeRateLimited        = "rate-limited"
	TypeQuotaExceeded      = "quota-exceeded"
	TypeConcurrencyLimited = "concurrency-limited"
	TypeUnavailable        = "rate-limit-unavailable"
)

// rejection is the 429 for a rejected batch: quota exhaustion first (it
// lasts longest), then rate, then concurrency. Retry-After is the longest
// wait among the checks that failed, at least one second.
func rejection(checks []Check, owners []*bound, res []Result) *problem.Error {
	var retry time.Duration
	kind := Kind(0)
	var who *policy
	for i, r := range res {
		if r.Allowed {
			continue
		}
		retry = max(retry, r.RetryAfter)
		c := checks[i]
		if kind == 0 || c.Kind == KindQuota || c.Kind == KindRate && kind == KindConcurrency {
			kind, who = c.Kind, owners[i].p
		}
		owners[i].p.decisions[resultFor(c.Kind)].Inc()
	}
	var pe *problem.Error
	switch kind {
	case KindQuota:
		pe = problem.New(http.StatusTooManyRequests, TypeQuotaExceeded, "Quota Exceeded",
			"The request quota for the current period is used up.")
	case KindConcurrency:
		pe = problem.New(http.StatusTooManyRequests, TypeConcurrencyLimited, "Too Many Requests",
			"Too many requests from this client are in progress.")
	default:
		pe = problem.New(http.StatusTooManyRequests, TypeRateLimited, "Too Many Requests",
			"The rate limit for this client has been reached.")
	}
	pe.Cause = fmt.Errorf("rate-limit policy %q", who.name)
	return pe.WithHeader("Retry-After", strconv.FormatInt(max(ceilSeconds(retry), 1), 10))
}

func resultFor(k Kind) int {
	switch k {
	case KindQuota:
		return resQuotaExceeded
	case KindConcurrency:
		return resConcurrencyLimited
	}
	return resRateLimited
}

// storeUnavailable is the 503 of a policy with on_store_error: deny while
// Redis is unreachable.
func storeUnavailable(policy string, cause error) *problem.Error {
	return problem.Unavailable(TypeUnavailable, "Rate limits cannot be checked right now.", time.Second,
		fmt.Errorf("rate-limit policy %q: store unavailable: %w", policy, cause))
}

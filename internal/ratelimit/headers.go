package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// Header names, in canonical form so they can be set without
// canonicalising on every request.
const (
	headerPolicy       = "Ratelimit-Policy"
	headerLimit        = "Ratelimit"
	headerLegacyLimit  = "X-Ratelimit-Limit"
	headerLegacyRemain = "X-Ratelimit-Remaining"
	headerLegacyReset  = "X-Ratelimit-Reset"
)

// setHeaders writes the IETF httpapi RateLimit-Policy and RateLimit fields
// (structured-field lists, one item per rate limit and quota:
// `"api";q=100;w=1` and `"api";r=42;t=1`) and, when legacy is set, the
// X-RateLimit-* trio for the item with the least remaining. Checks that
// were not counted (store down, on_store_error: allow) and concurrency
// limits have no item. When the request was rejected nothing was charged,
// so the remaining units of the checks that passed include this request's
// cost.
func setHeaders(h http.Header, checks []Check, owners []*bound, res []Result, charged []bool, allowed, legacy bool) {
	// lim is built on the stack and appended to pol, which has room for
	// both: one string holds the two fields.
	var limBuf [256]byte
	pol, lim := make([]byte, 0, 112*len(checks)), limBuf[:0]
	best := -1
	var bestQ, bestR, bestT int64
	for i, c := range checks {
		if !charged[i] || c.Kind == KindConcurrency {
			continue
		}
		p := owners[i].p
		r := res[i]
		remaining := r.Remaining
		if !allowed && r.Allowed {
			remaining += c.Cost
		}
		remaining = max(remaining, 0)
		reset := ceilSeconds(r.Reset)
		if len(pol) > 0 {
			pol = append(pol, ", "...)
			lim = append(lim, ", "...)
		}
		var q int64
		if c.Kind == KindRate {
			q = p.rate.q
			pol = append(pol, p.rate.item...)
			lim = append(lim, '"')
			lim = append(lim, p.name...)
			lim = append(lim, '"')
		} else {
			win := c.Windows[1]
			q = c.Limit
			pol = append(pol, p.quota.name...)
			pol = append(pol, ";q="...)
			pol = strconv.AppendInt(pol, q, 10)
			pol = append(pol, ";w="...)
			pol = strconv.AppendInt(pol, int64(win.End.Sub(win.Start)/time.Second), 10)
			lim = append(lim, p.quota.name...)
		}
		lim = append(lim, ";r="...)
		lim = strconv.AppendInt(lim, remaining, 10)
		lim = append(lim, ";t="...)
		lim = strconv.AppendInt(lim, reset, 10)
		if best < 0 || remaining < bestR {
			best, bestQ, bestR, bestT = i, q, remaining, reset
		}
	}
	if best < 0 {
		return
	}
	// One string and one slice backing for both fields (each a full
	// slice, so an append cannot spill into the other).
	both := string(append(pol, lim...))
	vals := [...]string{both[:len(pol)], both[len(pol):]}
	set := vals[:]
	h[headerPolicy] = set[0:1:1]
	h[headerLimit] = set[1:2:2]
	if legacy {
		h[headerLegacyLimit] = []string{strconv.FormatInt(bestQ, 10)}
		h[headerLegacyRemain] = []string{strconv.FormatInt(bestR, 10)}
		h[headerLegacyReset] = []string{strconv.FormatInt(bestT, 10)}
	}
}

// ceilSeconds rounds d up to whole seconds (the unit of t and Retry-After).
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

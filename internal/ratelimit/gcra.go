package ratelimit

// Time inside the algorithms is integer microseconds: the Redis script
// works in the same unit (Lua numbers are doubles, exact up to 2^53 µs,
// about 285 years), so both stores compute identical results.

// gcraOutcome is one GCRA decision.
type gcraOutcome struct {
	tat       int64 // the theoretical arrival time to store (unchanged when denied)
	allowed   bool
	remaining int64
	reset     int64 // µs until the bucket is full again
	retry     int64 // µs until the request could pass (when denied)
}

// gcra is the generic cell rate algorithm: a request of cost units at now
// passes when the theoretical arrival time, pushed back by cost emission
// intervals, is at most burst intervals ahead of now. State is one number
// per key (tat). redis.lua implements the same arithmetic.
func gcra(tat, now, interval, burst, cost int64) gcraOutcome {
	if tat < now {
		tat = now
	}
	tau := burst * interval
	next := tat + cost*interval
	if next-now <= tau {
		return gcraOutcome{tat: next, allowed: true, remaining: (tau - (next - now)) / interval, reset: next - now}
	}
	return gcraOutcome{tat: tat, remaining: (tau - (tat - now)) / interval, reset: tat - now, retry: next - now - tau}
}

// quotaOutcome decides a quota check given the count so far in the window
// ending at end.
func quotaOutcome(count, limit, cost, now, end int64) Result {
	if count+cost <= limit {
		return Result{Allowed: true, Remaining: limit - count - cost, Reset: usDur(end - now)}
	}
	return Result{Remaining: max(limit-count, 0), Reset: usDur(end - now), RetryAfter: usDur(end - now)}
}

// pickWindow returns the index of the window containing now, or 1 (the
// caller's current window) when none does.
func pickWindow(ws *[3]Window, now int64) int {
	for i := range ws {
		if us(ws[i].Start) <= now && now < us(ws[i].End) {
			return i
		}
	}
	return 1
}

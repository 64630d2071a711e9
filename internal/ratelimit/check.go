package ratelimit

import (
	"context"
	"errors"
	"time"
)

// Kind is what a Check limits.
type Kind uint8

// Check kinds.
const (
	// KindRate is a GCRA rate limit: one timestamp per key.
	KindRate Kind = iota + 1
	// KindQuota is a counter per calendar window.
	KindQuota
	// KindConcurrency is a count of requests in flight.
	KindConcurrency
)

// Check is one limit applied to one key. A Store applies a batch of checks
// atomically: either every check passes and all of them are charged, or
// nothing is charged.
type Check struct {
	// Kind selects the algorithm and which fields below apply.
	Kind Kind
	// Key is the storage key (already namespaced by policy and kind).
	Key string
	// Tag groups checks a Redis Cluster must keep in one hash slot: the
	// digest of the first part of the policy's key (the consumer, the
	// client IP...), so every key of one consumer shares a slot whatever
	// the policy. Set only for a clustered store.
	Tag string
	// Cost is how many units the request consumes (rate and quota).
	Cost int64

	// Interval is the GCRA emission interval: period / limit (rate).
	Interval time.Duration
	// Burst is how many units may be spent at once (rate).
	Burst int64

	// Limit is the quota per window, or the most requests in flight
	// (concurrency).
	Limit int64
	// Windows are the previous, current and next calendar windows as the
	// gateway's clock sees them (quota). The store picks the one containing
	// its own "now", so a Redis store counts by the Redis server's clock
	// even when this node's clock is off. Shared and never modified.
	Windows *[3]Window

	// Lease bounds how long an in-flight slot is held if it is never
	// released (an instance crashed) (concurrency).
	Lease time.Duration
	// Token identifies this request's in-flight slot (concurrency).
	Token string
}

// Window is a calendar window [Start, End).
type Window struct {
	Start, End time.Time
}

// Result is the outcome of one Check.
type Result struct {
	// Allowed reports whether this check alone would pass.
	Allowed bool
	// Remaining is how many units could still be spent right now (after
	// this request, when the whole batch was allowed).
	Remaining int64
	// Reset is how long until the limit is fully available again: the
	// bucket refilled (rate) or the window over (quota).
	Reset time.Duration
	// RetryAfter is how long until this request could pass, when it did
	// not.
	RetryAfter time.Duration
}

// Lease is an in-flight slot to give back when the request ends.
type Lease struct {
	Key   string
	Tag   string // the check's Tag
	Token string
}

// Failure is one source of a failed authentication to count.
type Failure struct {
	// Key identifies the source (client IP or credential), namespaced.
	Key string
	// Threshold is how many failures within the window block the source.
	Threshold int64
}

// Penalty is the brute-force block ladder.
type Penalty struct {
	// Window is how long failures are counted.
	Window time.Duration
	// Ladder is the block length for the 1st, 2nd, ... offence; the last
	// entry repeats.
	Ladder []time.Duration
	// Forget is how long offences are remembered.
	Forget time.Duration
}

// Store holds limiter state: the memory store for one instance, the Redis
// store for a cluster.
type Store interface {
	// Check applies checks atomically and returns one Result per check.
	// When any check fails nothing is charged.
	Check(ctx context.Context, checks []Check) ([]Result, error)
	// Release gives back in-flight slots taken by concurrency checks.
	Release(ctx context.Context, leases []Lease) error
	// Blocked returns how long the longest of keys stays blocked (0 when
	// none is).
	Blocked(ctx context.Context, keys []string) (time.Duration, error)
	// Fail records a failed authentication for every source and returns,
	// per source, the block it has just earned (0 for none).
	Fail(ctx context.Context, failures []Failure, p Penalty) ([]time.Duration, error)
}

// ErrUnavailable is returned, without touching the network, while the
// Redis store is considered down (between a failure and the next probe).
var ErrUnavailable = errors.New("rate-limit store unavailable")

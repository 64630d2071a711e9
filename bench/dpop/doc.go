// Package dpopbench measures what DPoP (RFC 9449) costs per request
// through the whole gateway chain: a bearer JWT against a DPoP-bound JWT
// with an ES256 or an EdDSA proof, its jti recorded in memory or in Redis,
// side by side in one run. It is a benchmark, not a test:
//
//	GOTOOLCHAIN=go1.27.3 go test -run '^$' -bench . -benchtime 3s ./bench/dpop
//
// It starts redis-server (from PATH) on a free loopback port for the Redis
// cases. cpu-ns/op is the gateway process's user and system CPU per
// request (getrusage), which excludes redis-server's own; ns/op is wall
// time, which includes the Redis round trip.
package dpopbench

// Package waf owns the gateway's web application firewall: Coraza v3 with
// the OWASP Core Rule Set v4 embedded in the binary (nothing to install).
//
// Compiling the rule set costs hundreds of milliseconds and about 20 MiB,
// so Engines (one per process) compiles one instance per paranoia level a
// configuration uses and keeps it across reloads while its rules do not
// change. Everything else a route chooses is applied per transaction on
// that shared instance: its thresholds and detect mode as CRS transaction
// variables, its exclusions as ctl: rule removals selected by a profile
// number only the gateway sets.
//
// The request stage runs CRS phases 1 and 2 in the Validate phase (after
// authentication and the one body read), fed from the body the gateway
// already holds; the response stage runs phases 3 and 4 on the upstream's
// answer within a budget. Coraza never touches the filesystem (see
// fsaccess.go): bodies stay in memory, counted in the body budget. A WAF
// error at request time fails closed with 500; a block is 403
// waf-blocked, which never names the rules. Matches go to the access log
// (rule ids, score), the security log, metrics, and, when enabled, the
// ModSecurity-format WAF log with values masked.
package waf

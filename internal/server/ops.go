package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/portcullis/portcullis/internal/lifecycle"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// opsHandler serves /healthz, /readyz, /metrics and, when enabled,
// /debug/pprof/.
func (s *Server) opsHandler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		status, body := s.readiness()
		writeJSON(w, status, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// readiness is ready when a configuration is loaded, every part of the
// runtime that reports readiness (lifecycle.Readiness: upstreams, remote
// JWKS) is ready and every registered check passes. A degraded report
// (lifecycle.IsDegraded) is listed under "warnings" with status "degraded"
// and still answers 200.
func (s *Server) readiness() (int, map[string]any) {
	rt := s.gw.Runtime()
	body := map[string]any{"status": "ready"}
	problems := map[string]string{}
	warnings := map[string]string{}
	// A degraded check (e.g. the key store is down but cached keys still
	// verify) is reported without taking the instance out of rotation.
	report := func(name string, err error) {
		switch {
		case err == nil:
		case lifecycle.IsDegraded(err):
			warnings[name] = err.Error()
		default:
			problems[name] = err.Error()
		}
	}
	for name, err := range rt.Ready() {
		report(name, err)
	}
	for name, check := range s.readyChecks {
		report(name, check())
	}
	if msg := s.reloadFailed.Load(); msg != nil {
		report("reload", lifecycle.DegradedError(*msg))
	}
	if len(warnings) > 0 {
		body["status"] = "degraded"
		body["warnings"] = warnings
	}
	if s.draining.Load() {
		problems["server"] = "shutting down"
	}
	if len(problems) > 0 {
		body["status"] = "not ready"
		body["problems"] = problems
		return http.StatusServiceUnavailable, body
	}
	return http.StatusOK, body
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

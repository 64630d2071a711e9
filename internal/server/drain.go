package server

import (
	"net/http"
	"sync/atomic"
)

// closeWhileDraining ends each HTTP/1.x connection after its next response
// once the server is shutting down (Connection: close), so a client opens
// its next connection through the load balancer, which by then is taking
// this instance out of rotation. Idle connections are left alone until
// the drain: closing one a client is about to reuse loses that request
// (HTTP/1.1 cannot tell an idle client "do not reuse" otherwise), which is
// why http.Server.SetKeepAlivesEnabled(false) is not used here — it closes
// every idle HTTP/1.1 connection at once. HTTP/2 has GOAWAY for this,
// which net/http sends when the drain (Shutdown) starts.
func closeWhileDraining(draining *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

package server

import "net/http"

// closeAmbiguousFraming ends the connection after every request whose body
// another HTTP parser could delimit differently, so bytes a front proxy
// sends after it are never parsed here as a request of their own (RFC 9112
// §6.1 and §6.3):
//
//   - chunked HTTP/1.1: net/http silently drops a Content-Length sent with
//     Transfer-Encoding: chunked, and a front proxy may have used it;
//   - any HTTP/1.0 request: net/http ignores Transfer-Encoding on HTTP/1.0
//     and removes the header, so no handler can tell a request that had one
//     from one that did not. HTTP/1.0 keep-alive is rare enough to give up.
//
// Plain HTTP/1.1 with Content-Length, and HTTP/2 (framed by the protocol),
// keep their connections.
func closeAmbiguousFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && (r.ProtoMinor == 0 || len(r.TransferEncoding) > 0) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

package server

import (
	"net"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/requestid"
)

// redirectHandler answers every plain-HTTP request with a 308 to the same
// path on the HTTPS listener. 308 keeps the method and body semantics, so a
// misconfigured client's POST is not silently turned into a GET.
type redirectHandler struct {
	httpsPort string // "" for 443
}

func newRedirectHandler(httpsAddr string) *redirectHandler {
	h := &redirectHandler{}
	h.setPort(httpsAddr)
	return h
}

// setPort takes the HTTPS listener's bound address; it is called before
// the redirect listener serves.
func (h *redirectHandler) setPort(httpsAddr string) {
	_, port, _ := net.SplitHostPort(httpsAddr)
	if port == "443" {
		port = ""
	}
	h.httpsPort = port
}

func (h *redirectHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(requestid.Header, requestid.New())
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	if !validRedirectHost(host) {
		problem.Write(w, r, problem.BadRequest("invalid-host", "The Host header is missing or invalid."))
		return
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if h.httpsPort != "" {
		host += ":" + h.httpsPort
	}
	uri := r.URL.RequestURI()
	if !strings.HasPrefix(uri, "/") { // "OPTIONS *"
		problem.Write(w, r, problem.BadRequest("invalid-path", "The request path is malformed or not allowed."))
		return
	}
	target := "https://" + host + uri
	w.Header().Set("Location", target)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusPermanentRedirect)
}

func validRedirectHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

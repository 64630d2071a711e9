// Command bareproxy is the baseline of the benchmark: Go's
// httputil.ReverseProxy with every setting at its default, as a team that
// writes "a quick Go proxy" would. Portcullis's CPU per request is compared
// with it.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
)

func main() {
	port := flag.Int("port", 18009, "TCP port (always bound to 127.0.0.1)")
	upstream := flag.String("upstream", "http://127.0.0.1:18000", "upstream base URL")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(ln, httputil.NewSingleHostReverseProxy(u)))
}

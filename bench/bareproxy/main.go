// Command bareproxy is the baseline of the benchmark: Go's
// httputil.ReverseProxy with every setting at its default, as a team that
// writes "a quick Go proxy" would. Portcullis's CPU per request is compared
// with it. With -tuned it keeps a large idle pool to the upstream instead of
// the default two connections: the floor for any net/http based proxy, which
// shows what Portcullis's own checks cost on top.
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
	tuned := flag.Bool("tuned", false, "keep 256 idle upstream connections (default: Go's 2)")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	if *tuned {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		rp.Transport = tr
	}
	log.Fatal(http.Serve(ln, rp))
}

package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/reqinfo"
)

// The forwarder's own exchange, used for every request except an allowed
// WebSocket upgrade (which keeps httputil.ReverseProxy for its tunnel). It
// keeps the reverse proxy's HTTP rules (RFC 9110 §7.6.1 hop-by-hop fields,
// Connection-named fields, "TE: trailers", 1xx relay, trailers, streaming
// flushes, an aborted stream on a failed copy) and drops what it paid for
// them: a deep Clone of the request, a second pass over the headers, a
// media-type parse and a trace per response.

// exchange sends r upstream and relays the answer to w. Errors before the
// response's header is written are returned (the caller turns them into
// problems); a failure while copying the body aborts the response.
func (f *Forwarder) exchange(ctx context.Context, w http.ResponseWriter, r *http.Request, info *reqinfo.Info) error {
	relay := withInformational(ctx, w, f.headers)
	ctx = httptrace.WithClientTrace(relay, &relay.trace)
	ctx = withOutbound(ctx, f.outboundStages)
	out := f.outbound(ctx, r, info)
	if out.Body != nil {
		// The transport may read the body after RoundTrip returns; a body
		// closed here stops it (as ReverseProxy does, Go issue 46866).
		defer out.Body.Close()
	}
	resp, err := f.up.RoundTrip(out)
	relay.in.finish()
	if err != nil {
		return err
	}
	removeHopByHop(resp.Header)
	if err := f.modifyResponse(resp); err != nil {
		resp.Body.Close()
		return err
	}
	dst := w.Header()
	for k, vs := range resp.Header {
		if prev, ok := dst[k]; ok {
			dst[k] = append(prev, vs...)
		} else {
			dst[k] = vs
		}
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = append(dst["Trailer"], strings.Join(names, ", "))
		// An HTTP/2 upstream may send content-length next to trailers;
		// over HTTP/1.1 trailers need chunked framing, which a length
		// would rule out.
		delete(dst, "Content-Length")
	}
	w.WriteHeader(resp.StatusCode)
	if err := f.copyBody(w, resp); err != nil {
		resp.Body.Close()
		info.UpstreamErr = err
		level := slog.LevelWarn // the upstream broke off
		if _, gone := err.(clientWriteError); gone {
			level = slog.LevelDebug // the client went away: nothing to act on
		}
		f.log.Log(ctx, level, "response body copy failed; stream aborted", "request_id", info.ID, "error", err)
		panic(http.ErrAbortHandler)
	}
	resp.Body.Close() // now, not deferred: it fills resp.Trailer
	if len(resp.Trailer) > 0 {
		// Forces chunking, so net/http cannot add a Content-Length to a
		// short body that has trailers.
		_ = http.NewResponseController(w).Flush()
	}
	if len(resp.Trailer) == announced {
		for k, vs := range resp.Trailer {
			dst[k] = append(dst[k], vs...)
		}
		return nil
	}
	for k, vs := range resp.Trailer {
		dst[http.TrailerPrefix+k] = append(dst[http.TrailerPrefix+k], vs...)
	}
	return nil
}

// outbound builds the request the upstream gets: a shallow copy of r with
// its own URL and a header map filled in one pass with what may cross,
// then the gateway's own fields (rewrite).
func (f *Forwarder) outbound(ctx context.Context, r *http.Request, info *reqinfo.Info) *http.Request {
	out := r.WithContext(ctx)
	u := *r.URL
	out.URL = &u
	out.RequestURI = ""
	out.Close = false
	if r.ContentLength == 0 {
		out.Body = nil // a nil body lets the transport retry a dead keep-alive connection
	}
	out.Header = f.forwardedHeader(r.Header)
	out.URL.RawQuery = cleanQuery(out.URL.RawQuery)
	f.rewrite(r, out, info)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // not Go's default
	}
	return out
}

// forwardedHeader copies the fields of in that may reach the upstream:
// not hop-by-hop, not named by Connection, not on the strip list, no "_"
// unless the route allows it. The value slices are shared with in, which
// nothing writes to after this point: outbound code replaces values
// (Set, Del, map assignment), never edits them in place.
func (f *Forwarder) forwardedHeader(in http.Header) http.Header {
	h := make(http.Header, len(in)+6)
	for k, vs := range in {
		if hopByHopRequest(k) || !f.route.AllowUnderscoreHeaders && strings.IndexByte(k, '_') >= 0 || f.headers.request.has(k) {
			continue
		}
		h[k] = vs
	}
	for _, v := range in["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				delete(h, http.CanonicalHeaderKey(name))
			}
		}
	}
	if httpguts.HeaderValuesContainsToken(in["Te"], "trailers") {
		// The client can take trailers, so the upstream may send them
		// (Go issue 21096); every other TE value is the gateway's own hop.
		h["Te"] = []string{"trailers"}
	}
	return h
}

// hopByHopRequest reports whether a request field is the client's
// connection's, never forwarded (RFC 9110 §7.6.1, and the fields the
// gateway itself sets or refuses on the way out: Upgrade is forwarded only
// by the WebSocket tunnel, HTTP2-Settings never).
func hopByHopRequest(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings":
		return true
	}
	return false
}

// cleanQuery drops the query's parameters that a server could read
// differently from the gateway (";" separators, broken %-escapes), as
// ReverseProxy does, so what the gateway checked is what the upstream
// parses. A clean query (nearly all) is returned as it is.
func cleanQuery(q string) string {
	for i := 0; i < len(q); {
		switch q[i] {
		case ';':
			return reencodeQuery(q)
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return reencodeQuery(q)
			}
			i += 3
		default:
			i++
		}
	}
	return q
}

func reencodeQuery(q string) string {
	v, _ := url.ParseQuery(q)
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// copyBody streams the upstream's body to w with a pooled buffer. Server-
// sent events and bodies of unknown length are flushed write by write, so
// a stream reaches the client as the upstream produces it; the rest is
// left to the server's own buffering.
func (f *Forwarder) copyBody(w http.ResponseWriter, resp *http.Response) error {
	var flush func() error
	if resp.ContentLength == -1 || eventStream(resp.Header["Content-Type"]) {
		flush = http.NewResponseController(w).Flush
	}
	buf := buffers.Get()
	defer buffers.Put(buf)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return clientWriteError{werr}
			}
			if flush != nil {
				if err := flush(); err != nil {
					return clientWriteError{err}
				}
			}
		}
		switch {
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return rerr
		}
	}
}

// clientWriteError is a failed write to the client mid-body.
type clientWriteError struct{ err error }

func (e clientWriteError) Error() string {
	return "writing the response to the client: " + e.err.Error()
}
func (e clientWriteError) Unwrap() error { return e.err }

// eventStream reports whether a Content-Type is text/event-stream,
// parameters and case aside, without parsing the media type.
func eventStream(ct []string) bool {
	if len(ct) == 0 {
		return false
	}
	base, _, _ := strings.Cut(ct[0], ";")
	return strings.EqualFold(strings.TrimSpace(base), "text/event-stream")
}

// Package validate owns checks of the request itself before it is
// forwarded: the body size limit, reading the body once within a memory
// budget, and, as they land, content types, structure and schemas.
package validate

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
)

// BodyLimit is the Admit-phase stage that rejects a request whose declared
// Content-Length exceeds limit with 413 before anything else is done, and
// caps a body of unknown length so that reading past the limit fails with
// 413 (see ReadBody).
//
// Every 413 goes out as soon as the limit is crossed. Over HTTP/1.x the
// connection is marked to close first: otherwise net/http, to reuse the
// connection, reads up to 256 KiB more of the unread body before it writes
// the response, and the client waits for a refusal it could have had at
// once.
func BodyLimit(limit int64) pipeline.Stage { return bodyLimit{limit} }

type bodyLimit struct{ limit int64 }

func (bodyLimit) Name() string          { return "body_limit" }
func (bodyLimit) Phase() pipeline.Phase { return pipeline.Admit }

func (s bodyLimit) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.ContentLength > s.limit {
			closeAfterResponse(w, r)
			return problem.PayloadTooLarge(s.limit)
		}
		if hasBody(r) {
			// The connection's own writer, not a wrapper: only it can mark
			// the connection to close when the limit is crossed, wherever
			// the body is read (ReadBody or the proxy).
			r.Body = http.MaxBytesReader(connWriter(w), r.Body, s.limit)
		}
		return next.ServeHTTP(w, r)
	})
}

// connWriter unwraps w (recorders and the like) down to the writer
// net/http gave the handler.
func connWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// closeAfterResponse makes an HTTP/1.x connection close after this
// response, so an unread body is never drained before it nor parsed as
// the next request after it. HTTP/2 is left alone: there a Connection
// header would shut down every other stream of the connection, and a
// refused stream's body costs nothing to drop.
func closeAfterResponse(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

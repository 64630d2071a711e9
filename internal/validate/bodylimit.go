// Package validate owns checks of the request itself before it is
// forwarded: body size limits today; content types and OpenAPI schemas as
// they land.
package validate

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
)

// StreamBufferBudget bounds the memory all requests together may use to
// hold bodies of unknown length while they are checked against the limit.
// Past it, such bodies stream and are cut where they cross the limit.
const StreamBufferBudget = 256 << 20

// streamBuffered is the memory in use under StreamBufferBudget.
var streamBuffered atomic.Int64

// BodyLimit rejects a request whose declared Content-Length exceeds limit
// with 413 before anything is forwarded, and caps a body of unknown length
// so that reading past the limit fails with 413 (see BufferBody).
//
// Every 413 goes out as soon as the limit is crossed. Over HTTP/1.x the
// connection is marked to close first: otherwise net/http, to reuse the
// connection, reads up to 256 KiB more of the unread body before it writes
// the response, and the client waits for a refusal it could have had at
// once.
func BodyLimit(limit int64) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if r.ContentLength > limit {
				closeAfterResponse(w, r)
				return problem.PayloadTooLarge(limit)
			}
			if hasBody(r) {
				// The connection's own writer, not a wrapper: only it can
				// mark the connection to close when the limit is crossed,
				// wherever the body is read (BufferBody or the proxy).
				r.Body = http.MaxBytesReader(connWriter(w), r.Body, limit)
			}
			return next.ServeHTTP(w, r)
		})
	}
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

// BufferBody reads a body of unknown length (chunked, or HTTP/2 without
// content-length; already capped by BodyLimit) into memory and forwards it
// with its length, so the upstream never sees part of a body that is then
// refused with 413. It runs after authentication and rate limits, so only
// admitted callers make the gateway hold memory, and all requests together
// hold at most StreamBufferBudget; past it, bodies stream and are cut where
// they cross the limit (the proxy answers 413).
func BufferBody(limit int64) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if r.ContentLength >= 0 || !hasBody(r) {
				return next.ServeHTTP(w, r)
			}
			if streamBuffered.Add(limit) > StreamBufferBudget {
				streamBuffered.Add(-limit)
				return next.ServeHTTP(w, r)
			}
			err := bufferBody(w, r, limit)
			streamBuffered.Add(-limit)
			if err != nil {
				return err
			}
			return next.ServeHTTP(w, r)
		})
	}
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// bufferBody reads r's body (already capped at limit) into memory and
// makes it a body of known length.
func bufferBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r.Body)
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		// Not closed here: closing drains up to 256 KiB of the rest
		// before the 413 could be written. The connection closes after it.
		closeAfterResponse(w, r)
		return problem.PayloadTooLarge(limit).WithCause(err)
	}
	_ = r.Body.Close()
	if err != nil {
		return problem.BadRequest("unreadable-body", "The request body could not be read.").WithCause(err)
	}
	r.ContentLength = int64(buf.Len())
	r.TransferEncoding = nil
	if buf.Len() == 0 {
		r.Body = http.NoBody
		return nil
	}
	r.Body = io.NopCloser(&buf)
	return nil
}

// Package validate owns checks of the request itself before it is
// forwarded: body size limits today; content types and OpenAPI schemas as
// they land.
package validate

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
)

// BodyLimit rejects a request whose declared Content-Length exceeds limit
// with 413 before anything is forwarded, and caps a streamed body so reading
// past the limit fails (the proxy then answers 413).
func BodyLimit(limit int64) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if r.ContentLength > limit {
				return problem.PayloadTooLarge(limit)
			}
			if r.Body != nil && r.Body != http.NoBody && (r.ContentLength < 0 || r.ContentLength > 0) {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			return next.ServeHTTP(w, r)
		})
	}
}

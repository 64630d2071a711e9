package validate

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// DefaultBudget is the memory all requests of a process may hold in read
// bodies at once.
const DefaultBudget = 256 << 20

// Budget bounds the memory all requests together hold in read bodies. One
// Budget serves a whole process (it outlives reloads). Memory is counted
// from the moment a body is read until its request has finished, upstream
// exchange included: a slow upstream cannot make the gateway hold more.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// InUse is the memory held now.
func (b *Budget) InUse() int64 { return b.used.Load() }

// Acquire reserves n bytes and reports whether they fit in the budget;
// every successful Acquire is matched by a Release of the same n. Other
// buffers of the request path (a response kept for validation) count in
// the same budget, so one number bounds what requests hold.
func (b *Budget) Acquire(n int64) bool { return b.acquire(n) }

// Release gives back n bytes of an Acquire.
func (b *Budget) Release(n int64) { b.release(n) }

func (b *Budget) acquire(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *Budget) release(n int64) { b.used.Add(-n) }

// ReadBody is the Body-phase stage: the route's one read of the request
// body. It runs after authentication and admission, so only admitted
// callers make the gateway hold memory, and reads when
//   - the body's length is unknown (chunked, or HTTP/2 without
//     content-length), so that a body over the limit is refused with 413
//     before the upstream sees any of it; or
//   - a later stage of the route needs the request's body (needed, nil
//     when no stage does: validation, WAF, signatures, idempotency), which
//     then sees exactly the bytes the upstream receives (reqinfo Body).
//
// The memory stays counted in budget until the request has finished.
// Past the budget, a body nobody needs streams (and is cut where it
// crosses the limit, with 413), and a body a stage needs is refused with
// 503: its checks must never be skipped. A route that needs neither keeps
// streaming.
func ReadBody(limit int64, budget *Budget, needed func(*http.Request) bool) pipeline.Stage {
	return readBody{limit: limit, budget: budget, needed: needed}
}

type readBody struct {
	limit  int64
	budget *Budget
	needed func(*http.Request) bool
}

func (readBody) Name() string          { return "body" }
func (readBody) Phase() pipeline.Phase { return pipeline.Body }

func (s readBody) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if !hasBody(r) {
			return next.ServeHTTP(w, r)
		}
		needed := s.needed != nil && s.needed(r)
		if r.ContentLength >= 0 && !needed {
			return next.ServeHTTP(w, r)
		}
		reserve := s.limit
		if r.ContentLength >= 0 {
			reserve = r.ContentLength
		}
		if !s.budget.acquire(reserve) {
			if needed {
				return problem.Unavailable("body-budget-exhausted",
					"The gateway is holding too many request bodies; retry shortly.", time.Second, errBudget)
			}
			return next.ServeHTTP(w, r)
		}
		body, err := readAll(w, r, s.limit)
		s.budget.release(reserve - int64(len(body)))
		defer s.budget.release(int64(len(body)))
		if err != nil {
			return err
		}
		info := reqinfo.From(r.Context())
		info.Body, info.BodyRead = body, true
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
		r.Body = http.NoBody
		if len(body) > 0 {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		return next.ServeHTTP(w, r)
	})
}

var errBudget = errors.New("request body budget exhausted")

// clientGoneError is a body the client abandoned: logged with status 499.
type clientGoneError struct{ cause error }

func (e clientGoneError) Error() string   { return "client closed the request: " + e.cause.Error() }
func (e clientGoneError) Unwrap() error   { return e.cause }
func (e clientGoneError) StatusCode() int { return 499 }

// readAll reads r's body (capped at limit by BodyLimit).
func readAll(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(r.Body)
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		// Not closed here: closing drains up to 256 KiB of the rest
		// before the 413 could be written. The connection closes after it.
		closeAfterResponse(w, r)
		return nil, problem.PayloadTooLarge(limit).WithCause(err)
	}
	_ = r.Body.Close()
	if err != nil && r.Context().Err() != nil {
		// The connection failed mid-body (net/http then cancels the
		// request's context): nobody receives an answer, and the access
		// log says 499, as it does when the forwarder meets the same end.
		return nil, clientGoneError{err}
	}
	if err != nil {
		return nil, problem.BadRequest("unreadable-body", "The request body could not be read.").WithCause(err)
	}
	if r.ContentLength >= 0 && int64(buf.Len()) != r.ContentLength {
		return nil, problem.BadRequest("unreadable-body", "The request body could not be read.").
			WithCause(errors.New("body length " + strconv.Itoa(buf.Len()) + " differs from Content-Length"))
	}
	return buf.Bytes(), nil
}

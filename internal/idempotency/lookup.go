package idempotency

import (
	"context"
	"errors"
	"net/http"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Lookup is the first idempotency stage. It runs after authorisation and
// before admission (rate limits): it reads the key, answers at once when
// the key is in flight or in doubt, and marks a request whose key holds a
// completed answer as uncounted, so that the rate limits let a client's
// retry through to its replay. Whether that retry is the same request
// (same fingerprint) is decided by Enforce, after the body was read; a
// different one is refused there, and neither ever reaches the upstream.
type Lookup struct{ r *route }

// Name implements pipeline.Stage.
func (*Lookup) Name() string { return "idempotency_lookup" }

// Phase implements pipeline.Stage.
func (*Lookup) Phase() pipeline.Phase { return pipeline.Authorise }

// Handle implements pipeline.Stage.
func (l *Lookup) Handle(next pipeline.Handler) pipeline.Handler {
	r := l.r
	return pipeline.HandlerFunc(func(w http.ResponseWriter, req *http.Request) error {
		if !r.applies(req.Method) {
			return next.ServeHTTP(w, req)
		}
		lines := req.Header.Values(Header)
		if len(lines) == 0 {
			if r.cfg.Required {
				r.outcome("missing")
				return missingKey()
			}
			return next.ServeHTTP(w, req)
		}
		key, err := ParseKey(lines, r.cfg.MaxKeyBytes)
		if err != nil {
			r.outcome("invalid")
			return invalidKey(err)
		}
		info := reqinfo.From(req.Context())
		p := info.Principal
		if p == nil || p.ConsumerID == "" {
			return problem.Internal(errors.New("idempotency: no authenticated consumer"))
		}
		a := &attempt{key: StoreKey(p.Issuer(), p.ConsumerID, key)}
		e, ok, err := r.g.store.Get(req.Context(), a.key)
		if err != nil {
			return r.storeError(err)
		}
		if ok {
			if err := r.refuseEntry(e, nil); err != nil {
				return err
			}
			a.done = &e
			info.Uncounted = true
		}
		return next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), attemptKey{}, a)))
	})
}

package idempotency

import (
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/problem"
)

// ReplayHeader marks a response replayed from the store.
const ReplayHeader = "Idempotent-Replayed"

func missingKey() *problem.Error {
	return problem.BadRequest("idempotency-key-missing",
		"This operation requires an Idempotency-Key header (a unique value per operation, reused only to retry it).")
}

func invalidKey(err error) *problem.Error {
	return problem.BadRequest("idempotency-key-invalid",
		"The Idempotency-Key header must be one Structured Field string or one token of letters, digits and -_.:~+/=, within the route's length limit.").WithCause(err)
}

func inFlight() *problem.Error {
	return problem.New(http.StatusConflict, "idempotency-key-in-flight", "Conflict",
		"A request with this Idempotency-Key is still being processed; retry once it has completed.").WithHeader("Retry-After", "1")
}

func inDoubt(reason string) *problem.Error {
	pe := problem.New(http.StatusConflict, "idempotency-key-in-doubt", "Conflict",
		"A request with this Idempotency-Key reached the upstream but its outcome is unknown; it will not be sent again. "+
			"Check whether the operation took effect before retrying with a new key, or ask the operator to resolve the key.")
	pe.Extensions = map[string]any{"reason": reason}
	return pe
}

func mismatch() *problem.Error {
	return problem.New(http.StatusUnprocessableEntity, "idempotency-key-mismatch", "Unprocessable Content",
		"This Idempotency-Key was used for a different request (method, path, body or headers differ); use a new key for a new operation.")
}

func unavailable(cause error) *problem.Error {
	return problem.Unavailable("idempotency-unavailable",
		"The idempotency store cannot be reached, so the request was not forwarded; retry shortly.", time.Second, cause)
}

package problem

// Violation is one thing wrong with a request or response, as a client
// reads it in the "errors" member of a validation problem: where (a JSON
// pointer into the body, or a parameter and where it was sent) and a short
// fixed reason. It never carries the offending value: values can be card
// numbers, passwords or markup, and the client already has them.
type Violation struct {
	// Pointer locates the value in the JSON body (RFC 6901, "" for the
	// whole body); empty for a parameter.
	Pointer *string `json:"pointer,omitempty"`
	// Parameter names a path, query, header or cookie parameter.
	Parameter string `json:"parameter,omitempty"`
	// In is where the parameter was sent (path, query, header, cookie).
	In string `json:"in,omitempty"`
	// Reason says what is wrong, in words chosen by the gateway.
	Reason string `json:"reason"`
}

// AtPointer is a violation of the body at pointer p.
func AtPointer(p, reason string) Violation { return Violation{Pointer: &p, Reason: reason} }

// AtParameter is a violation of parameter name sent in in.
func AtParameter(name, in, reason string) Violation {
	return Violation{Parameter: name, In: in, Reason: reason}
}

// WithViolations returns e with its "errors" member set to vs.
func (e *Error) WithViolations(vs []Violation) *Error {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["errors"] = vs
	return e
}

// Package pipeline owns the one shape every step of a route's request path
// has: a Handler that returns an error instead of writing error responses,
// and Middleware that wraps one Handler in another.
package pipeline

import "net/http"

// Handler serves one request. A Handler that fails returns an error and
// writes nothing; the gateway turns the error into a problem response in one
// place (package problem).
type Handler interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// Middleware wraps next in one step of the request path.
type Middleware func(next Handler) Handler

// Chain returns h wrapped by mws so that mws[0] runs first.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			h = mws[i](h)
		}
	}
	return h
}

// Package pipeline owns the shape of a route's request path: a Handler
// that returns an error instead of writing error responses, the Stage
// every step of the path is (with the Phase it runs in), the optional roles
// a stage can take (ResponseStage, Replayer, OutboundStage, AuthObserver,
// BodyConsumer), and Compose, which orders a route's stages by phase
// around the forwarder.
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

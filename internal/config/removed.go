package config

import "reflect"

// removedKeys are keys an earlier version accepted, by the struct that held
// them, with what replaces them. Loading one fails with that message rather
// than a bare "unknown field", so an operator upgrading learns what to write
// instead, and a setting that changed meaning is never carried over
// silently.
var removedKeys = map[reflect.Type]map[string]string{
	reflect.TypeFor[PassiveEjection](): {
		"consecutive_failures": "was removed: a target is now ejected when failure_ratio of at least min_requests requests in one window fail; set those instead",
	},
}

// removedKey returns the message for key of struct type t, if it was removed.
func removedKey(t reflect.Type, key string) (string, bool) {
	msg, ok := removedKeys[t][key]
	return msg, ok
}

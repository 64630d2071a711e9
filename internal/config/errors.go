package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem with the configuration, located by its path
// (e.g. "routes[1].upstream").
type FieldError struct {
	Path    string
	Message string
}

// Error implements error.
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Errors is every problem found in a configuration. A nil or empty Errors
// means none.
type Errors []FieldError

// Add records a problem at path.
func (e *Errors) Add(path, format string, args ...any) {
	*e = append(*e, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Merge appends every problem of err (an Errors, a FieldError or any other
// error, which is recorded at path).
func (e *Errors) Merge(path string, err error) {
	switch v := err.(type) {
	case nil:
	case Errors:
		*e = append(*e, v...)
	case FieldError:
		*e = append(*e, v)
	default:
		e.Add(path, "%v", err)
	}
}

// Err returns e as an error, or nil if there are no problems.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Error implements error: one problem per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Join builds a child path: Join("routes[1]", "upstream").
func Join(parent, child string) string {
	if parent == "" {
		return child
	}
	if child == "" {
		return parent
	}
	return parent + "." + child
}

// Index builds an element path: Index("routes", 1) is "routes[1]".
func Index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// Covers reports whether path is, or is inside, the path of a problem in
// errs (a problem without a path covers nothing): what a later check says
// there is a consequence of that problem.
func Covers(errs Errors, path string) bool {
	for _, e := range errs {
		if e.Path == "" {
			continue
		}
		if e.Path == path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[") {
			return true
		}
	}
	return false
}

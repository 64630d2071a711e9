// Package sfguard parses Structured Field dictionaries (RFC 9651) that come
// from untrusted peers. It exists because the plain parser follows RFC 9651's
// "last one wins" rule for repeated dictionary keys and parameters: two
// components reading the same field could then disagree on what it says
// (one takes the first label, another the last). Here a repeated key or
// parameter anywhere in the field is an error, and the field is bounded in
// size before any parsing happens.
package sfguard

import (
	"errors"

	"github.com/dunglas/httpsfv"
)

var (
	// ErrTooLarge is returned when the combined field lines exceed the bound.
	ErrTooLarge = errors.New("structured field too large")
	// ErrMalformed is returned when the value is not a valid Dictionary.
	ErrMalformed = errors.New("structured field malformed")
	// ErrDuplicate is returned when a dictionary key or a parameter repeats.
	ErrDuplicate = errors.New("structured field repeats a key or parameter")
)

// CombinedLen is the length of the field lines joined with ", ", computed
// without joining them.
func CombinedLen(lines []string) int {
	n := 0
	for i, l := range lines {
		if i > 0 {
			n += 2
		}
		n += len(l)
	}
	return n
}

// ParseDictionary parses the field lines of one Dictionary field. maxBytes
// bounds their combined length (as joined with ", ").
func ParseDictionary(lines []string, maxBytes int) (*httpsfv.Dictionary, error) {
	if CombinedLen(lines) > maxBytes {
		return nil, ErrTooLarge
	}
	d, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil {
		return nil, ErrMalformed
	}
	members, params := separators(lines)
	if len(d.Names()) != members || countParams(d) != params {
		return nil, ErrDuplicate
	}
	return d, nil
}

// separators counts the dictionary members (top-level commas plus one) and
// the parameters (semicolons) outside quoted strings. Once the value has
// parsed, a comma outside a string can only separate dictionary members
// and a semicolon can only introduce a parameter (tokens, byte sequences,
// keys and numbers cannot hold either), so comparing these counts with what
// the parser kept reveals anything it silently overwrote.
func separators(lines []string) (members, params int) {
	nonEmpty := false
	for i, l := range lines {
		if i > 0 {
			members++ // the ", " the parser joins lines with
		}
		inString := false
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case inString && c == '\\':
				j++
			case c == '"':
				inString = !inString
			case inString:
			case c == ',':
				members++
			case c == ';':
				params++
			}
			if c != ' ' && c != '\t' {
				nonEmpty = true
			}
		}
	}
	if !nonEmpty {
		return 0, 0
	}
	return members + 1, params
}

func countParams(d *httpsfv.Dictionary) int {
	n := 0
	for _, name := range d.Names() {
		m, _ := d.Get(name)
		switch v := m.(type) {
		case httpsfv.Item:
			n += paramLen(v.Params)
		case httpsfv.InnerList:
			n += paramLen(v.Params)
			for _, it := range v.Items {
				n += paramLen(it.Params)
			}
		}
	}
	return n
}

func paramLen(p *httpsfv.Params) int {
	if p == nil {
		return 0
	}
	return len(p.Names())
}

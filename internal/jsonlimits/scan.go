package jsonlimits

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// Limits bound the structure of one JSON document.
type Limits struct {
	MaxDepth        int
	MaxObjectKeys   int
	MaxArrayLength  int
	MaxStringLength int // bytes as sent, escapes included, quotes excluded
	MaxNumberLength int
}

// NoLimits checks syntax only (duplicate keys, UTF-8 and surrogates
// included): for documents whose size is bounded elsewhere.
var NoLimits = Limits{MaxDepth: 10000, MaxObjectKeys: 1 << 30, MaxArrayLength: 1 << 30, MaxStringLength: 1 << 30, MaxNumberLength: 1 << 30}

// Kinds of Violation, a fixed set (metric labels).
const (
	KindSyntax       = "syntax"
	KindTruncated    = "truncated"
	KindTrailingData = "trailing_data"
	KindDuplicateKey = "duplicate_key"
	KindInvalidUTF8  = "invalid_utf8"
	KindInvalidEsc   = "invalid_escape"
	KindSurrogate    = "unpaired_surrogate"
	KindNumberRange  = "number_range"
	KindDepth        = "depth"
	KindObjectKeys   = "object_keys"
	KindArrayLength  = "array_length"
	KindStringLength = "string_length"
	KindNumberLength = "number_length"
)

// Violation is why a document was refused: a kind, where (a JSON pointer,
// at most maxPointer bytes) and a reason in the gateway's words. It never
// holds a value of the document, nor the parser's message (which quotes
// the input).
type Violation struct {
	Kind    string
	Pointer string
	Reason  string
}

func (v *Violation) Error() string {
	return "JSON body at \"" + v.Pointer + "\": " + v.Reason
}

// Limit reports whether the violation is a limit rather than malformed
// JSON.
func (v *Violation) Limit() bool {
	switch v.Kind {
	case KindDepth, KindObjectKeys, KindArrayLength, KindStringLength, KindNumberLength:
		return true
	}
	return false
}

// maxPointer bounds the pointers of replies: keys can be long, and a reply
// must stay small whatever the body was. A longer pointer is cut back to
// the nearest ancestor that fits.
const maxPointer = 256

// scanner is a reusable strict decoder: pooled, so a scan allocates
// nothing in the common case.
type scanner struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// Scan checks that body is exactly one JSON value, parsed strictly (RFC
// 8259 with RFC 7493's I-JSON rules: valid UTF-8, no unpaired surrogate
// escapes, unique object keys) and within l. It returns nil or the first
// violation.
//
// The parser is the one encoding/json/v2 is built on, not encoding/json:
// that one keeps the last of duplicate keys and turns "\ud800" into
// U+FFFD without a word, so what a schema was checked against and what a
// backend reads could differ.
func Scan(body []byte, l Limits) *Violation {
	s := scanners.Get().(*scanner)
	s.buf = *bytes.NewBuffer(body)
	s.dec.Reset(&s.buf)
	v := s.scan(l)
	// Not holding on to the body past the request.
	s.buf = bytes.Buffer{}
	s.dec.Reset(&s.buf)
	scanners.Put(s)
	return v
}

func (s *scanner) scan(l Limits) *Violation {
	d := &s.dec
	started := false
	for {
		depth := d.StackDepth()
		if started && depth == 0 {
			// The value is complete: only whitespace may follow.
			if _, err := d.ReadToken(); err != io.EOF {
				return violation(KindTrailingData, "", "data after the JSON value")
			}
			return nil
		}
		k := d.PeekKind()
		if k == 0 {
			_, err := d.ReadToken()
			return syntaxViolation(d, err)
		}
		started = true
		if k != '}' && k != ']' && depth > 0 {
			// The parent's count once this token is read.
			kind, n := d.StackIndex(depth)
			switch {
			case kind == '[' && n+1 > int64(l.MaxArrayLength):
				return violation(KindArrayLength, container(d, n), "array has more than "+strconv.Itoa(l.MaxArrayLength)+" elements")
			case kind == '{' && n%2 == 0 && n/2+1 > int64(l.MaxObjectKeys):
				return violation(KindObjectKeys, container(d, n), "object has more than "+strconv.Itoa(l.MaxObjectKeys)+" keys")
			}
		}
		switch k {
		case '{', '[':
			if depth+1 > l.MaxDepth {
				kind, n := d.StackIndex(depth)
				p := container(d, n)
				if depth > 0 {
					p = child(p, kind, n, d)
				}
				return violation(KindDepth, p, "nested deeper than "+strconv.Itoa(l.MaxDepth)+" levels")
			}
			fallthrough
		case '}', ']':
			if _, err := d.ReadToken(); err != nil {
				return syntaxViolation(d, err)
			}
		default:
			v, err := d.ReadValue()
			if err != nil {
				return syntaxViolation(d, err)
			}
			switch k {
			case '"':
				if len(v)-2 > l.MaxStringLength {
					return violation(KindStringLength, pointer(d), "string longer than "+strconv.Itoa(l.MaxStringLength)+" bytes")
				}
			case '0':
				if len(v) > l.MaxNumberLength {
					return violation(KindNumberLength, pointer(d), "number longer than "+strconv.Itoa(l.MaxNumberLength)+" characters")
				}
				if overflows(v) {
					return violation(KindNumberRange, pointer(d), "number out of range")
				}
			}
		}
	}
}

// container is the pointer of the innermost open object or array, given
// its count n so far: the most recently read value is its last member,
// or the container itself when it has none yet.
func container(d *jsontext.Decoder, n int64) string {
	p := d.StackPointer()
	if n > 0 {
		p = p.Parent()
	}
	return fit(string(p))
}

// child is the pointer of the member about to be read in the container
// at p (an array's next index, or the value of the object's last key).
func child(p string, kind jsontext.Kind, n int64, d *jsontext.Decoder) string {
	if kind == '[' {
		return fit(p + "/" + strconv.FormatInt(n, 10))
	}
	return pointer(d)
}

func pointer(d *jsontext.Decoder) string { return fit(string(d.StackPointer())) }

// fit cuts p back to the nearest ancestor of at most maxPointer bytes.
func fit(p string) string {
	for len(p) > maxPointer {
		p = p[:max(strings.LastIndexByte(p, '/'), 0)]
	}
	return p
}

func violation(kind, p, reason string) *Violation {
	return &Violation{Kind: kind, Pointer: p, Reason: reason}
}

// syntaxViolation classifies a parser error without keeping its message.
func syntaxViolation(d *jsontext.Decoder, err error) *Violation {
	var se *jsontext.SyntacticError
	p := ""
	if errors.As(err, &se) {
		p = fit(string(se.JSONPointer))
		err = se.Err
	}
	switch {
	case err == nil:
		return violation(KindSyntax, p, "malformed JSON")
	case errors.Is(err, jsontext.ErrDuplicateName):
		return violation(KindDuplicateKey, p, "duplicate object key")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return violation(KindTruncated, p, "unexpected end of JSON")
	}
	// The parser's own error values are internal; their wording is pinned
	// by the tests.
	switch msg := err.Error(); {
	case strings.Contains(msg, "invalid UTF-8"):
		return violation(KindInvalidUTF8, p, "invalid UTF-8")
	case strings.Contains(msg, "surrogate"):
		return violation(KindSurrogate, p, "unpaired UTF-16 surrogate escape")
	case strings.Contains(msg, "invalid escape sequence"):
		return violation(KindInvalidEsc, p, "invalid escape sequence")
	}
	return violation(KindSyntax, p, "malformed JSON")
}

// overflows reports whether the number v is beyond a float64 (I-JSON,
// RFC 7493 §2.2): parsers disagree on it (infinity, an error, an exact
// big decimal), so a bound checked by the gateway may not be the bound a
// backend applies.
func overflows(v []byte) bool {
	if len(v) < 300 && bytes.IndexAny(v, "eE") < 0 {
		return false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return err != nil && math.IsInf(f, 0)
}

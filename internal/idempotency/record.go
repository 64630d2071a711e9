package idempotency

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/sharedstate"
)

// What the shared store holds for one key. Everything is length-prefixed
// binary, versioned, and decoded defensively: a store is outside the
// process, and a value that does not decode is never replayed.
//
//	meta  (Reserve):   'M' 1 | fingerprint [32] | lease until, unix ms [8] | owner
//	value (Done):      'R' 1 | status [2] | header count [2] |
//	                   { name length [2] | name | value count [2] | { length [4] | value } } | body
//	value (InDoubt):   'D' 1 | reason
//
// The owner token is in the meta so that an operator can resolve a key the
// instance that reserved it will never settle (it crashed, or the upstream
// left it in doubt): the admin API acts as that owner.

// Fingerprint identifies a request's content: two requests with one key
// must agree on it.
type Fingerprint [sha256.Size]byte

type meta struct {
	fp         Fingerprint
	leaseUntil time.Time
	owner      string
}

const metaVersion = 1

func encodeMeta(m meta) []byte {
	b := make([]byte, 0, 2+len(m.fp)+8+len(m.owner))
	b = append(b, 'M', metaVersion)
	b = append(b, m.fp[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.leaseUntil.UnixMilli()))
	return append(b, m.owner...)
}

var errCorrupt = errors.New("idempotency: stored entry does not decode")

func decodeMeta(b []byte) (meta, error) {
	var m meta
	if len(b) < 2+len(m.fp)+8 || b[0] != 'M' || b[1] != metaVersion {
		return m, errCorrupt
	}
	b = b[2:]
	copy(m.fp[:], b)
	b = b[len(m.fp):]
	m.leaseUntil = time.UnixMilli(int64(binary.BigEndian.Uint64(b)))
	m.owner = string(b[8:])
	return m, nil
}

// stored is a response kept for replay.
type stored struct {
	status int
	header http.Header
	body   []byte
}

const valueVersion = 1

func encodeResponse(s stored) []byte {
	n := 6 + len(s.body)
	for k, vv := range s.header {
		n += 4 + len(k)
		for _, v := range vv {
			n += 4 + len(v)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, 'R', valueVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(s.status))
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.header)))
	for k, vv := range s.header {
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(vv)))
		for _, v := range vv {
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
	}
	return append(b, s.body...)
}

func decodeResponse(b []byte) (stored, error) {
	var s stored
	if len(b) < 6 || b[0] != 'R' || b[1] != valueVersion {
		return s, errCorrupt
	}
	s.status = int(binary.BigEndian.Uint16(b[2:]))
	n := int(binary.BigEndian.Uint16(b[4:]))
	b = b[6:]
	if s.status < 200 || s.status > 599 {
		return s, errCorrupt
	}
	s.header = make(http.Header, n)
	take := func(k int) ([]byte, bool) {
		if k > len(b) {
			return nil, false
		}
		v := b[:k]
		b = b[k:]
		return v, true
	}
	for range n {
		l, ok := take(2)
		if !ok {
			return s, errCorrupt
		}
		name, ok := take(int(binary.BigEndian.Uint16(l)))
		if !ok {
			return s, errCorrupt
		}
		c, ok := take(2)
		if !ok {
			return s, errCorrupt
		}
		count := int(binary.BigEndian.Uint16(c))
		vals := make([]string, 0, count)
		for range count {
			l, ok := take(4)
			if !ok {
				return s, errCorrupt
			}
			v, ok := take(int(binary.BigEndian.Uint32(l)))
			if !ok {
				return s, errCorrupt
			}
			vals = append(vals, string(v))
		}
		s.header[string(name)] = vals
	}
	s.body = b
	return s, nil
}

// Reasons a key was left in doubt, as stored and shown to operators.
const (
	ReasonTimeout       = "timeout"
	ReasonUpstream5xx   = "upstream_5xx"
	ReasonUpstreamError = "upstream_error"
	ReasonTooLarge      = "response_too_large"
	ReasonClientGone    = "client_gone"
	ReasonUnknown       = "unknown"
)

func encodeDoubt(reason string) []byte { return append([]byte{'D', valueVersion}, reason...) }

func decodeDoubt(b []byte) string {
	if len(b) < 2 || b[0] != 'D' {
		return ReasonUnknown
	}
	return string(b[2:])
}

// StoreKey is where a consumer's key lives in the shared store. The scope
// (the Redis Cluster hash tag) is the caller, the issuer qualifying token
// callers' consumer ids; both parts are hashed, so no value from a request
// reaches the store's key space as written.
func StoreKey(issuer, consumer, key string) sharedstate.Key {
	scope := sha256.Sum256([]byte(issuer + "\x00" + consumer))
	id := sha256.Sum256([]byte(key))
	return sharedstate.Key{
		Scope: "idem:" + base64.RawURLEncoding.EncodeToString(scope[:16]),
		ID:    base64.RawURLEncoding.EncodeToString(id[:]),
	}
}

// ReservationMeta is the meta Enforce reserves a key with, and DoubtValue
// the value of a key left in doubt: for tools and tests that must put a
// key in a given state (the admin API's tests, benchmarks).
func ReservationMeta(fp Fingerprint, owner string, leaseUntil time.Time) []byte {
	return encodeMeta(meta{fp: fp, leaseUntil: leaseUntil, owner: owner})
}

// DoubtValue is the value of a key left in doubt for reason.
func DoubtValue(reason string) []byte { return encodeDoubt(reason) }

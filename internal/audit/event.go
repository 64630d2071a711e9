// Package audit owns the audit trail of the control plane: one event per
// admin action (who, what, on which target, when, from where, with what
// outcome), appended to a table that refuses updates and deletes, and
// chained by HMAC-SHA-256 under a key derived from the server pepper, so
// that editing or removing an event behind the database's back (even by
// someone who can write the table and recompute hashes, but does not hold
// the pepper) is detected by Verify. Events never hold secrets: targets are
// ids.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Outcomes of an admin action.
const (
	OutcomeSuccess = "success"
	// OutcomeDenied: authenticated, but the role does not allow the action.
	OutcomeDenied = "denied"
	// OutcomeRejected: invalid input, unknown target or a conflict (4xx).
	OutcomeRejected = "rejected"
	// OutcomeError: the gateway failed (5xx).
	OutcomeError = "error"
)

// Event is one audited action.
type Event struct {
	// Seq is the position in the chain, from 1, assigned by the store.
	Seq int64 `json:"seq"`
	// Time is when the action finished.
	Time time.Time `json:"time"`
	// Actor is who acted: "token:<id>", "cert:<name>" or "cli:<command>".
	Actor string `json:"actor"`
	// Role is the actor's role.
	Role string `json:"role,omitempty"`
	// Action is e.g. "key.revoke".
	Action string `json:"action"`
	// Target is what was acted on, e.g. "key:<id>" ("" for lists).
	Target string `json:"target,omitempty"`
	// SourceIP is the client address of the admin request.
	SourceIP string `json:"source_ip,omitempty"`
	// Outcome is success, denied, rejected or error.
	Outcome string `json:"outcome"`
	// Status is the HTTP status answered (0 outside the API).
	Status int `json:"status,omitempty"`
	// Reason is why a person did it, when the action asks for one (a key
	// revocation); "" otherwise.
	Reason string `json:"reason,omitempty"`
	// PrevHash is the previous event's Hash (empty for the first).
	PrevHash []byte `json:"prev_hash"`
	// Hash is the Chainer's Sum(PrevHash, event).
	Hash []byte `json:"hash"`
	// ChainVersion is the version of the chain key Hash was made with
	// (the pepper version it is derived from; 1 before versions).
	ChainVersion uint32 `json:"chain_version"`
}

// Chainer links events with a secret key of a version.
type Chainer struct {
	key     []byte
	version uint32
}

// NewChainer returns a Chainer for key (at least 32 bytes), version 1.
func NewChainer(key []byte) (*Chainer, error) { return NewChainerVersion(key, 1) }

// NewChainerVersion returns a Chainer for key (at least 32 bytes) of
// version v (at least 1).
func NewChainerVersion(key []byte, v uint32) (*Chainer, error) {
	if len(key) < 32 {
		return nil, errors.New("audit chain key must be at least 32 bytes")
	}
	if v == 0 {
		return nil, errors.New("audit chain key version must be at least 1")
	}
	return &Chainer{key: append([]byte(nil), key...), version: v}, nil
}

// Version is the version events appended with c record.
func (c *Chainer) Version() uint32 { return c.version }

// Sum returns the hash of e linked to prev: HMAC-SHA-256 over prev and
// every field, each length-prefixed so no two events encode alike.
func (c *Chainer) Sum(prev []byte, e *Event) []byte {
	h := hmac.New(sha256.New, c.key)
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put([]byte("portcullis-audit-v1"))
	put(prev)
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	put(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UnixMicro()))
	put(n[:])
	for _, s := range []string{e.Actor, e.Role, e.Action, e.Target, e.SourceIP, e.Outcome} {
		put([]byte(s))
	}
	binary.BigEndian.PutUint64(n[:], uint64(e.Status))
	put(n[:])
	// Only when present, so events written before reasons existed keep
	// their hashes; the added length-prefixed fields keep it unambiguous.
	if e.Reason != "" {
		put([]byte("reason"))
		put([]byte(e.Reason))
	}
	return h.Sum(nil)
}

// Source pages through stored events in order.
type Source interface {
	ListAudit(ctx context.Context, afterSeq int64, limit int) ([]Event, error)
}

// ErrTampered means the chain does not verify.
var ErrTampered = errors.New("audit chain does not verify")

// Verify walks every event and checks sequence numbers and hashes, every
// event under c. It returns how many events verified.
func (c *Chainer) Verify(ctx context.Context, src Source) (int64, error) {
	return VerifyChain(ctx, src, func(v uint32) *Chainer {
		if v == c.version {
			return c
		}
		return nil
	})
}

// VerifyChain walks every event and checks sequence numbers and hashes,
// each event under the chain key of its ChainVersion (keys returns nil
// for a version not held: the chain cannot be verified past it). An event
// whose version was altered does not verify under the other key either.
// It returns how many events verified.
func VerifyChain(ctx context.Context, src Source, keys func(version uint32) *Chainer) (int64, error) {
	var prev []byte
	var seq int64
	for {
		page, err := src.ListAudit(ctx, seq, 1000)
		if err != nil {
			return seq, err
		}
		for i := range page {
			e := &page[i]
			switch {
			case e.Seq != seq+1:
				return seq, fmt.Errorf("%w: event %d follows %d (missing events)", ErrTampered, e.Seq, seq)
			case string(e.PrevHash) != string(prev):
				return seq, fmt.Errorf("%w: event %d does not link to event %d", ErrTampered, e.Seq, seq)
			}
			c := keys(max(e.ChainVersion, 1))
			switch {
			case c == nil:
				return seq, fmt.Errorf("event %d is chained under key version %d, which is not held (the pepper of that version is not configured)", e.Seq, e.ChainVersion)
			case !hmac.Equal(c.Sum(prev, e), e.Hash):
				return seq, fmt.Errorf("%w: event %d was altered", ErrTampered, e.Seq)
			}
			prev, seq = e.Hash, e.Seq
		}
		if len(page) == 0 {
			return seq, nil
		}
	}
}

package audit

import (
	"bytes"
	"testing"
	"time"
)

// A reason is covered by the event's hash, and an event without one hashes
// as events did before reasons existed (old chains keep verifying).
func TestReasonIsHashed(t *testing.T) {
	c, err := NewChainer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := Event{Seq: 7, Time: time.Unix(1700000000, 0), Actor: "token:a", Role: "admin", Action: "key.revoke",
		Target: "key:k", SourceIP: "127.0.0.1", Outcome: OutcomeSuccess, Status: 200}
	plain := c.Sum([]byte("prev"), &e)
	e.Reason = "laptop stolen"
	withReason := c.Sum([]byte("prev"), &e)
	e.Reason = "laptop found"
	other := c.Sum([]byte("prev"), &e)
	if bytes.Equal(plain, withReason) || bytes.Equal(withReason, other) {
		t.Fatal("the reason does not change the hash")
	}
	e.Reason = ""
	if !bytes.Equal(plain, c.Sum([]byte("prev"), &e)) {
		t.Fatal("an event without a reason hashes differently")
	}
}

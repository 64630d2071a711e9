package tokencache

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/principal"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCache(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c := New(1<<20, clk.now)
	fp := []byte("auth-a")
	good, bad := NewKey(fp, "good-token"), NewKey(fp, "bad-token")
	c.Put(good, &principal.Principal{ConsumerID: "alice"}, clk.t.Add(time.Minute), 100)
	c.Put(bad, nil, clk.t.Add(10*time.Second), 100)

	tests := []struct {
		name      string
		advance   time.Duration
		key       Key
		wantFound bool
		wantID    string
	}{
		{"positive hit", 0, good, true, "alice"},
		{"negative hit", 0, bad, true, ""},
		{"other fingerprint misses", 0, NewKey([]byte("auth-b"), "good-token"), false, ""},
		{"negative expired", 10 * time.Second, bad, false, ""},
		{"positive still valid", 0, good, true, "alice"},
		{"positive expired", 50 * time.Second, good, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.t = clk.t.Add(tt.advance)
			p, found := c.Get(tt.key)
			if found != tt.wantFound {
				t.Fatalf("found = %v, want %v", found, tt.wantFound)
			}
			got := ""
			if p != nil {
				got = p.ConsumerID
			}
			if got != tt.wantID {
				t.Fatalf("consumer = %q, want %q", got, tt.wantID)
			}
		})
	}
}

func TestCacheReturnsCopies(t *testing.T) {
	c := New(1<<20, nil)
	k := NewKey(nil, "t")
	c.Put(k, &principal.Principal{ConsumerID: "alice"}, time.Now().Add(time.Minute), 10)
	p, _ := c.Get(k)
	p.ConsumerID = "mallory"
	p2, _ := c.Get(k)
	if p2.ConsumerID != "alice" {
		t.Fatalf("cached principal was modified through a returned copy: %q", p2.ConsumerID)
	}
}

func TestCacheIsBounded(t *testing.T) {
	const budget = 64 << 10
	c := New(budget, nil)
	exp := time.Now().Add(time.Hour)
	for i := range 10000 {
		c.Put(NewKey(nil, fmt.Sprint("token-", i)), &principal.Principal{}, exp, 1000)
	}
	// Each entry costs 1000+256 bytes; every shard holds at most budget/16.
	if max := budget / 1256; c.Len() > max {
		t.Fatalf("len = %d, want at most %d", c.Len(), max)
	}
	if c.Len() == 0 {
		t.Fatal("cache kept nothing")
	}
	// The most recent entry survives; the first is long evicted.
	if _, ok := c.Get(NewKey(nil, "token-9999")); !ok {
		t.Fatal("most recent entry was evicted")
	}
	if _, ok := c.Get(NewKey(nil, "token-0")); ok {
		t.Fatal("oldest entry was not evicted")
	}
}

func TestCacheSkipsExpiredAndOversized(t *testing.T) {
	c := New(16<<10, nil)
	k := NewKey(nil, "x")
	c.Put(k, &principal.Principal{}, time.Now().Add(-time.Second), 10)
	if _, ok := c.Get(k); ok {
		t.Fatal("stored an already expired verdict")
	}
	c.Put(k, &principal.Principal{}, time.Now().Add(time.Hour), 1<<20)
	if _, ok := c.Get(k); ok {
		t.Fatal("stored a verdict larger than the shard budget")
	}
}

package secmon

import (
	"net/netip"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/secevent"
)

// ring keeps the most recent events of this instance for the admin API.
type ring struct {
	mu   sync.Mutex
	buf  []secevent.Event
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]secevent.Event, n)} }

func (r *ring) add(ev secevent.Event) {
	if len(r.buf) == 0 {
		return
	}
	r.mu.Lock()
	r.buf[r.next] = ev
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// Filter selects recent events; zero fields match everything.
type Filter struct {
	Type     secevent.Type
	ClientIP netip.Addr
	Consumer string
	Route    string
	Detector string
	Since    time.Time
	Until    time.Time
	// Limit bounds the answer (newest first). Default 100.
	Limit int
}

func (f *Filter) match(ev *secevent.Event) bool {
	switch {
	case f.Type != "" && ev.Type != f.Type,
		f.ClientIP.IsValid() && ev.ClientIP != f.ClientIP && !(ev.ClientIP.Is6() && sourceOf(f.ClientIP) == ev.ClientIP),
		f.Consumer != "" && ev.Consumer != f.Consumer,
		f.Route != "" && ev.Route != f.Route,
		f.Detector != "" && ev.Detector != f.Detector,
		!f.Since.IsZero() && ev.Time.Before(f.Since),
		!f.Until.IsZero() && !ev.Time.Before(f.Until):
		return false
	}
	return true
}

// Events returns this instance's recent events that match f, newest first.
func (m *Monitor) Events(f Filter) []EventView {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	r := m.recent
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := []EventView{}
	for i := 0; i < n && len(out) < f.Limit; i++ {
		ev := &r.buf[(r.next-1-i+len(r.buf))%len(r.buf)]
		if f.match(ev) {
			out = append(out, viewOf(ev))
		}
	}
	return out
}

// Package ipfilter owns IP allow- and deny-lists: CIDR sets compiled once
// and checked against the client IP (as derived from trusted_proxies)
// before anything else looks at a request.
package ipfilter

import (
	"context"
	"net/http"
	"net/netip"
	"slices"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/secevent"
)

// TypeDenied is the problem type of a request from a client IP the lists
// do not admit.
const TypeDenied = "ip-denied"

// Set is a set of prefixes with a lookup cost that depends on how many
// distinct prefix lengths it holds (at most 33 for IPv4, 129 for IPv6),
// not on how many prefixes.
type Set struct {
	v4, v6         map[netip.Prefix]struct{}
	v4Bits, v6Bits []int
}

// NewSet builds a Set. IPv4-mapped IPv6 prefixes (::ffff:a.b.c.d/n, n >=
// 96) are stored as IPv4, since client IPs are unmapped.
func NewSet(prefixes []netip.Prefix) *Set {
	s := &Set{v4: map[netip.Prefix]struct{}{}, v6: map[netip.Prefix]struct{}{}}
	for _, p := range prefixes {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if p.Addr().Is4() {
			s.v4[p] = struct{}{}
			if !slices.Contains(s.v4Bits, p.Bits()) {
				s.v4Bits = append(s.v4Bits, p.Bits())
			}
		} else {
			s.v6[p] = struct{}{}
			if !slices.Contains(s.v6Bits, p.Bits()) {
				s.v6Bits = append(s.v6Bits, p.Bits())
			}
		}
	}
	return s
}

// Len is the number of distinct prefixes.
func (s *Set) Len() int { return len(s.v4) + len(s.v6) }

// Contains reports whether a prefix in s contains a.
func (s *Set) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	m, bits := s.v4, s.v4Bits
	if a.Is6() {
		m, bits = s.v6, s.v6Bits
	}
	for _, b := range bits {
		p, err := a.Prefix(b)
		if err != nil {
			continue
		}
		if _, ok := m[p]; ok {
			return true
		}
	}
	return false
}

// Filter is an allow-list and a deny-list. A client IP passes when no
// deny entry contains it and, if the allow-list is not empty, an allow
// entry does. An invalid client IP passes only when there is no
// allow-list: fail closed.
type Filter struct {
	allow, deny *Set
}

// New compiles allow and deny (parsed at load). It returns nil when both
// are empty.
func New(allow, deny []config.Prefix) *Filter {
	if len(allow) == 0 && len(deny) == 0 {
		return nil
	}
	f := &Filter{}
	if len(allow) > 0 {
		f.allow = NewSet(config.Prefixes(allow))
	}
	if len(deny) > 0 {
		f.deny = NewSet(config.Prefixes(deny))
	}
	return f
}

// Allowed reports whether ip passes f.
func (f *Filter) Allowed(ip netip.Addr) bool {
	if f.deny != nil && f.deny.Contains(ip) {
		return false
	}
	return f.allow == nil || f.allow.Contains(ip)
}

// Check returns the 403 problem when ip does not pass f.
func (f *Filter) Check(ip netip.Addr) error {
	if f == nil || f.Allowed(ip) {
		return nil
	}
	return Denied()
}

// Denied is the 403 for a client IP the lists do not admit.
func Denied() *problem.Error {
	return problem.New(http.StatusForbidden, TypeDenied, "Forbidden", "Requests from this address are not allowed.")
}

var _ pipeline.Stage = (*Filter)(nil)

// Name implements pipeline.Stage.
func (f *Filter) Name() string { return "ip_filter" }

// ReportsRefusals implements secevent.Reporter (IPDenied).
func (f *Filter) ReportsRefusals() {}

// Phase implements pipeline.Stage.
func (f *Filter) Phase() pipeline.Phase { return pipeline.Admit }

// Handle implements pipeline.Stage: the request's client IP must pass f.
func (f *Filter) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := f.Admit(r.Context()); err != nil {
			return err
		}
		return next.ServeHTTP(w, r)
	})
}

// Admit checks the request's client IP and reports a refusal as a
// security event.
func (f *Filter) Admit(ctx context.Context) error {
	if f == nil || f.Allowed(reqinfo.From(ctx).ClientIP) {
		return nil
	}
	secevent.Emit(ctx, secevent.Event{Type: secevent.IPDenied, Status: http.StatusForbidden, Reason: TypeDenied})
	return Denied()
}

package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration string ("250ms",
// "30s", "1h") or with a day suffix ("365d"). A bare integer is rejected: a
// number without a unit is ambiguous.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d.
func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration parses the Duration syntax.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseUint(strings.TrimSuffix(s, "d"), 10, 32)
		if err != nil || n > 36500 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use a unit, e.g. 500ms, 30s, 5m, 1h, 7d)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a duration such as 30s")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ByteSize is a number of bytes written as an integer or with a unit: B,
// KB/MB/GB (powers of 1000) or KiB/MiB/GiB (powers of 1024).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseByteSize parses the ByteSize syntax.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<53)/mult {
		return 0, fmt.Errorf("invalid size %q (e.g. 1048576, 512KiB, 1MiB)", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a size such as 1MiB")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Prefix is an IP prefix written as a CIDR ("10.0.0.0/8") or a single
// address (a /32 or /128). It is parsed and masked once, at load, so the
// code that uses it cannot meet a malformed one.
type Prefix netip.Prefix

// P returns p as a netip.Prefix.
func (p Prefix) P() netip.Prefix { return netip.Prefix(p) }

// String formats p.
func (p Prefix) String() string { return netip.Prefix(p).String() }

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be an IP address or CIDR")
	}
	v, err := ParsePrefix(n.Value)
	if err != nil {
		return err
	}
	*p = Prefix(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (p Prefix) MarshalYAML() (any, error) { return p.String(), nil }

// Prefixes returns ps as netip.Prefixes.
func Prefixes(ps []Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = p.P()
	}
	return out
}

// TimeZone is an IANA time zone name ("Europe/Berlin"), loaded once at
// load time (the zone database is embedded).
type TimeZone struct {
	name string
	loc  *time.Location
}

// Name is the zone's name.
func (z TimeZone) Name() string { return z.name }

// Location is the loaded zone (UTC for the zero value).
func (z TimeZone) Location() *time.Location {
	if z.loc == nil {
		return time.UTC
	}
	return z.loc
}

// ParseTimeZone loads an IANA zone. "" and "Local" are refused: the
// machine's zone is not configuration.
func ParseTimeZone(s string) (TimeZone, error) {
	loc, err := time.LoadLocation(s)
	if err != nil || s == "" || s == "Local" {
		return TimeZone{}, fmt.Errorf("unknown time zone %q (use an IANA name such as Europe/Berlin)", s)
	}
	return TimeZone{name: s, loc: loc}, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (z *TimeZone) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a time zone name such as Europe/Berlin")
	}
	v, err := ParseTimeZone(n.Value)
	if err != nil {
		return err
	}
	*z = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (z TimeZone) MarshalYAML() (any, error) { return z.name, nil }

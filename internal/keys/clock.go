package keys

import "time"

// Clock tells the time. Expiry, rotation grace and cache freshness read it,
// so tests move time instead of sleeping.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

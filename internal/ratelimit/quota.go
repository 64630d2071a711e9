package ratelimit

import "time"

// CalendarWindows returns the previous, current and next calendar windows
// of period ("hour", "day", "week" starting Monday, "month") around now in
// loc. Day and month windows follow the zone's calendar, so a day across a
// daylight-saving change is 23 or 25 hours long.
func CalendarWindows(now time.Time, period string, loc *time.Location) [3]Window {
	cur := windowAt(now, period, loc)
	return [3]Window{windowAt(cur.Start.Add(-time.Nanosecond), period, loc), cur, windowAt(cur.End, period, loc)}
}

func windowAt(t time.Time, period string, loc *time.Location) Window {
	t = t.In(loc)
	y, m, d := t.Date()
	var start, end time.Time
	switch period {
	case "hour":
		start = time.Date(y, m, d, t.Hour(), 0, 0, 0, loc)
		end = start.Add(time.Hour)
		if start.After(t) || !t.Before(end) {
			// The repeated hour of a daylight-saving change: time.Date
			// picked the other occurrence. Fall back to absolute hours.
			start = t.Truncate(time.Hour)
			end = start.Add(time.Hour)
		}
	case "week":
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, loc)
		end = time.Date(y, m, d-back+7, 0, 0, 0, 0, loc)
	case "month":
		start = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		end = time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	default: // "day"
		start = time.Date(y, m, d, 0, 0, 0, 0, loc)
		end = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return Window{Start: start, End: end}
}

// us is t in Unix microseconds.
func us(t time.Time) int64 { return t.UnixMicro() }

// usDur converts microseconds to a Duration.
func usDur(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

// durUs converts a Duration to whole microseconds.
func durUs(d time.Duration) int64 { return int64(d / time.Microsecond) }

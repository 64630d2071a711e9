package ratelimit

import (
	"testing"
	"time"
)

func TestCalendarWindows(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	at := func(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	cases := []struct {
		name         string
		now          time.Time
		period       string
		loc          *time.Location
		prev, cur, n Window
	}{
		{"day in UTC", at(time.UTC, 2040, 3, 14, 12, 0), "day", time.UTC,
			Window{at(time.UTC, 2040, 3, 13, 0, 0), at(time.UTC, 2040, 3, 14, 0, 0)},
			Window{at(time.UTC, 2040, 3, 14, 0, 0), at(time.UTC, 2040, 3, 15, 0, 0)},
			Window{at(time.UTC, 2040, 3, 15, 0, 0), at(time.UTC, 2040, 3, 16, 0, 0)}},
		{"day with the spring DST change is 23h", at(berlin, 2040, 3, 25, 12, 0), "day", berlin,
			Window{at(berlin, 2040, 3, 24, 0, 0), at(berlin, 2040, 3, 25, 0, 0)},
			Window{at(berlin, 2040, 3, 25, 0, 0), at(berlin, 2040, 3, 26, 0, 0)},
			Window{at(berlin, 2040, 3, 26, 0, 0), at(berlin, 2040, 3, 27, 0, 0)}},
		{"day boundary is local midnight, not UTC", time.Date(2040, 3, 14, 23, 30, 0, 0, time.UTC), "day", berlin,
			Window{at(berlin, 2040, 3, 14, 0, 0), at(berlin, 2040, 3, 15, 0, 0)},
			Window{at(berlin, 2040, 3, 15, 0, 0), at(berlin, 2040, 3, 16, 0, 0)},
			Window{at(berlin, 2040, 3, 16, 0, 0), at(berlin, 2040, 3, 17, 0, 0)}},
		{"month at the end of January; leap February", at(time.UTC, 2040, 1, 31, 23, 59), "month", time.UTC,
			Window{at(time.UTC, 2039, 12, 1, 0, 0), at(time.UTC, 2040, 1, 1, 0, 0)},
			Window{at(time.UTC, 2040, 1, 1, 0, 0), at(time.UTC, 2040, 2, 1, 0, 0)},
			Window{at(time.UTC, 2040, 2, 1, 0, 0), at(time.UTC, 2040, 3, 1, 0, 0)}},
		{"week starts on Monday", at(berlin, 2040, 3, 14, 9, 0), "week", berlin, // a Wednesday
			Window{at(berlin, 2040, 3, 5, 0, 0), at(berlin, 2040, 3, 12, 0, 0)},
			Window{at(berlin, 2040, 3, 12, 0, 0), at(berlin, 2040, 3, 19, 0, 0)},
			Window{at(berlin, 2040, 3, 19, 0, 0), at(berlin, 2040, 3, 26, 0, 0)}},
		{"week on a Sunday belongs to the week before", at(berlin, 2040, 3, 18, 23, 0), "week", berlin,
			Window{at(berlin, 2040, 3, 5, 0, 0), at(berlin, 2040, 3, 12, 0, 0)},
			Window{at(berlin, 2040, 3, 12, 0, 0), at(berlin, 2040, 3, 19, 0, 0)},
			Window{at(berlin, 2040, 3, 19, 0, 0), at(berlin, 2040, 3, 26, 0, 0)}},
		{"hour in a half-hour zone", at(kolkata, 2040, 3, 14, 9, 45), "hour", kolkata,
			Window{at(kolkata, 2040, 3, 14, 8, 0), at(kolkata, 2040, 3, 14, 9, 0)},
			Window{at(kolkata, 2040, 3, 14, 9, 0), at(kolkata, 2040, 3, 14, 10, 0)},
			Window{at(kolkata, 2040, 3, 14, 10, 0), at(kolkata, 2040, 3, 14, 11, 0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CalendarWindows(tc.now, tc.period, tc.loc)
			want := [3]Window{tc.prev, tc.cur, tc.n}
			for i := range got {
				if !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) {
					t.Errorf("window %d = [%v, %v), want [%v, %v)", i, got[i].Start, got[i].End, want[i].Start, want[i].End)
				}
			}
			if !(!got[1].Start.After(tc.now) && tc.now.Before(got[1].End)) {
				t.Errorf("current window does not contain now")
			}
		})
	}
}

func TestCalendarWindowsAutumnRepeatedHour(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// 2040-10-28 02:30 happens twice in Berlin; take the second one.
	now := time.Date(2040, 10, 28, 1, 30, 0, 0, time.UTC) // 02:30 CET (after the change)
	ws := CalendarWindows(now, "hour", berlin)
	if ws[1].Start.After(now) || !now.Before(ws[1].End) || ws[1].End.Sub(ws[1].Start) != time.Hour {
		t.Fatalf("current hour window [%v, %v) does not contain %v", ws[1].Start, ws[1].End, now)
	}
	day := CalendarWindows(now, "day", berlin)[1]
	if got := day.End.Sub(day.Start); got != 25*time.Hour {
		t.Fatalf("the autumn DST day is %v long, want 25h", got)
	}
}

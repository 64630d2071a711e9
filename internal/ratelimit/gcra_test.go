package ratelimit

import "testing"

func TestGCRA(t *testing.T) {
	const iv = 100_000 // µs: 10 per second
	type step struct {
		at                            int64 // µs since start
		cost                          int64
		allowed                       bool
		remaining, reset, retry, tatP int64 // tatP: stored tat relative to start
	}
	cases := []struct {
		name  string
		burst int64
		steps []step
	}{
		{"burst then reject", 3, []step{
			{0, 1, true, 2, 100_000, 0, 100_000},
			{0, 1, true, 1, 200_000, 0, 200_000},
			{0, 1, true, 0, 300_000, 0, 300_000},
			{0, 1, false, 0, 300_000, 100_000, 300_000},
		}},
		{"exact boundary", 1, []step{
			{0, 1, true, 0, 100_000, 0, 100_000},
			{99_999, 1, false, 0, 1, 1, 100_000},
			{100_000, 1, true, 0, 100_000, 0, 200_000},
		}},
		{"refill is smooth", 4, []step{
			{0, 4, true, 0, 400_000, 0, 400_000},
			{250_000, 1, true, 1, 250_000, 0, 500_000},
			{250_000, 2, false, 1, 250_000, 50_000, 500_000},
		}},
		{"idle time does not bank more than the burst", 2, []step{
			{0, 1, true, 1, 100_000, 0, 100_000},
			{3_600_000_000, 2, true, 0, 200_000, 0, 3_600_200_000},
			{3_600_000_000, 1, false, 0, 200_000, 100_000, 3_600_200_000},
		}},
		{"weight equal to the burst", 5, []step{
			{0, 5, true, 0, 500_000, 0, 500_000},
			{100_000, 1, true, 0, 500_000, 0, 600_000},
		}},
		{"weight above what is left waits for the difference", 5, []step{
			{0, 3, true, 2, 300_000, 0, 300_000},
			{0, 3, false, 2, 300_000, 100_000, 300_000},
			{100_000, 3, true, 0, 500_000, 0, 600_000},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const start = 1_000_000_000
			tat := int64(0)
			for i, s := range tc.steps {
				o := gcra(tat, start+s.at, iv, tc.burst, s.cost)
				got := step{s.at, s.cost, o.allowed, o.remaining, o.reset, o.retry, o.tat - start}
				if got != s {
					t.Fatalf("step %d: got %+v, want %+v", i, got, s)
				}
				tat = o.tat
			}
		})
	}
}

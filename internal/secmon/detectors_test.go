package secmon

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/testenv"
)

// These tests drive the detectors that need time to pass (baselines over
// intervals) or events no stage of this build emits yet (WAF and
// validation rejections) through a monitor on a test clock; the other
// detectors run through the real gateway in detect_e2e_test.go.

func testMonitor(t *testing.T, clock *testenv.Clock, mod func(*config.Security)) *Monitor {
	t.Helper()
	var sc config.Security
	off := false
	sc.Log.Enabled = &off
	if mod != nil {
		mod(&sc)
	}
	m, err := New(Options{Config: config.WithDefaults(sc), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// settle waits until the monitor has handled everything emitted (its
// goroutine runs on its own; the test clock does not move meanwhile).
func settle(t *testing.T, m *Monitor) {
	t.Helper()
	for {
		empty := make(chan bool)
		// ctl runs on the monitor's goroutine, between two events.
		m.ctl <- func() { empty <- len(m.queue) == 0 }
		if <-empty {
			return
		}
	}
}

func detections(m *Monitor, detector string) []EventView {
	return m.Events(Filter{Type: secevent.Detection, Detector: detector, Limit: 1000})
}

var t0 = time.Date(2031, 5, 6, 7, 0, 0, 0, time.UTC)

func TestConsumerAnomaly(t *testing.T) {
	req := func(m *Monitor, consumer, ip string, status int) {
		m.Observe(secevent.Event{Consumer: consumer, Credential: "cred-" + consumer, ClientIP: netip.MustParseAddr(ip),
			Route: "r", Method: "GET", Status: status})
	}
	// Both runs send the same number of requests over the same 14 minutes.
	const total = 14 * 300
	for _, tc := range []struct {
		name string
		// perMinute is the requests of minute i.
		perMinute func(i int) int
		status    func(i, j int) int
		want      string // the detection's reason, "" for none
	}{
		{"request rate ten times the baseline", func(i int) int {
			if i < 12 {
				return 150
			}
			return (total - 12*150) / 2
		}, func(int, int) int { return 200 }, "a consumer's request rate far above its own baseline"},
		{"error rate ten times the baseline", func(int) int { return 300 }, func(i, j int) int {
			if i == 12 && j < 250 || j < 5 {
				return 403
			}
			return 200
		}, "a consumer's error rate far above its own baseline"},
		{"benign: steady growth", func(i int) int { return 300 + (2*i-13)*10 }, func(int, int) int { return 200 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testenv.NewClock(t0)
			m := testMonitor(t, clock, func(sc *config.Security) { sc.Detectors.ConsumerAnomaly.MaxIPs = 0 })
			sent := 0
			for i := range 14 {
				n := tc.perMinute(i)
				for j := range n {
					req(m, "c1", "203.0.113.1", tc.status(i, j))
				}
				sent += n
				settle(t, m)
				clock.Advance(time.Minute)
			}
			if sent != total {
				t.Fatalf("sent %d, want %d", sent, total)
			}
			got := detections(m, DetectConsumerAnomaly)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Fatalf("benign traffic detected: %+v", got)
			case tc.want != "" && (len(got) != 1 || got[0].Reason != tc.want || got[0].Subject != "consumer:c1" || got[0].Action != "alert"):
				t.Fatalf("detections = %+v", got)
			}
		})
	}
	t.Run("one credential from many IPs", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			ips   func(i int) string
			found bool
		}{
			{"25 addresses", func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }, true},
			{"benign: 3 addresses", func(i int) string { return fmt.Sprintf("198.51.100.%d", i%3) }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				clock := testenv.NewClock(t0)
				m := testMonitor(t, clock, nil)
				for i := range 25 {
					req(m, "c2", tc.ips(i), 200)
					clock.Advance(time.Minute)
				}
				settle(t, m)
				got := detections(m, DetectConsumerAnomaly)
				if (len(got) == 1) != tc.found || tc.found && got[0].Evidence["client_ips"] != 20 {
					t.Fatalf("detections = %+v", got)
				}
			})
		}
	})
}

func TestRejectionBursts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		event  func(i int) secevent.Event
		found  bool
	}{
		{"WAF rejections from one IP", "ip", func(i int) secevent.Event {
			return secevent.Event{Type: secevent.WAFRejected, ClientIP: netip.MustParseAddr("203.0.113.5"), Status: 403}
		}, true},
		{"validation rejections by one consumer from many IPs", "consumer", func(i int) secevent.Event {
			return secevent.Event{Type: secevent.ValidationRejected, Consumer: "c1", ClientIP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}
		}, true},
		{"benign: the same volume from 20 IPs", "ip", func(i int) secevent.Event {
			return secevent.Event{Type: secevent.WAFRejected, ClientIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testenv.NewClock(t0)
			m := testMonitor(t, clock, func(sc *config.Security) { sc.Detectors.RejectionBursts.Target = tc.target })
			for i := range 20 {
				m.Emit(tc.event(i))
				clock.Advance(time.Second)
			}
			settle(t, m)
			if got := detections(m, DetectRejectionBursts); (len(got) == 1) != tc.found {
				t.Fatalf("detections = %+v", got)
			}
		})
	}
}

func stuff(m *Monitor, ip string, n int, tag string) {
	for i := range n {
		m.Emit(secevent.Event{Type: secevent.AuthFailure, ClientIP: netip.MustParseAddr(ip), Credential: fmt.Sprintf("%s-%d", tag, i)})
	}
}

// An exempt range (carrier-grade NAT) is reported, never blocked.
func TestExemptRangesAreNeverBlocked(t *testing.T) {
	clock := testenv.NewClock(t0)
	m := testMonitor(t, clock, func(sc *config.Security) {
		sc.Exempt = []config.Prefix{config.Prefix(netip.MustParsePrefix("100.64.0.0/10"))}
	})
	stuff(m, "100.64.3.4", 10, "a")
	stuff(m, "203.0.113.4", 10, "b")
	settle(t, m)
	got := detections(m, DetectCredentialStuffing)
	if len(got) != 2 || got[0].Action != "block" || got[1].Action != "alert" ||
		got[1].Reason != "many distinct credentials failed from one source (exempt range: not blocked)" {
		t.Fatalf("detections = %+v", got)
	}
	blocks := m.Blocks(t.Context())
	if len(blocks) != 1 || blocks[0].Value != "203.0.113.4" {
		t.Fatalf("blocks = %+v", blocks)
	}
}

// A repeat offender climbs the ladder; after forget_after it starts over.
func TestBlockLadder(t *testing.T) {
	clock := testenv.NewClock(t0)
	m := testMonitor(t, clock, nil)
	var got []string
	for i, advance := range []time.Duration{16 * time.Minute, 26 * time.Hour, 16 * time.Minute, 0} {
		stuff(m, "203.0.113.8", 10, fmt.Sprint(i))
		settle(t, m)
		bs := m.Blocks(t.Context())
		if len(bs) != 1 {
			t.Fatalf("offence %d: blocks %+v", i+1, bs)
		}
		got = append(got, fmt.Sprintf("%d:%v", bs[0].Offence, bs[0].Until.Sub(bs[0].Created)))
		clock.Advance(advance)
	}
	// 15m, 1h; 26h later (past the 1h block and forget_after) 15m again.
	if want := "[1:15m0s 2:1h0m0s 1:15m0s 2:1h0m0s]"; fmt.Sprint(got) != want {
		t.Fatalf("ladder %v, want %s", got, want)
	}
}

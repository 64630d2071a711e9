package proxy

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

func checkedUpstream(t *testing.T, targets []string) *Upstream {
	t.Helper()
	// One check per test run: the thresholds (3 failures) would take
	// hours, so only the first check can change a state here.
	// No retries, so a request sent to a dead target fails visibly.
	zero := 0
	return newTestUpstream(t, config.Upstream{Name: "u", Targets: targets, Retries: &zero,
		HealthCheck: &config.HealthCheck{Path: "/", Interval: config.Duration(time.Hour)}})
}

func waitHealthy(t *testing.T, tg *Target, want bool) {
	t.Helper()
	for range 300 {
		if tg.healthy.Load() == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s healthy = %v after 3s, want %v", tg.URL.Host, !want, want)
}

// The first active check decides a target's state; the thresholds apply
// from then on.
func TestFirstHealthCheckDecides(t *testing.T) {
	var hits atomic.Int64
	u := checkedUpstream(t, []string{deadAddr(t), okServer(t, &hits)})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	u.StartHealthChecks(ctx)
	waitHealthy(t, u.Targets[0], false)
	if !u.Targets[1].healthy.Load() {
		t.Fatal("the live target was marked unhealthy")
	}
	// The live target's own first check is one hit; wait for it.
	for i := 0; hits.Load() < 1; i++ {
		if i == 300 {
			t.Fatal("the live target was never checked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Requests go to the live target only.
	for range 4 {
		if code, err := send(u, "GET", nil); err != nil || code != 200 {
			t.Fatalf("send: %d %v", code, err)
		}
	}
	if n := hits.Load() - 1; n != 4 {
		t.Fatalf("the live target served %d of 4 requests", n)
	}
}

// A reload's new upstream starts from the verdicts its predecessor's
// checks reached for the same target URLs.
func TestInheritHealth(t *testing.T) {
	var hits atomic.Int64
	dead, live := deadAddr(t), okServer(t, &hits)
	prev := checkedUpstream(t, []string{dead, live})
	prev.Targets[0].healthy.Store(false)
	next := checkedUpstream(t, []string{live, dead, deadAddr(t)})
	next.InheritHealth(prev)
	if next.Targets[0].healthy.Load() != true || next.Targets[1].healthy.Load() != false || next.Targets[2].healthy.Load() != true {
		t.Fatalf("inherited: live=%v dead=%v new=%v", next.Targets[0].healthy.Load(), next.Targets[1].healthy.Load(), next.Targets[2].healthy.Load())
	}
}

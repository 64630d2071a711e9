package secmon_test

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/testenv"
)

// Two gateway processes on one Redis: a block imposed by one holds on the
// other (within security.blocks.sync_interval, 200ms here), both list it,
// it survives a reload, and a lift on either ends it on both.
func TestBlocksSharedThroughRedis(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	w := newWorld(t)
	a := w.start(gwOptions{redis: r.Addr(), prefix: "shared:"})
	b := w.start(gwOptions{redis: r.Addr(), prefix: "shared:"})
	a.replay(loadTraffic(t, "scanning.attack"))
	a.waitEvent("block_imposed", "scanning")
	if got := a.do("198.51.100.7", "GET", "/status", ""); got.status != 403 {
		t.Fatalf("instance a, which imposed the block: %d %s", got.status, got.body)
	}
	blockedOn := func(g *gw) bool {
		r := g.do("198.51.100.7", "GET", "/status", "")
		return r.status == 403 && strings.Contains(r.body, "security-blocked")
	}
	eventually(t, "instance b to enforce the block", func() bool { return blockedOn(b) })
	if got := b.do("198.51.100.9", "GET", "/status", ""); got.status != 200 {
		t.Fatalf("another client on b: %d", got.status)
	}
	list := b.adminDo("GET", "/v1/security/blocks", b.adminToken)
	if list.status != 200 || !strings.Contains(list.body, `"value":"198.51.100.7"`) {
		t.Fatalf("b lists %d %s", list.status, list.body)
	}
	id := list.body[strings.Index(list.body, `"id":"`)+6:][:12]

	// A reload keeps the monitor and its blocks.
	if err := b.p.Server.Reload(b.cfg); err != nil {
		t.Fatal(err)
	}
	if !blockedOn(b) {
		t.Fatal("the block did not survive a reload")
	}

	// Lifted through b's admin API: audited there, ended on a too.
	if got := b.adminDo("DELETE", "/v1/security/blocks/"+id, b.adminToken); got.status != 204 {
		t.Fatalf("lift: %d %s", got.status, got.body)
	}
	eventually(t, "instance a to lift the block", func() bool { return !blockedOn(a) })
	if blockedOn(b) {
		t.Fatal("b still blocks after its own lift")
	}
	evs, err := b.p.Keys.ListAudit(bg, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Action != "security.block.lift" || last.Target != "block:"+id || last.Outcome != "success" || last.Status != 204 {
		t.Fatalf("audit = %+v", last)
	}
	if got := b.adminDo("DELETE", "/v1/security/blocks/"+id, b.adminToken); got.status != 404 {
		t.Fatalf("lifting again: %d", got.status)
	}
	// The imposing instance wrote the block into its audit trail when it
	// imposed it.
	aevs, _ := a.p.Keys.ListAudit(bg, 0, 1000)
	var imposed bool
	for _, e := range aevs {
		imposed = imposed || e.Action == "security.block.impose" && e.Target == "block:"+id && e.Actor == "detector:scanning"
	}
	if !imposed {
		t.Fatalf("no audit event for the block on a: %+v", aevs)
	}
}

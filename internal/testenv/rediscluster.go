package testenv

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisCluster is a Redis Cluster of masters started for one test from
// redis-server binaries: every node on loopback, the 16384 slots split
// evenly between them, no replicas, stopped when the test ends. Keys of
// different hash slots live on different processes, so a command or
// script touching two slots fails as it would on a managed cluster.
type RedisCluster struct {
	// Nodes are the masters, in slot order.
	Nodes []*Redis
}

// StartRedisCluster starts masters (at least 3, as Redis Cluster needs)
// redis-server processes, joins them, assigns the slots and waits until
// every node reports cluster_state:ok and knows every other.
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("a Redis Cluster needs at least 3 masters, got %d", masters)
	}
	c := &RedisCluster{}
	for range masters {
		r := &Redis{t: t, dir: t.TempDir(), opts: RedisOptions{Cluster: true}}
		r.bin = Binary(t, "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")
		r.port, r.bus = FreePort(t), FreePort(t)
		r.Start()
		t.Cleanup(r.Stop)
		c.Nodes = append(c.Nodes, r)
	}
	per := 16384 / masters
	for i, r := range c.Nodes {
		first, last := i*per, (i+1)*per-1
		if i == masters-1 {
			last = 16383
		}
		if reply, err := r.command("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last)); err != nil || reply != "+OK" {
			t.Fatalf("CLUSTER ADDSLOTSRANGE on %s: %q %v", r.Addr(), reply, err)
		}
	}
	for _, r := range c.Nodes[1:] {
		if reply, err := r.command("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(c.Nodes[0].port), strconv.Itoa(c.Nodes[0].bus)); err != nil || reply != "+OK" {
			t.Fatalf("CLUSTER MEET from %s: %q %v", r.Addr(), reply, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range c.Nodes {
		for {
			info, err := r.command("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)+"\r\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis cluster node %s did not become ok: %v\n%s", r.Addr(), err, info)
			}
			time.Sleep(20 * time.Millisecond) // waiting on other processes: no clock to inject
		}
	}
	return c
}

// Addrs are the nodes' "127.0.0.1:<port>".
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		out[i] = r.Addr()
	}
	return out
}

// Stop kills every node (like a crash).
func (c *RedisCluster) Stop() {
	for _, r := range c.Nodes {
		r.Stop()
	}
}

// Start restarts every stopped node on its port; each keeps its slots
// (nodes.conf is in its temp dir). It waits until every node reports
// cluster_state:ok again.
func (c *RedisCluster) Start() {
	for _, r := range c.Nodes {
		r.Start()
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range c.Nodes {
		for {
			info, err := r.command("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				r.t.Fatalf("redis cluster node %s did not become ok again: %v\n%s", r.Addr(), err, info)
			}
			time.Sleep(20 * time.Millisecond) // waiting on other processes: no clock to inject
		}
	}
}

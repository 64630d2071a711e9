package secmon_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// step is one line of a committed traffic set (testdata/traffic).
type step struct {
	ip, method, path, cred string
}

func loadTraffic(t *testing.T, name string) []step {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "traffic", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []step
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		p := strings.Fields(line)
		if len(p) != 4 {
			t.Fatalf("%s: bad line %q", name, line)
		}
		out = append(out, step{p[0], p[1], p[2], p[3]})
	}
	return out
}

// replay sends the steps in order and returns the statuses and when each
// request was sent.
func (g *gw) replay(steps []step) ([]int, []time.Time) {
	g.t.Helper()
	seeds := map[string]string{}
	var out []int
	var sent []time.Time
	for _, s := range steps {
		sent = append(sent, time.Now())
		kind, arg, _ := strings.Cut(s.cred, ":")
		var r reply
		switch kind {
		case "admin":
			if arg == "good" {
				r = g.adminDo(s.method, s.path, g.adminToken)
				break
			}
			req, _ := http.NewRequest(s.method, g.admin+s.path, nil)
			req.Header.Set("Authorization", "Bearer pcl_admin_"+strings.Repeat("x", 12)+"_"+strings.Repeat("y", 49))
			resp, err := g.attacker.Do(req)
			if err != nil {
				g.t.Fatal(err)
			}
			resp.Body.Close()
			r.status = resp.StatusCode
		case "key":
			n, _ := strconv.Atoi(arg)
			r = g.do(s.ip, s.method, s.path, g.keys[n])
		case "bad":
			k := badKey(g.t, seeds, arg)
			g.sentKeys = append(g.sentKeys, k)
			r = g.do(s.ip, s.method, s.path, k)
		default:
			r = g.do(s.ip, s.method, s.path, "")
		}
		out = append(out, r.status)
	}
	return out, sent
}

// delay is how long after the request that completed the pattern (the
// last one sent before it) the detection was made.
func delay(det time.Time, sent []time.Time) time.Duration {
	last := sent[0]
	for _, s := range sent {
		if s.Before(det) {
			last = s
		}
	}
	return det.Sub(last)
}

// Each detector runs through the real gateway: its scripted attack (a
// committed traffic set, bounded, over loopback) must trigger it, and a
// committed benign set of the same volume must not trigger any detector.
func TestDetectorsThroughTheGateway(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		detector, set string
		// blocked is a request that the response must refuse after the
		// attack, and allowed one it must not.
		blocked, allowed func(g *gw) reply
		action           string
		// benign: a benign set of the same volume exists (the IPv6 attack
		// shares the IPv4 one's).
		benign bool
		// opts changes the gateway; problem is the refusal's type
		// (default security-blocked).
		opts    gwOptions
		problem string
	}{
		{detector: "credential_stuffing", set: "credential_stuffing", action: "block", benign: true,
			// The attacker's address is refused even with a valid key; the
			// key's owner elsewhere is not locked out.
			blocked: func(g *gw) reply { return g.do("203.0.113.10", "GET", "/v1/accounts", g.keys[0]) },
			allowed: func(g *gw) reply { return g.do("203.0.113.99", "GET", "/v1/accounts", g.keys[0]) }},
		{detector: "credential_stuffing", set: "credential_stuffing_v6", action: "block",
			blocked: func(g *gw) reply { return g.do("2001:db8:1:2::ffff", "GET", "/v1/accounts", g.keys[0]) },
			allowed: func(g *gw) reply { return g.do("2001:db8:1:3::1", "GET", "/v1/accounts", g.keys[0]) }},
		{detector: "scanning", set: "scanning", action: "block", benign: true,
			blocked: func(g *gw) reply { return g.do("198.51.100.7", "GET", "/status", "") },
			allowed: func(g *gw) reply { return g.do("198.51.100.9", "GET", "/status", "") }},
		{detector: "object_probing", set: "object_probing", action: "block", benign: true,
			// The consumer is blocked wherever it comes from; others are not.
			blocked: func(g *gw) reply { return g.do("203.0.113.77", "GET", "/v1/accounts", g.keys[1]) },
			allowed: func(g *gw) reply { return g.do("203.0.113.40", "GET", "/v1/accounts", g.keys[2]) }},
		{detector: "object_probing", set: "object_probing", action: "read_only", opts: gwOptions{probing: "read_only"}, problem: "read-only",
			// Step-up: the consumer may still read, but not write, from
			// anywhere (its 30 not-found answers also made the scanning
			// detector block the address it probed from).
			blocked: func(g *gw) reply { return g.do("203.0.113.77", "POST", "/v1/accounts", g.keys[1]) },
			allowed: func(g *gw) reply { return g.do("203.0.113.77", "GET", "/v1/accounts", g.keys[1]) }},
		{detector: "route_failures", set: "route_failures", action: "alert", benign: true},
		// A leaked key used from many client IPs: an alert about a
		// verified credential (unverified failures never count here).
		{detector: "consumer_anomaly", set: "consumer_anomaly", action: "alert", benign: true},
		{detector: "admin_abuse", set: "admin_abuse", action: "alert", benign: true},
	} {
		if tc.problem == "" {
			tc.problem = "security-blocked"
		}
		t.Run(tc.set+"/attack/"+tc.action, func(t *testing.T) {
			g := w.start(tc.opts)
			g.t = t
			steps := loadTraffic(t, tc.set+".attack")
			statuses, sent := g.replay(steps)
			det := g.waitDetection(tc.detector)
			t.Logf("%s: %d requests; detected %v after the first, %v after the request that completed the pattern (statuses %v)",
				tc.set, len(steps), det.Time.Sub(sent[0]).Round(time.Millisecond), delay(det.Time, sent).Round(time.Microsecond), statuses)
			if det.Action != tc.action || det.Severity != "high" || len(det.Evidence) == 0 {
				t.Fatalf("detection = %+v", det)
			}
			if tc.blocked == nil {
				return
			}
			// The response follows its detection.
			g.waitEvent("block_imposed", tc.detector)
			if r := tc.blocked(g); r.status != 403 || !strings.Contains(r.body, `"type":"https://portcullis.dev/problems/`+tc.problem+`"`) ||
				r.header.Get("Retry-After") == "" {
				t.Fatalf("after the attack: %d %s", r.status, r.body)
			}
			if r := tc.allowed(g); r.status != 200 {
				t.Fatalf("an innocent request after the attack: %d %s", r.status, r.body)
			}
			// The block is listed on the admin API and in the security log.
			r := g.adminDo("GET", "/v1/security/blocks", g.adminToken)
			if r.status != 200 || !strings.Contains(r.body, `"detector":"`+tc.detector+`"`) {
				t.Fatalf("blocks: %d %s", r.status, r.body)
			}
			g.waitLog(`"type":"block_imposed"`, `"type":"blocked"`)
		})
		if !tc.benign {
			continue
		}
		t.Run(tc.set+"/benign", func(t *testing.T) {
			g := w.start(gwOptions{})
			g.t = t
			steps := loadTraffic(t, tc.set+".benign")
			if n := len(loadTraffic(t, tc.set+".attack")); len(steps) != n {
				t.Fatalf("benign set has %d requests, the attack %d", len(steps), n)
			}
			statuses, _ := g.replay(steps)
			g.drained()
			if evs := g.events("type=detection"); len(evs) > 0 {
				b, _ := json.Marshal(evs)
				t.Fatalf("benign traffic triggered: %s (statuses %v)", b, statuses)
			}
			if r := g.adminDo("GET", "/v1/security/blocks", g.adminToken); r.body != `{"data":[]}`+"\n" {
				t.Fatalf("benign traffic blocked something: %s", r.body)
			}
		})
	}
}

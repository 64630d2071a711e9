package admin_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/testenv"
)

// Each audited admin request logs the chain head it wrote (audit_seq,
// audit_hash), and GET /v1/audit/verify reports the same head: logs shipped
// elsewhere anchor the chain, so deleting its newest events shows.
func TestAuditHeadInLogs(t *testing.T) {
	var logs testenv.SyncBuffer
	e := newEnvWith(t, func(_ *config.Admin, d *admin.Deps) {
		d.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	if r := e.do("operator", "POST", "/v1/consumers", map[string]any{"name": "anchored"}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	// The line is written once the response is out: wait for it.
	last := waitAdminLine(t, &logs, func(l map[string]any) bool { return l["action"] == "consumer.create" })
	seq, _ := last["audit_seq"].(float64)
	hash, _ := last["audit_hash"].(string)
	if last["action"] != "consumer.create" || seq < 1 || len(hash) != 64 {
		t.Fatalf("log line of the change: %v", last)
	}
	var v struct {
		OK       bool   `json:"ok"`
		Verified int64  `json:"events_verified"`
		HeadHash string `json:"head_hash"`
	}
	e.do("auditor", "GET", "/v1/audit/verify", nil).json(t, &v)
	if !v.OK || v.Verified != int64(seq) || v.HeadHash != hash {
		t.Fatalf("verify = %+v, want head %d %s", v, int64(seq), hash)
	}
	// The verification is audited too: the next event, logged as such.
	next := waitAdminLine(t, &logs, func(l map[string]any) bool { return l["action"] == "audit.verify" })
	if next["audit_seq"] != seq+1 || next["audit_hash"] == hash {
		t.Fatalf("log line of the verification: %v", next)
	}
	// Requests with no actor write no event and log no head.
	e.do("", "GET", "/v1/consumers", nil)
	if l := waitAdminLine(t, &logs, func(l map[string]any) bool { return l["status"] == float64(401) }); l["audit_seq"] != nil {
		t.Fatalf("unauthenticated request line: %v", l)
	}
}

// waitAdminLine returns the last "admin request" log line once it
// satisfies ok (bounded wait).
func waitAdminLine(t *testing.T, logs *testenv.SyncBuffer, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	var last map[string]any
	for range 200 {
		last = nil
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("log line is not JSON: %s", sc.Text())
			}
			if m["msg"] == "admin request" {
				last = m
			}
		}
		if last != nil && ok(last) {
			return last
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("last admin request line: %v", last)
	return nil
}

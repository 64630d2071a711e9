package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/store"
)

// keyFiles makes the demo's pepper and master key files in dir (0600),
// keeping existing ones so a reused --data-dir keeps its keys working.
func keyFiles(dir string, vars map[string]string) error {
	vars["KeysDB"] = filepath.Join(dir, "keys.db")
	vars["PepperFile"] = filepath.Join(dir, "pepper")
	vars["MasterKeyFile"] = filepath.Join(dir, "master.key")
	for _, f := range []struct {
		path string
		size int
		pre  string
	}{{vars["PepperFile"], 48, ""}, {vars["MasterKeyFile"], 32, "v1:"}} {
		if _, err := os.Stat(f.path); err == nil {
			continue
		}
		b := make([]byte, f.size)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		if err := os.WriteFile(f.path, []byte(f.pre+base64.StdEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// seeded is what the demo creates at start.
type seeded struct {
	apiKey     string
	adminToken string
}

// seed makes sure the demo consumer exists and issues it a fresh key
// (scope accounts:read) and the newcomer an admin token, both recorded in
// the audit trail.
func seed(ctx context.Context, svc *keys.Service) (seeded, error) {
	var out seeded
	c, err := svc.CreateConsumer(ctx, keys.ConsumerSpec{Name: "demo", Groups: []string{"demo"}, Tier: "demo",
		Contact: "newcomer@example.com", Notes: "created by portcullis demo"})
	if errors.Is(err, store.ErrConflict) {
		c, err = findConsumer(ctx, svc, "demo")
	}
	if err != nil {
		return out, fmt.Errorf("demo consumer: %w", err)
	}
	// Each change commits with its audit event (keys.WithAuditEvent).
	issue := &audit.Event{Actor: "demo", Role: "admin", Action: "key.issue", Outcome: audit.OutcomeSuccess}
	k, err := svc.IssueKey(keys.WithAuditEvent(ctx, issue), keys.KeySpec{ConsumerID: c.ID,
		Scopes: []string{"accounts:read", "fx:read"}, Labels: map[string]string{"created-by": "demo"}})
	if err != nil {
		return out, fmt.Errorf("demo key: %w", err)
	}
	mint := &audit.Event{Actor: "demo", Role: "admin", Action: "admin_token.create", Outcome: audit.OutcomeSuccess}
	name := "demo-" + time.Now().UTC().Format("20060102T150405")
	tok, err := svc.CreateAdminToken(keys.WithAuditEvent(ctx, mint), keys.AdminTokenSpec{Name: name, Role: "admin"}, "demo")
	if err != nil {
		return out, fmt.Errorf("demo admin token: %w", err)
	}
	return seeded{apiKey: k.Secret, adminToken: tok.Secret}, nil
}

func findConsumer(ctx context.Context, svc *keys.Service, name string) (*keys.Consumer, error) {
	cursor := ""
	for {
		page, next, err := svc.ListConsumers(ctx, cursor, 500)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			if c.Name == name {
				return c, nil
			}
		}
		if next == "" {
			return nil, store.ErrNotFound
		}
		cursor = next
	}
}

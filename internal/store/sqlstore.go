package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

// sqlStore is the implementation SQLite and PostgreSQL share; the dialect
// holds their differences.
type sqlStore struct {
	db      *sql.DB
	d       *dialect
	timeout time.Duration

	// mu guards watcher: the in-process change feed used when the dialect
	// has no notify (SQLite).
	mu      sync.Mutex
	watcher func(Change)
}

const (
	consumerCols = `id, name, groups_json, tier, labels_json, disabled, sealed, created_at, updated_at`
	keyCols      = `id, consumer_id, environment, hash, scopes_json, tier, labels_json, sealed, state,
  expires_at, grace_until, successor_id, predecessor_id, revoked_at, created_at, last_used_at, request_count,
  pepper_version`
	tokenCols = `id, name, role, hash, created_by, created_at, expires_at, revoked_at, pepper_version`
)

func (s *sqlStore) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// inTx runs fn in a transaction and, when a is not nil, appends a's event
// as the transaction's last write, so the change commits with its audit
// event or not at all. The changes fn returns are published: in the
// transaction by the dialect, or in process after commit.
func (s *sqlStore) inTx(ctx context.Context, a *Audit, fn func(ctx context.Context, tx *sql.Tx) ([]Change, error)) (err error) {
	if a != nil {
		defer func() {
			if err != nil {
				a.Event.Seq, a.Event.PrevHash, a.Event.Hash = 0, nil, nil
			}
		}()
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	changes, err := fn(ctx, tx)
	if err == nil && a != nil {
		// Last, so the audit lock (PostgreSQL) is held only from here to
		// the commit and never while waiting for a row lock.
		if err = s.appendAudit(ctx, tx, a); err != nil {
			err = fmt.Errorf("%w: %w", ErrNotAudited, err)
		}
	}
	if err == nil && s.d.notify != nil {
		for _, c := range changes {
			if err = s.d.notify(ctx, tx, c); err != nil {
				break
			}
		}
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if s.d.notify == nil {
		s.dispatch(changes)
	}
	return nil
}

func (s *sqlStore) dispatch(changes []Change) {
	if len(changes) == 0 {
		return
	}
	s.mu.Lock()
	fn := s.watcher
	s.mu.Unlock()
	if fn == nil {
		return
	}
	for _, c := range changes {
		fn(c)
	}
}

// watchLocal is Watch for the in-process feed.
func (s *sqlStore) watchLocal(ctx context.Context, fn func(Change)) error {
	s.mu.Lock()
	if s.watcher != nil {
		s.mu.Unlock()
		return errors.New("store: Watch is already running")
	}
	s.watcher = fn
	s.mu.Unlock()
	fn(Change{Kind: FeedReset})
	<-ctx.Done()
	s.mu.Lock()
	s.watcher = nil
	s.mu.Unlock()
	return nil
}

func (s *sqlStore) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return s.db.ExecContext(ctx, s.d.bind(q), args...)
}

func (s *sqlStore) wrapUnique(err error, what string) error {
	if err != nil && s.d.isUnique(err) {
		return fmt.Errorf("%w: %s already exists", ErrConflict, what)
	}
	return err
}

// Ping checks the database answers.
func (s *sqlStore) Ping(ctx context.Context) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return s.db.PingContext(ctx)
}

// ---- consumers

// CreateConsumer implements Store.
func (s *sqlStore) CreateConsumer(ctx context.Context, c *Consumer, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO consumers (`+consumerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			c.ID, c.Name, jsonList(c.Groups), c.Tier, jsonMap(c.Labels), c.Disabled, c.Sealed,
			micros(c.CreatedAt), micros(c.UpdatedAt))
		return nil, s.wrapUnique(err, "a consumer with this name")
	})
}

// GetConsumer implements Store.
func (s *sqlStore) GetConsumer(ctx context.Context, id string) (*Consumer, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	row := s.db.QueryRowContext(ctx, s.d.bind(`SELECT `+consumerCols+` FROM consumers WHERE id = ? AND deleted_at = 0`), id)
	return scanConsumer(row)
}

// ListConsumers implements Store.
func (s *sqlStore) ListConsumers(ctx context.Context, p Page) ([]*Consumer, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT `+consumerCols+` FROM consumers
WHERE deleted_at = 0 AND id > ? ORDER BY id LIMIT ?`), p.After, p.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Consumer
	for rows.Next() {
		c, err := scanConsumer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateConsumer implements Store.
func (s *sqlStore) UpdateConsumer(ctx context.Context, c *Consumer, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		res, err := tx.ExecContext(ctx, s.d.bind(`UPDATE consumers SET name = ?, groups_json = ?, tier = ?,
  labels_json = ?, disabled = ?, sealed = ?, updated_at = ? WHERE id = ? AND deleted_at = 0`),
			c.Name, jsonList(c.Groups), c.Tier, jsonMap(c.Labels), c.Disabled, c.Sealed, micros(c.UpdatedAt), c.ID)
		if err != nil {
			return nil, s.wrapUnique(err, "a consumer with this name")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, ErrNotFound
		}
		return []Change{{Kind: ConsumerChanged, ID: c.ID}}, nil
	})
}

// DeleteConsumer implements Store.
func (s *sqlStore) DeleteConsumer(ctx context.Context, id string, at time.Time, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		res, err := tx.ExecContext(ctx, s.d.bind(`UPDATE consumers SET deleted_at = ?, updated_at = ?
WHERE id = ? AND deleted_at = 0`), micros(at), micros(at), id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, s.d.bind(`UPDATE api_keys SET state = 'revoked', revoked_at = ?
WHERE consumer_id = ? AND state <> 'revoked'`), micros(at), id); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, s.d.bind(`UPDATE signing_keys SET state = 'revoked', revoked_at = ?
WHERE consumer_id = ? AND state <> 'revoked'`), micros(at), id); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, s.d.bind(`DELETE FROM consumer_identities WHERE consumer_id = ?`), id); err != nil {
			return nil, err
		}
		// One change: a consumer's change drops its signing keys and
		// identities from caches too.
		return []Change{{Kind: ConsumerChanged, ID: id}}, nil
	})
}

// ---- keys

// CreateKey implements Store.
func (s *sqlStore) CreateKey(ctx context.Context, k *Key, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		if err := s.consumerExists(ctx, tx, k.ConsumerID); err != nil {
			return nil, err
		}
		return nil, s.insertKey(ctx, tx, k)
	})
}

func (s *sqlStore) consumerExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, s.d.bind(`SELECT 1 FROM consumers WHERE id = ? AND deleted_at = 0`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("consumer %w", ErrNotFound)
	}
	return err
}

func (s *sqlStore) insertKey(ctx context.Context, tx *sql.Tx, k *Key) error {
	_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO api_keys (`+keyCols+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID, k.ConsumerID, k.Environment, k.Hash, jsonList(k.Scopes), k.Tier, jsonMap(k.Labels), k.Sealed, k.State,
		micros(k.ExpiresAt), micros(k.GraceUntil), k.SuccessorID, k.PredecessorID, micros(k.RevokedAt),
		micros(k.CreatedAt), micros(k.LastUsedAt), k.RequestCount, versionOr1(k.PepperVersion))
	return s.wrapUnique(err, "a key with this id")
}

// GetKey implements Store.
func (s *sqlStore) GetKey(ctx context.Context, id string) (*Key, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return scanKey(s.db.QueryRowContext(ctx, s.d.bind(`SELECT `+keyCols+` FROM api_keys WHERE id = ?`), id))
}

// GetKeyForVerify implements Store.
func (s *sqlStore) GetKeyForVerify(ctx context.Context, id string) (*Key, *Consumer, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	row := s.db.QueryRowContext(ctx, s.d.bind(`SELECT k.id, k.consumer_id, k.environment, k.hash, k.scopes_json,
  k.tier, k.labels_json, k.sealed, k.state, k.expires_at, k.grace_until, k.successor_id, k.predecessor_id,
  k.revoked_at, k.created_at, k.last_used_at, k.request_count, k.pepper_version,
  COALESCE(c.id, ''), COALESCE(c.name, ''), COALESCE(c.groups_json, '[]'), COALESCE(c.tier, ''),
  COALESCE(c.labels_json, '{}'), COALESCE(c.disabled, FALSE), c.sealed, COALESCE(c.created_at, 0),
  COALESCE(c.updated_at, 0)
FROM api_keys k LEFT JOIN consumers c ON c.id = k.consumer_id AND c.deleted_at = 0
WHERE k.id = ?`), id)
	var k Key
	var c Consumer
	kd := keyDest(&k)
	cd := consumerDest(&c)
	if err := row.Scan(append(kd.dest, cd.dest...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, err
	}
	if err := kd.finish(); err != nil {
		return nil, nil, err
	}
	if c.ID == "" {
		return &k, nil, nil
	}
	if err := cd.finish(); err != nil {
		return nil, nil, err
	}
	return &k, &c, nil
}

// ListKeys implements Store.
func (s *sqlStore) ListKeys(ctx context.Context, f KeyFilter, p Page) ([]*Key, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	q, args := `SELECT `+keyCols+` FROM api_keys WHERE id > ? ORDER BY id LIMIT ?`, []any{p.After, p.Limit}
	if f.ConsumerID != "" {
		q, args = `SELECT `+keyCols+` FROM api_keys WHERE consumer_id = ? AND id > ? ORDER BY id LIMIT ?`,
			[]any{f.ConsumerID, p.After, p.Limit}
	}
	rows, err := s.db.QueryContext(ctx, s.d.bind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RotateKey implements Store.
func (s *sqlStore) RotateKey(ctx context.Context, oldID string, graceUntil time.Time, successor *Key, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		// The conditional update is the concurrency guard: of two rotations
		// racing, the second finds the key no longer active.
		res, err := tx.ExecContext(ctx, s.d.bind(`UPDATE api_keys SET state = 'rotating', grace_until = ?,
  successor_id = ? WHERE id = ? AND state = 'active'`), micros(graceUntil), successor.ID, oldID)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var state string
			err := tx.QueryRowContext(ctx, s.d.bind(`SELECT state FROM api_keys WHERE id = ?`), oldID).Scan(&state)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, ErrNotFound
			}
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: the key is %s, only an active key can be rotated", ErrConflict, state)
		}
		successor.PredecessorID = oldID
		if err := s.insertKey(ctx, tx, successor); err != nil {
			return nil, err
		}
		return []Change{{Kind: KeyChanged, ID: oldID}}, nil
	})
}

// RevokeKey implements Store.
func (s *sqlStore) RevokeKey(ctx context.Context, id string, at time.Time, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		res, err := tx.ExecContext(ctx, s.d.bind(`UPDATE api_keys SET state = 'revoked', revoked_at = ?
WHERE id = ? AND state <> 'revoked'`), micros(at), id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, s.d.bind(`SELECT 1 FROM api_keys WHERE id = ?`), id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, ErrNotFound
			}
			return nil, err
		}
		return []Change{{Kind: KeyChanged, ID: id}}, nil
	})
}

// RecordUsage implements Store.
func (s *sqlStore) RecordUsage(ctx context.Context, batch []Usage) error {
	if len(batch) == 0 {
		return nil
	}
	return s.inTx(ctx, nil, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		stmt, err := tx.PrepareContext(ctx, s.d.bind(`UPDATE api_keys SET request_count = request_count + ?,
  last_used_at = `+s.d.greatest+`(last_used_at, ?) WHERE id = ?`))
		if err != nil {
			return nil, err
		}
		defer stmt.Close()
		for _, u := range batch {
			if _, err := stmt.ExecContext(ctx, u.Count, micros(u.LastUsed), u.KeyID); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// RehashKey implements Store.
func (s *sqlStore) RehashKey(ctx context.Context, id string, old, new []byte, pepperVersion uint32) (bool, error) {
	changed := false
	err := s.inTx(ctx, nil, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		res, err := tx.ExecContext(ctx, s.d.bind(`UPDATE api_keys SET hash = ?, pepper_version = ? WHERE id = ? AND hash = ?`),
			new, pepperVersion, id, old)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, nil
		}
		changed = true
		return []Change{{Kind: KeyChanged, ID: id}}, nil
	})
	return changed, err
}

// ---- admin tokens

// RehashAdminToken implements Store.
func (s *sqlStore) RehashAdminToken(ctx context.Context, id string, old, new []byte, pepperVersion uint32) (bool, error) {
	res, err := s.exec(ctx, `UPDATE admin_tokens SET hash = ?, pepper_version = ? WHERE id = ? AND hash = ?`, new, pepperVersion, id, old)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// CreateAdminToken implements Store.
func (s *sqlStore) CreateAdminToken(ctx context.Context, t *AdminToken, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		return nil, s.insertToken(ctx, tx, t)
	})
}

// BootstrapAdminToken implements Store. The dialect's lock (PostgreSQL) or
// the write lock every SQLite transaction takes at BEGIN (_txlock
// immediate) makes the count and the insert one step.
func (s *sqlStore) BootstrapAdminToken(ctx context.Context, t *AdminToken, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		if s.d.tokenLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.tokenLock); err != nil {
				return nil, err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.d.bind(usableTokensSQL), micros(t.CreatedAt)).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("%w: an admin token already exists", ErrConflict)
		}
		return nil, s.insertToken(ctx, tx, t)
	})
}

func (s *sqlStore) insertToken(ctx context.Context, tx *sql.Tx, t *AdminToken) error {
	_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO admin_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.Name, t.Role, t.Hash, t.CreatedBy, micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.RevokedAt),
		versionOr1(t.PepperVersion))
	return s.wrapUnique(err, "an admin token with this id")
}

// GetAdminToken implements Store.
func (s *sqlStore) GetAdminToken(ctx context.Context, id string) (*AdminToken, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return scanToken(s.db.QueryRowContext(ctx, s.d.bind(`SELECT `+tokenCols+` FROM admin_tokens WHERE id = ?`), id))
}

// ListAdminTokens implements Store.
func (s *sqlStore) ListAdminTokens(ctx context.Context, p Page) ([]*AdminToken, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT `+tokenCols+` FROM admin_tokens WHERE id > ? ORDER BY id LIMIT ?`), p.After, p.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AdminToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAdminToken implements Store.
func (s *sqlStore) RevokeAdminToken(ctx context.Context, id string, at time.Time, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		res, err := tx.ExecContext(ctx, s.d.bind(`UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`), micros(at), id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, s.d.bind(`SELECT 1 FROM admin_tokens WHERE id = ?`), id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, ErrNotFound
			}
			return nil, err
		}
		return nil, nil
	})
}

// usableTokensSQL counts admin tokens neither revoked nor expired at ?: an
// expired token must not stop a bootstrap, or expiry could lock everyone
// out of the admin API.
const usableTokensSQL = `SELECT COUNT(*) FROM admin_tokens WHERE revoked_at = 0 AND (expires_at = 0 OR expires_at > ?)`

// CountAdminTokens implements Store.
func (s *sqlStore) CountAdminTokens(ctx context.Context, at time.Time) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var n int
	err := s.db.QueryRowContext(ctx, s.d.bind(usableTokensSQL), micros(at)).Scan(&n)
	return n, err
}

// ---- audit

// AppendAudit implements Store.
func (s *sqlStore) AppendAudit(ctx context.Context, e *audit.Event, chain *audit.Chainer) error {
	return s.inTx(ctx, &Audit{Event: e, Chain: chain}, func(context.Context, *sql.Tx) ([]Change, error) { return nil, nil })
}

// appendAudit assigns a's event its sequence number and chain hash and
// inserts it in tx, serialised with other appends.
func (s *sqlStore) appendAudit(ctx context.Context, tx *sql.Tx, a *Audit) error {
	if s.d.auditLock != "" {
		if _, err := tx.ExecContext(ctx, s.d.auditLock); err != nil {
			return err
		}
	}
	var seq int64
	var prev []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	e := a.Event
	e.Seq, e.PrevHash = seq+1, append([]byte{}, prev...)
	e.Time = time.UnixMicro(e.Time.UnixMicro()).UTC() // what is stored is what is hashed
	e.ChainVersion = a.Chain.Version()
	e.Hash = a.Chain.Sum(e.PrevHash, e)
	_, err = tx.ExecContext(ctx, s.d.bind(`INSERT INTO audit_events
  (seq, at, actor, role, action, target, source_ip, outcome, status, reason, prev_hash, hash, chain_version)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.Seq, e.Time.UnixMicro(), e.Actor, e.Role, e.Action, e.Target, e.SourceIP, e.Outcome, e.Status, e.Reason, e.PrevHash, e.Hash,
		e.ChainVersion)
	return err
}

// ListAudit implements Store.
func (s *sqlStore) ListAudit(ctx context.Context, afterSeq int64, limit int) ([]audit.Event, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT seq, at, actor, role, action, target, source_ip, outcome,
  status, reason, prev_hash, hash, chain_version FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`), afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var e audit.Event
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Role, &e.Action, &e.Target, &e.SourceIP, &e.Outcome,
			&e.Status, &e.Reason, &e.PrevHash, &e.Hash, &e.ChainVersion); err != nil {
			return nil, err
		}
		e.Time = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ---- instances

// Heartbeat implements Store.
func (s *sqlStore) Heartbeat(ctx context.Context, inst *Instance) error {
	return s.inTx(ctx, nil, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		if _, err := tx.ExecContext(ctx, s.d.bind(`DELETE FROM instances WHERE expires_at < ? OR id = ?`),
			micros(inst.HeartbeatAt), inst.ID); err != nil {
			return nil, err
		}
		_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO instances
  (id, host, master_key_versions, pepper_versions, started_at, heartbeat_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			inst.ID, inst.Host, jsonVersions(inst.MasterKeyVersions), jsonVersions(inst.PepperVersions),
			micros(inst.StartedAt), micros(inst.HeartbeatAt), micros(inst.ExpiresAt))
		return nil, err
	})
}

// ListInstances implements Store.
func (s *sqlStore) ListInstances(ctx context.Context, at time.Time) ([]*Instance, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT id, host, master_key_versions, pepper_versions,
  started_at, heartbeat_at, expires_at FROM instances WHERE expires_at > ? ORDER BY id`), micros(at))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Instance
	for rows.Next() {
		var in Instance
		var mk, pp string
		var started, beat, expires int64
		if err := rows.Scan(&in.ID, &in.Host, &mk, &pp, &started, &beat, &expires); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(mk), &in.MasterKeyVersions); err != nil {
			return nil, fmt.Errorf("instance %s master key versions: %w", in.ID, err)
		}
		if err := json.Unmarshal([]byte(pp), &in.PepperVersions); err != nil {
			return nil, fmt.Errorf("instance %s pepper versions: %w", in.ID, err)
		}
		in.StartedAt, in.HeartbeatAt, in.ExpiresAt = fromMicros(started), fromMicros(beat), fromMicros(expires)
		out = append(out, &in)
	}
	return out, rows.Err()
}

// RemoveInstance implements Store.
func (s *sqlStore) RemoveInstance(ctx context.Context, id string) error {
	_, err := s.exec(ctx, `DELETE FROM instances WHERE id = ?`, id)
	return err
}

func jsonVersions(v []uint32) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// versionOr1 stores an unset version as 1, the version of everything
// written before versions existed.
func versionOr1(v uint32) uint32 { return max(v, 1) }

// ---- re-encryption

func sealedTable(kind string) (string, error) {
	switch kind {
	case "consumer":
		return "consumers", nil
	case "key":
		return "api_keys", nil
	case "signing_key":
		return "signing_keys", nil
	}
	return "", fmt.Errorf("unknown sealed kind %q", kind)
}

// ListSealed implements Store.
func (s *sqlStore) ListSealed(ctx context.Context, kind, after string, limit int) ([]Sealed, error) {
	table, err := sealedTable(kind)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT id, sealed FROM `+table+`
WHERE id > ? AND sealed IS NOT NULL ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Sealed
	for rows.Next() {
		v := Sealed{Kind: kind}
		if err := rows.Scan(&v.ID, &v.Data); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ReplaceSealed implements Store.
func (s *sqlStore) ReplaceSealed(ctx context.Context, kind, id string, old, new []byte) (bool, error) {
	table, err := sealedTable(kind)
	if err != nil {
		return false, err
	}
	res, err := s.exec(ctx, `UPDATE `+table+` SET sealed = ? WHERE id = ? AND sealed = ?`, new, id, old)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ---- scanning

type scanner interface{ Scan(dest ...any) error }

// dest collects scan targets and the conversions to run after Scan.
type dest struct {
	dest   []any
	finish func() error
}

func consumerDest(c *Consumer) dest {
	var groups, labels string
	var created, updated int64
	return dest{
		dest: []any{&c.ID, &c.Name, &groups, &c.Tier, &labels, &c.Disabled, &c.Sealed, &created, &updated},
		finish: func() error {
			c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
			if err := json.Unmarshal([]byte(groups), &c.Groups); err != nil {
				return fmt.Errorf("consumer %s groups: %w", c.ID, err)
			}
			if err := json.Unmarshal([]byte(labels), &c.Labels); err != nil {
				return fmt.Errorf("consumer %s labels: %w", c.ID, err)
			}
			return nil
		},
	}
}

func scanConsumer(row scanner) (*Consumer, error) {
	var c Consumer
	d := consumerDest(&c)
	if err := row.Scan(d.dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return &c, d.finish()
}

func keyDest(k *Key) dest {
	var scopes, labels string
	var expires, grace, revoked, created, lastUsed int64
	return dest{
		dest: []any{&k.ID, &k.ConsumerID, &k.Environment, &k.Hash, &scopes, &k.Tier, &labels, &k.Sealed, &k.State,
			&expires, &grace, &k.SuccessorID, &k.PredecessorID, &revoked, &created, &lastUsed, &k.RequestCount,
			&k.PepperVersion},
		finish: func() error {
			k.ExpiresAt, k.GraceUntil, k.RevokedAt = fromMicros(expires), fromMicros(grace), fromMicros(revoked)
			k.CreatedAt, k.LastUsedAt = fromMicros(created), fromMicros(lastUsed)
			if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
				return fmt.Errorf("key %s scopes: %w", k.ID, err)
			}
			if err := json.Unmarshal([]byte(labels), &k.Labels); err != nil {
				return fmt.Errorf("key %s labels: %w", k.ID, err)
			}
			return nil
		},
	}
}

func scanKey(row scanner) (*Key, error) {
	var k Key
	d := keyDest(&k)
	if err := row.Scan(d.dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return &k, d.finish()
}

func scanToken(row scanner) (*AdminToken, error) {
	var t AdminToken
	var created, expires, revoked int64
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &t.CreatedBy, &created, &expires, &revoked, &t.PepperVersion); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return &t, nil
}

// micros stores a time as microseconds since the epoch; the zero time is 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonMap(v map[string]string) string {
	if len(v) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// DB exposes the database handle for operational tooling and the
// conformance tests (which prove the audit table rejects edits).
func (s *sqlStore) DB() *sql.DB { return s.db }

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const (
	signingKeyCols = `id, consumer_id, key_id, alg, sealed, state, expires_at, grace_until, successor_id,
  predecessor_id, revoked_at, created_at`
	identityCols = `id, issuer, client_id, consumer_id, created_at`
)

// ---- signing keys

// CreateSigningKey implements Store.
func (s *sqlStore) CreateSigningKey(ctx context.Context, k *SigningKey, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		if err := s.consumerExists(ctx, tx, k.ConsumerID); err != nil {
			return nil, err
		}
		if err := s.insertSigningKey(ctx, tx, k); err != nil {
			return nil, err
		}
		return []Change{{Kind: SigningKeysChanged, ID: k.ConsumerID}}, nil
	})
}

func (s *sqlStore) insertSigningKey(ctx context.Context, tx *sql.Tx, k *SigningKey) error {
	_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO signing_keys (`+signingKeyCols+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID, k.ConsumerID, k.KeyID, k.Alg, k.Sealed, k.State, micros(k.ExpiresAt), micros(k.GraceUntil),
		k.SuccessorID, k.PredecessorID, micros(k.RevokedAt), micros(k.CreatedAt))
	return s.wrapUnique(err, "a signing key with this id or key id")
}

// GetSigningKey implements Store.
func (s *sqlStore) GetSigningKey(ctx context.Context, id string) (*SigningKey, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return scanSigningKey(s.db.QueryRowContext(ctx, s.d.bind(`SELECT `+signingKeyCols+` FROM signing_keys WHERE id = ?`), id))
}

// FindSigningKey implements Store.
func (s *sqlStore) FindSigningKey(ctx context.Context, consumerID, keyID string) (*SigningKey, *Consumer, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	row := s.db.QueryRowContext(ctx, s.d.bind(`SELECT k.id, k.consumer_id, k.key_id, k.alg, k.sealed, k.state,
  k.expires_at, k.grace_until, k.successor_id, k.predecessor_id, k.revoked_at, k.created_at,
  COALESCE(c.id, ''), COALESCE(c.name, ''), COALESCE(c.groups_json, '[]'), COALESCE(c.tier, ''),
  COALESCE(c.labels_json, '{}'), COALESCE(c.disabled, FALSE), c.sealed, COALESCE(c.created_at, 0),
  COALESCE(c.updated_at, 0)
FROM signing_keys k LEFT JOIN consumers c ON c.id = k.consumer_id AND c.deleted_at = 0
WHERE k.consumer_id = ? AND k.key_id = ?`), consumerID, keyID)
	var k SigningKey
	var c Consumer
	kd := signingKeyDest(&k)
	cd := consumerDest(&c)
	if err := row.Scan(append(kd.dest, cd.dest...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, err
	}
	kd.finish()
	if c.ID == "" {
		return &k, nil, nil
	}
	if err := cd.finish(); err != nil {
		return nil, nil, err
	}
	return &k, &c, nil
}

// ListSigningKeys implements Store.
func (s *sqlStore) ListSigningKeys(ctx context.Context, consumerID string, p Page) ([]*SigningKey, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	q, args := `SELECT `+signingKeyCols+` FROM signing_keys WHERE id > ? ORDER BY id LIMIT ?`, []any{p.After, p.Limit}
	if consumerID != "" {
		q, args = `SELECT `+signingKeyCols+` FROM signing_keys WHERE consumer_id = ? AND id > ? ORDER BY id LIMIT ?`,
			[]any{consumerID, p.After, p.Limit}
	}
	rows, err := s.db.QueryContext(ctx, s.d.bind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*SigningKey
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RotateSigningKey implements Store.
func (s *sqlStore) RotateSigningKey(ctx context.Context, oldID string, graceUntil time.Time, successor *SigningKey, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		// The conditional update is the concurrency guard, as for API keys.
		res, err := tx.ExecContext(ctx, s.d.bind(`UPDATE signing_keys SET state = 'rotating', grace_until = ?,
  successor_id = ? WHERE id = ? AND consumer_id = ? AND state = 'active'`), micros(graceUntil), successor.ID, oldID, successor.ConsumerID)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var state string
			err := tx.QueryRowContext(ctx, s.d.bind(`SELECT state FROM signing_keys WHERE id = ? AND consumer_id = ?`),
				oldID, successor.ConsumerID).Scan(&state)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, ErrNotFound
			}
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: the signing key is %s, only an active key can be rotated", ErrConflict, state)
		}
		successor.PredecessorID = oldID
		if err := s.insertSigningKey(ctx, tx, successor); err != nil {
			return nil, err
		}
		return []Change{{Kind: SigningKeysChanged, ID: successor.ConsumerID}}, nil
	})
}

// RevokeSigningKey implements Store.
func (s *sqlStore) RevokeSigningKey(ctx context.Context, id string, at time.Time, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		var consumer string
		err := tx.QueryRowContext(ctx, s.d.bind(`SELECT consumer_id FROM signing_keys WHERE id = ?`), id).Scan(&consumer)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		res, err := tx.ExecContext(ctx, s.d.bind(`UPDATE signing_keys SET state = 'revoked', revoked_at = ?
WHERE id = ? AND state <> 'revoked'`), micros(at), id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, nil
		}
		return []Change{{Kind: SigningKeysChanged, ID: consumer}}, nil
	})
}

// ---- identities

// CreateIdentity implements Store.
func (s *sqlStore) CreateIdentity(ctx context.Context, i *Identity, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		if err := s.consumerExists(ctx, tx, i.ConsumerID); err != nil {
			return nil, err
		}
		_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO consumer_identities (`+identityCols+`) VALUES (?, ?, ?, ?, ?)`),
			i.ID, i.Issuer, i.ClientID, i.ConsumerID, micros(i.CreatedAt))
		if err != nil {
			return nil, s.wrapUnique(err, "a mapping of this issuer's client")
		}
		return []Change{{Kind: IdentitiesChanged, ID: i.ID}}, nil
	})
}

// GetIdentity implements Store.
func (s *sqlStore) GetIdentity(ctx context.Context, id string) (*Identity, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return scanIdentity(s.db.QueryRowContext(ctx, s.d.bind(`SELECT `+identityCols+` FROM consumer_identities WHERE id = ?`), id))
}

// FindIdentity implements Store.
func (s *sqlStore) FindIdentity(ctx context.Context, issuer, clientID string) (*Identity, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return scanIdentity(s.db.QueryRowContext(ctx, s.d.bind(`SELECT `+identityCols+` FROM consumer_identities
WHERE issuer = ? AND client_id = ?`), issuer, clientID))
}

// ListIdentities implements Store.
func (s *sqlStore) ListIdentities(ctx context.Context, consumerID string, p Page) ([]*Identity, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	q, args := `SELECT `+identityCols+` FROM consumer_identities WHERE id > ? ORDER BY id LIMIT ?`, []any{p.After, p.Limit}
	if consumerID != "" {
		q, args = `SELECT `+identityCols+` FROM consumer_identities WHERE consumer_id = ? AND id > ? ORDER BY id LIMIT ?`,
			[]any{consumerID, p.After, p.Limit}
	}
	rows, err := s.db.QueryContext(ctx, s.d.bind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Identity
	for rows.Next() {
		i, err := scanIdentity(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// DeleteIdentity implements Store.
func (s *sqlStore) DeleteIdentity(ctx context.Context, id string, a *Audit) error {
	return s.inTx(ctx, a, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		res, err := tx.ExecContext(ctx, s.d.bind(`DELETE FROM consumer_identities WHERE id = ?`), id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, ErrNotFound
		}
		return []Change{{Kind: IdentitiesChanged, ID: id}}, nil
	})
}

// ---- scanning

type signingDest struct {
	dest   []any
	finish func()
}

func signingKeyDest(k *SigningKey) signingDest {
	var expires, grace, revoked, created int64
	return signingDest{
		dest: []any{&k.ID, &k.ConsumerID, &k.KeyID, &k.Alg, &k.Sealed, &k.State, &expires, &grace,
			&k.SuccessorID, &k.PredecessorID, &revoked, &created},
		finish: func() {
			k.ExpiresAt, k.GraceUntil, k.RevokedAt = fromMicros(expires), fromMicros(grace), fromMicros(revoked)
			k.CreatedAt = fromMicros(created)
		},
	}
}

func scanSigningKey(row scanner) (*SigningKey, error) {
	var k SigningKey
	d := signingKeyDest(&k)
	if err := row.Scan(d.dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	d.finish()
	return &k, nil
}

func scanIdentity(row scanner) (*Identity, error) {
	var i Identity
	var created int64
	if err := row.Scan(&i.ID, &i.Issuer, &i.ClientID, &i.ConsumerID, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	i.CreatedAt = fromMicros(created)
	return &i, nil
}

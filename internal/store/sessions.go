package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ConsoleSession is a web console sign-in. The store keeps the SHA-256 of
// the session id, never the id.
type ConsoleSession struct {
	IDHash    []byte
	TokenID   string
	Actor     string
	Role      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateConsoleSession implements Store. Expired sessions are removed in
// the same transaction, so the table holds live sessions only.
func (s *sqlStore) CreateConsoleSession(ctx context.Context, cs *ConsoleSession) error {
	return s.inTx(ctx, nil, func(ctx context.Context, tx *sql.Tx) ([]Change, error) {
		if _, err := tx.ExecContext(ctx, s.d.bind(`DELETE FROM console_sessions WHERE expires_at <= ?`), micros(cs.CreatedAt)); err != nil {
			return nil, err
		}
		_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO console_sessions (id_hash, token_id, actor, role, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?)`), cs.IDHash, cs.TokenID, cs.Actor, cs.Role, micros(cs.CreatedAt), micros(cs.ExpiresAt))
		return nil, s.wrapUnique(err, "a console session with this id")
	})
}

// GetConsoleSession implements Store.
func (s *sqlStore) GetConsoleSession(ctx context.Context, idHash []byte, now time.Time) (*ConsoleSession, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	cs := &ConsoleSession{IDHash: idHash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, s.d.bind(`SELECT token_id, actor, role, created_at, expires_at FROM console_sessions
WHERE id_hash = ? AND expires_at > ?`), idHash, micros(now)).Scan(&cs.TokenID, &cs.Actor, &cs.Role, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	cs.CreatedAt, cs.ExpiresAt = fromMicros(created), fromMicros(expires)
	return cs, nil
}

// DeleteConsoleSession implements Store.
func (s *sqlStore) DeleteConsoleSession(ctx context.Context, idHash []byte) error {
	_, err := s.exec(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, idHash)
	return err
}

// DeleteConsoleSessionsOfToken implements Store.
func (s *sqlStore) DeleteConsoleSessionsOfToken(ctx context.Context, tokenID string) error {
	_, err := s.exec(ctx, `DELETE FROM console_sessions WHERE token_id = ?`, tokenID)
	return err
}

-- Web console sessions, shared by every admin instance on this store. The
-- session id itself is never stored: id_hash is its SHA-256.
CREATE TABLE console_sessions (
  id_hash    BLOB PRIMARY KEY,
  token_id   TEXT NOT NULL,
  actor      TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_token ON console_sessions (token_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- Why a person acted, for actions that ask (key revocations from the
-- console or the API); part of the event's hash when not empty.
ALTER TABLE audit_events ADD COLUMN reason TEXT NOT NULL DEFAULT '';

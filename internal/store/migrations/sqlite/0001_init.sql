-- Consumers, API keys, admin tokens and the append-only audit trail.
-- Times are microseconds since the Unix epoch (0: unset).
CREATE TABLE consumers (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  groups_json TEXT NOT NULL DEFAULT '[]',
  tier        TEXT NOT NULL DEFAULT '',
  labels_json TEXT NOT NULL DEFAULT '{}',
  disabled    INTEGER NOT NULL DEFAULT 0,
  sealed      BLOB,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  deleted_at  INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX consumers_live_name ON consumers (name) WHERE deleted_at = 0;

CREATE TABLE api_keys (
  id             TEXT PRIMARY KEY,
  consumer_id    TEXT NOT NULL REFERENCES consumers (id),
  environment    TEXT NOT NULL,
  hash           BLOB NOT NULL,
  scopes_json    TEXT NOT NULL DEFAULT '[]',
  tier           TEXT NOT NULL DEFAULT '',
  labels_json    TEXT NOT NULL DEFAULT '{}',
  sealed         BLOB,
  state          TEXT NOT NULL CHECK (state IN ('active', 'rotating', 'revoked')),
  expires_at     INTEGER NOT NULL DEFAULT 0,
  grace_until    INTEGER NOT NULL DEFAULT 0,
  successor_id   TEXT NOT NULL DEFAULT '',
  predecessor_id TEXT NOT NULL DEFAULT '',
  revoked_at     INTEGER NOT NULL DEFAULT 0,
  created_at     INTEGER NOT NULL,
  last_used_at   INTEGER NOT NULL DEFAULT 0,
  request_count  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_consumer ON api_keys (consumer_id, id);

CREATE TABLE admin_tokens (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
  hash       BLOB NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE audit_events (
  seq       INTEGER PRIMARY KEY,
  at        INTEGER NOT NULL,
  actor     TEXT NOT NULL,
  role      TEXT NOT NULL,
  action    TEXT NOT NULL,
  target    TEXT NOT NULL,
  source_ip TEXT NOT NULL,
  outcome   TEXT NOT NULL,
  status    INTEGER NOT NULL,
  prev_hash BLOB NOT NULL,
  hash      BLOB NOT NULL
);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

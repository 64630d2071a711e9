-- Consumers, API keys, admin tokens and the append-only audit trail.
-- Times are microseconds since the Unix epoch (0: unset), as in SQLite, so
-- both stores share one implementation; to_timestamp(x / 1e6) reads them.
CREATE TABLE consumers (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  groups_json TEXT NOT NULL DEFAULT '[]',
  tier        TEXT NOT NULL DEFAULT '',
  labels_json TEXT NOT NULL DEFAULT '{}',
  disabled    BOOLEAN NOT NULL DEFAULT FALSE,
  sealed      BYTEA,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  deleted_at  BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX consumers_live_name ON consumers (name) WHERE deleted_at = 0;

CREATE TABLE api_keys (
  id             TEXT PRIMARY KEY,
  consumer_id    TEXT NOT NULL REFERENCES consumers (id),
  environment    TEXT NOT NULL,
  hash           BYTEA NOT NULL,
  scopes_json    TEXT NOT NULL DEFAULT '[]',
  tier           TEXT NOT NULL DEFAULT '',
  labels_json    TEXT NOT NULL DEFAULT '{}',
  sealed         BYTEA,
  state          TEXT NOT NULL CHECK (state IN ('active', 'rotating', 'revoked')),
  expires_at     BIGINT NOT NULL DEFAULT 0,
  grace_until    BIGINT NOT NULL DEFAULT 0,
  successor_id   TEXT NOT NULL DEFAULT '',
  predecessor_id TEXT NOT NULL DEFAULT '',
  revoked_at     BIGINT NOT NULL DEFAULT 0,
  created_at     BIGINT NOT NULL,
  last_used_at   BIGINT NOT NULL DEFAULT 0,
  request_count  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_consumer ON api_keys (consumer_id, id);

CREATE TABLE admin_tokens (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
  hash       BYTEA NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL DEFAULT 0,
  revoked_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit_events (
  seq       BIGINT PRIMARY KEY,
  at        BIGINT NOT NULL,
  actor     TEXT NOT NULL,
  role      TEXT NOT NULL,
  action    TEXT NOT NULL,
  target    TEXT NOT NULL,
  source_ip TEXT NOT NULL,
  outcome   TEXT NOT NULL,
  status    INTEGER NOT NULL,
  prev_hash BYTEA NOT NULL,
  hash      BYTEA NOT NULL
);
CREATE FUNCTION portcullis_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION portcullis_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION portcullis_audit_append_only();

-- Versioned secrets: the pepper version each credential is hashed under,
-- the chain key version of each audit event, and the instances with the
-- master key and pepper versions they hold (kept alive by a heartbeat;
-- rows past expires_at are dead instances). Adding a column with a
-- constant default rewrites no row, so the append-only trigger on
-- audit_events is not fired.
ALTER TABLE api_keys ADD COLUMN pepper_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE admin_tokens ADD COLUMN pepper_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN chain_version INTEGER NOT NULL DEFAULT 1;

CREATE TABLE instances (
  id                  TEXT PRIMARY KEY,
  host                TEXT NOT NULL,
  master_key_versions TEXT NOT NULL,
  pepper_versions     TEXT NOT NULL,
  started_at          BIGINT NOT NULL,
  heartbeat_at        BIGINT NOT NULL,
  expires_at          BIGINT NOT NULL
);
CREATE INDEX instances_expiry ON instances (expires_at);

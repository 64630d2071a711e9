-- HTTP Message Signatures (RFC 9421): consumers' public keys, and the
-- mapping of token callers (an issuer's client_id/azp) to consumers.
-- The public key is sealed (AES-GCM under the master key, bound to its
-- row), so a row edited in the database no longer verifies anything.
CREATE TABLE signing_keys (
  id             TEXT PRIMARY KEY,
  consumer_id    TEXT NOT NULL REFERENCES consumers (id),
  key_id         TEXT NOT NULL,
  alg            TEXT NOT NULL,
  sealed         BYTEA NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('active', 'rotating', 'revoked')),
  expires_at     BIGINT NOT NULL DEFAULT 0,
  grace_until    BIGINT NOT NULL DEFAULT 0,
  successor_id   TEXT NOT NULL DEFAULT '',
  predecessor_id TEXT NOT NULL DEFAULT '',
  revoked_at     BIGINT NOT NULL DEFAULT 0,
  created_at     BIGINT NOT NULL
);
-- A keyid names one key of a consumer forever: revoked keys keep theirs.
CREATE UNIQUE INDEX signing_keys_key_id ON signing_keys (consumer_id, key_id);

CREATE TABLE consumer_identities (
  id          TEXT PRIMARY KEY,
  issuer      TEXT NOT NULL,
  client_id   TEXT NOT NULL,
  consumer_id TEXT NOT NULL REFERENCES consumers (id),
  created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX consumer_identities_client ON consumer_identities (issuer, client_id);
CREATE INDEX consumer_identities_consumer ON consumer_identities (consumer_id, id);

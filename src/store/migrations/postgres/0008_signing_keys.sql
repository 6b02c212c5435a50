-- sigil: the key set of the database store (PostgreSQL), SIGIL_KEY_STORE=database.
-- One row per signing key: its metadata in the clear (the JWK Set is public
-- anyway) and its private key sealed with AES-256-GCM under the
-- key-encryption key whose id is kek_id, with the kid as associated data
-- (see src/keys/seal.rs). At most one key is active: the partial unique index
-- makes a second one impossible, whatever a writer does.
-- signing_key_set holds one row whose version every committed change of
-- signing_keys bumps, in the same transaction, so an instance learns
-- whether the set changed with one cheap read.

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    created_at   TIMESTAMPTZ NOT NULL,
    activated_at TIMESTAMPTZ,
    retired_at   TIMESTAMPTZ,
    grace_until  TIMESTAMPTZ,
    sealed_key   BYTEA NOT NULL,
    kek_id       TEXT NOT NULL
);

CREATE UNIQUE INDEX signing_keys_one_active_idx ON signing_keys ((true))
    WHERE state = 'active';

CREATE TABLE signing_key_set (
    id      BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    version BIGINT NOT NULL
);

INSERT INTO signing_key_set (id, version) VALUES (true, 0);

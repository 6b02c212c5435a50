-- sigil: initial schema (PostgreSQL).
-- The same tables as the SQLite schema of the same version, in native types:
-- uuid ids, timestamptz (microseconds), boolean, bytea and text[] for scopes.
-- email_lower is computed by sigil (Rust's lower-casing), not by lower(), so
-- both backends agree on which addresses collide.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL,
    email_lower   text        NOT NULL,
    name          text        NOT NULL,
    password_hash text        NOT NULL,
    scopes        text[]      NOT NULL DEFAULT '{}',
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);

CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
CREATE INDEX users_created_at_id_idx ON users (created_at, id);

CREATE TABLE refresh_families (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      text        NOT NULL,   -- scope granted at login, kept for refreshes
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE INDEX refresh_families_user_id_idx ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    id         uuid        PRIMARY KEY,
    family_id  uuid        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    token_hash bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);

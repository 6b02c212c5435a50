-- sigil: initial schema (SQLite).
-- Ids are UUIDs as lowercase hyphenated text. Timestamps are UTC text in the
-- fixed form YYYY-MM-DDTHH:MM:SS.ffffffZ, so text order is time order.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    email         TEXT    NOT NULL,
    email_lower   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    scopes        TEXT    NOT NULL DEFAULT '[]',   -- JSON array of strings
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT    NOT NULL
);

CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
CREATE INDEX users_created_at_id_idx ON users (created_at, id);

CREATE TABLE refresh_families (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,   -- scope granted at login, kept for refreshes
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE INDEX refresh_families_user_id_idx ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);

CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);

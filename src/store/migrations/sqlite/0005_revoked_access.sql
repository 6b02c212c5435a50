-- sigil: access tokens revoked before their expiry (RFC 7009), SQLite.
-- One row per revoked token, by its `jti`; `expires_at` is the token's own
-- `exp` (same fixed-width UTC text as 0001), after which the row can go: an
-- expired token is refused anyway. Shared by every instance on the database.

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX revoked_access_tokens_expires_at_idx ON revoked_access_tokens (expires_at);

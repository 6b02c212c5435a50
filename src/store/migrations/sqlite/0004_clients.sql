-- sigil: confidential OAuth 2.0 clients and their secrets (SQLite).
-- Timestamps use the fixed-width UTC text of 0001. A secret is stored only as
-- its SHA-256 hash; expires_at is NULL for the current secret and set when a
-- rotation lets the previous one keep working for the overlap.

CREATE TABLE clients (
    id         TEXT    PRIMARY KEY NOT NULL,
    name       TEXT    NOT NULL,
    scopes     TEXT    NOT NULL DEFAULT '[]',   -- JSON array of strings
    audience   TEXT,
    disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at TEXT    NOT NULL
);

CREATE INDEX clients_created_at_id_idx ON clients (created_at, id);

CREATE TABLE client_secrets (
    id          TEXT PRIMARY KEY NOT NULL,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT
);

CREATE INDEX client_secrets_client_id_idx ON client_secrets (client_id);

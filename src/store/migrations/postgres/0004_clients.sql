-- sigil: confidential OAuth 2.0 clients and their secrets (PostgreSQL).
-- The same tables as the SQLite schema of the same version, in native types.
-- A secret is stored only as its SHA-256 hash; expires_at is NULL for the
-- current secret and set when a rotation lets the previous one keep working
-- for the overlap.

CREATE TABLE clients (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    scopes     text[]      NOT NULL DEFAULT '{}',
    audience   text,
    disabled   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

CREATE INDEX clients_created_at_id_idx ON clients (created_at, id);

CREATE TABLE client_secrets (
    id          uuid        PRIMARY KEY,
    client_id   text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    secret_hash bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz
);

CREATE INDEX client_secrets_client_id_idx ON client_secrets (client_id);

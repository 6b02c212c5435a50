-- sigil: failed-login bookkeeping for throttling (PostgreSQL).
-- One row per key (the lower-cased email, later perhaps a client address).
-- last_failure_at is NULL for a row made only by a lock.

CREATE TABLE login_throttle (
    key             text        PRIMARY KEY,
    failures        integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failure_at timestamptz,
    locked_until    timestamptz
);

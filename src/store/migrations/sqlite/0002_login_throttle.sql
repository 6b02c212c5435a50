-- sigil: failed-login bookkeeping for throttling (SQLite).
-- One row per key (the lower-cased email, later perhaps a client address).
-- Timestamps use the same fixed-width UTC text as 0001, so text order is time
-- order. last_failure_at is NULL for a row made only by a lock.

CREATE TABLE login_throttle (
    key             TEXT    PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failure_at TEXT,
    locked_until    TEXT
);

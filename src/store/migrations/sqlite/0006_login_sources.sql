-- sigil: the addresses each account logged in from (SQLite).
-- One row per account and source (an IPv4 address or an IPv6 /64, as text),
-- with the time of the latest successful login from it. A known source keeps
-- a login budget of its own; every other source shares the account-wide one.
-- Each account keeps a bounded number of rows (trimmed at each login); they
-- go with the account.

CREATE TABLE login_sources (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source        TEXT NOT NULL,
    last_login_at TEXT NOT NULL,
    PRIMARY KEY (user_id, source)
);

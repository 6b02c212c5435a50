-- sigil: sessions and the refresh reuse interval (SQLite).
-- A refresh family is what a user sees as one session: where it was started
-- (the User-Agent, cleaned and at most 256 characters, and the client
-- address) and when it was last logged in or refreshed. Families from before
-- this version count as last used when they were created.
-- A used-up token keeps the id of the token it was used up for and that
-- token sealed (AES-256-GCM) under a key only the used-up token itself
-- yields, so that a repeat within the reuse interval gets the same
-- successor while the database holds nothing usable.

ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;
ALTER TABLE refresh_families ADD COLUMN client_addr TEXT;
ALTER TABLE refresh_families ADD COLUMN last_used_at TEXT;
UPDATE refresh_families SET last_used_at = created_at;

ALTER TABLE refresh_tokens ADD COLUMN successor_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN sealed_successor BLOB;

-- sigil: what is kept of used-up refresh tokens (SQLite).
-- A used-up token's row is deleted once it is past its own expiry and its
-- successor is used up too; the index on (family_id, expires_at) lets each
-- rotation find exactly those rows of its family (it also serves every
-- lookup the index on family_id alone served, which it replaces). A sealed
-- successor is dropped once that successor is used up; the partial index
-- finds the one row of a family still holding one.

DROP INDEX refresh_tokens_family_id_idx;
CREATE INDEX refresh_tokens_family_id_expires_at_idx ON refresh_tokens (family_id, expires_at);
CREATE INDEX refresh_tokens_sealed_successor_id_idx ON refresh_tokens (successor_id)
    WHERE sealed_successor IS NOT NULL;

UPDATE refresh_tokens SET sealed_successor = NULL
WHERE sealed_successor IS NOT NULL
  AND successor_id IN (SELECT id FROM refresh_tokens WHERE used_at IS NOT NULL);

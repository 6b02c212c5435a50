-- sigil: a refresh in one round trip (PostgreSQL).
-- sigil_rotate_refresh is the common case of presenting a refresh token, the
-- `Rotated` row of the policy's table (src/store/refresh.rs, `is_rotation`):
-- the token is stored, unused and unexpired at p_now, its family is not
-- revoked and its owner not disabled. It first reads the token as a reader
-- would (no lock); only when that read shows such a token does it run the one
-- statement that locks the token's row and its family's row (FOR UPDATE OF
-- t, f, the same locks as the full path), checks the same condition again on
-- the rows as locked (under READ COMMITTED a row that changed while this
-- waited is read again as committed), and then, in that same statement, uses
-- the token up, stores its successor, records the family's use, drops the
-- sealed copy of the presented token from its predecessor's row and deletes
-- the family's spent rows (both skipping rows another transaction holds).
-- It returns no row for a token the database does not hold, otherwise one
-- row: the token as the first read saw it, and whether it was rotated. When
-- it was not, it has written nothing and the caller decides with the full
-- path (src/store/refresh.rs, `rotate`), starting from that read.
-- A token that is not stored, or cannot be rotated, never reaches the
-- writing statement, so it takes no lock a writer takes.

CREATE FUNCTION sigil_rotate_refresh(
    p_presented bytea,
    p_now timestamptz,
    p_next_id uuid,
    p_next_hash bytea,
    p_next_expires_at timestamptz,
    p_sealed bytea,
    p_spent_before timestamptz
) RETURNS TABLE (
    family_id uuid,
    user_id uuid,
    scope text,
    created_at timestamptz,
    expires_at timestamptz,
    used boolean,
    family_revoked boolean,
    owner_disabled boolean,
    rotated boolean
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    seen record;
    done boolean := false;
BEGIN
    SELECT t.family_id, f.user_id, f.scope, t.created_at, t.expires_at,
           t.used_at IS NOT NULL AS used, f.revoked_at IS NOT NULL AS family_revoked,
           u.disabled AS owner_disabled
      INTO seen
      FROM refresh_tokens t
      JOIN refresh_families f ON f.id = t.family_id
      JOIN users u ON u.id = f.user_id
     WHERE t.token_hash = p_presented;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT seen.used AND NOT seen.family_revoked AND NOT seen.owner_disabled
       AND seen.expires_at > p_now THEN
        WITH held AS (
            SELECT t.id, t.family_id
              FROM refresh_tokens t
              JOIN refresh_families f ON f.id = t.family_id
              JOIN users u ON u.id = f.user_id
             WHERE t.token_hash = p_presented
               AND t.used_at IS NULL AND t.expires_at > p_now
               AND f.revoked_at IS NULL AND NOT u.disabled
               FOR UPDATE OF t, f
        ), used_up AS (
            UPDATE refresh_tokens t
               SET used_at = p_now, successor_id = p_next_id, sealed_successor = p_sealed
              FROM held
             WHERE t.id = held.id AND t.used_at IS NULL
            RETURNING t.id, t.family_id
        ), successor AS (
            INSERT INTO refresh_tokens (id, family_id, token_hash, created_at, expires_at)
            SELECT p_next_id, used_up.family_id, p_next_hash, p_now, p_next_expires_at
              FROM used_up
        ), touched AS (
            UPDATE refresh_families f SET last_used_at = p_now
              FROM used_up
             WHERE f.id = used_up.family_id
        ), dropped AS (
            -- The predecessor's sealed copy, unless the predecessor is spent
            -- now and deleted below (one statement changes a row once).
            UPDATE refresh_tokens p SET sealed_successor = NULL
             WHERE p.id IN (
                SELECT q.id FROM refresh_tokens q JOIN used_up ON q.successor_id = used_up.id
                 WHERE q.sealed_successor IS NOT NULL AND q.expires_at >= p_spent_before
                   FOR UPDATE OF q SKIP LOCKED)
        ), spent AS (
            -- Used up, expired before p_spent_before, successor not unused
            -- (the presented token counts as used up: it is, as of this
            -- statement).
            DELETE FROM refresh_tokens d
             WHERE d.id IN (
                SELECT s.id FROM refresh_tokens s JOIN used_up ON s.family_id = used_up.family_id
                 WHERE s.used_at IS NOT NULL AND s.expires_at < p_spent_before
                   AND NOT EXISTS (
                       SELECT 1 FROM refresh_tokens n
                        WHERE n.id = s.successor_id AND n.used_at IS NULL
                          AND n.id <> used_up.id)
                   FOR UPDATE OF s SKIP LOCKED)
        )
        SELECT true INTO done FROM used_up;
        done := FOUND;
    END IF;
    RETURN QUERY SELECT seen.family_id, seen.user_id, seen.scope, seen.created_at,
        seen.expires_at, seen.used, seen.family_revoked, seen.owner_disabled, done;
END;
$$;

-- sigil_revoke_family_of is logout in one round trip, the rule of
-- src/store/refresh.rs's `revoke_family_of`: a stored token's family is
-- revoked (an earlier revocation time is kept) and the answer is true; a token
-- the database does not hold changes nothing and the answer is false. Like
-- sigil_rotate_refresh it reads first, so such a token, or one whose family is
-- already revoked, takes no lock a writer takes.

CREATE FUNCTION sigil_revoke_family_of(p_presented bytea, p_now timestamptz)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    seen record;
BEGIN
    SELECT f.revoked_at IS NOT NULL AS family_revoked
      INTO seen
      FROM refresh_tokens t
      JOIN refresh_families f ON f.id = t.family_id
     WHERE t.token_hash = p_presented;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF seen.family_revoked THEN
        RETURN true;
    END IF;
    UPDATE refresh_families f SET revoked_at = p_now
      FROM refresh_tokens t
     WHERE t.token_hash = p_presented AND f.id = t.family_id AND f.revoked_at IS NULL;
    RETURN FOUND OR EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.token_hash = p_presented);
END;
$$;

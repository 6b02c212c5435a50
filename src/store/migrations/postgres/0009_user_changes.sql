-- sigil: notifications of changed users and revoked access tokens (PostgreSQL).
-- Every instance keeps the users and the revoked access tokens that bearer
-- checks read in memory (src/store/cached.rs) and LISTENs on
-- sigil_user_changes; these triggers make every committed change of either
-- table notify, whoever wrote it: another instance, `sigil users …`, or an
-- operator's own SQL. PostgreSQL delivers a notification at the commit of its
-- transaction, to every listener, in commit order. The payload names the
-- table; a listener forgets everything it holds whatever the payload.
-- Not notified, because no cache can hold them stale: a new user (only
-- users read from the table are held) and a deleted revocation (purged
-- once the token expired, when it is refused anyway).

CREATE FUNCTION sigil_notify_user_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sigil_user_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_notify_changes
    AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION sigil_notify_user_changes();

CREATE TRIGGER revoked_access_tokens_notify_changes
    AFTER INSERT OR UPDATE ON revoked_access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION sigil_notify_user_changes();

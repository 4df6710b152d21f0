-- Web sessions in the database (issue 16; docs/web.md "Sessions"): the web tier is stateless,
-- so any number of web server processes share the sessions, and a restart signs nobody out.
-- The web login reaches the table only through the SECURITY DEFINER functions below (as
-- hublink_web, like web_sign_in): it cannot list, read or change a session whose id it was not
-- given by the browser. The id is made here (never chosen by the web tier, so never planted)
-- and stored only as its SHA-256: a copy of the table, a backup or a look by an admin gives no
-- cookie that works. The idle and absolute time-outs are checked here on every read, and an
-- ended session's row is deleted; its end is a web_sign_out security event (NFR 0020).

CREATE TABLE hublink.web_session (
    id_hash      bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    role_name    name,
    csrf_token   text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    client_addr  text,
    idle_seconds integer NOT NULL CHECK (idle_seconds BETWEEN 1 AND 28800),
    max_seconds  integer NOT NULL CHECK (max_seconds BETWEEN 1 AND 86400),
    created_at   timestamptz NOT NULL DEFAULT now(),
    seen_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.web_session IS
    'The web interface''s sessions (docs/web.md "Sessions"): written and read only through the '
    'hublink.web_session_* functions; the id is kept as its SHA-256 only.';
COMMENT ON COLUMN hublink.web_session.id_hash IS 'SHA-256 of the session id (the cookie''s value); the id itself is not stored.';
COMMENT ON COLUMN hublink.web_session.role_name IS 'The signed-in person''s role; NULL while the sign-in is under way.';
COMMENT ON COLUMN hublink.web_session.csrf_token IS 'The token every form of this session carries (CSRF).';
COMMENT ON COLUMN hublink.web_session.data IS
    'What the web tier keeps between requests: the sign-in under way (PKCE verifier, state, nonce, '
    'where to go), the person''s name, groups and clearance at sign-in, a message for the next page.';
COMMENT ON COLUMN hublink.web_session.client_addr IS 'The address the person signed in from (security events).';
COMMENT ON COLUMN hublink.web_session.idle_seconds IS 'The session ends after this long without a request.';
COMMENT ON COLUMN hublink.web_session.max_seconds IS 'The session ends this long after it started, whatever.';
COMMENT ON COLUMN hublink.web_session.created_at IS 'When it started.';
COMMENT ON COLUMN hublink.web_session.seen_at IS 'Its last request.';
CREATE INDEX web_session_seen ON hublink.web_session (seen_at);
COMMENT ON INDEX hublink.web_session_seen IS 'The sweep of idle sessions.';
REVOKE ALL ON hublink.web_session FROM PUBLIC;

INSERT INTO hublink.access_table_override VALUES
    ('web\_session', 'own_grants', 'Web sessions (94_web_sessions.sql, docs/web.md): no role reads '
                     'or writes them but through the web_session_* functions.');
INSERT INTO hublink.audit_exclusion VALUES
    ('web_session', 'Web sessions: every request touches its row; sign-ins and sign-outs are security '
                    'events (hublink.logon, web_sign_out), and the pages'' reads and writes are audited '
                    'as the person.');

-- The hash of a session id as the browser sent it; NULL for anything that is not an id made
-- by web_session_start (43 base64url characters), so a stored hash given as an id matches nothing.
CREATE FUNCTION hublink.web_session_hash(p_id text) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN p_id ~ '^[A-Za-z0-9_-]{43}$' THEN pg_catalog.sha256(pg_catalog.convert_to(p_id, 'UTF8')) END;
COMMENT ON FUNCTION hublink.web_session_hash(text) IS
    'SHA-256 of a session id of the right form, else NULL. Internal (web_session_*).';
REVOKE ALL ON FUNCTION hublink.web_session_hash(text) FROM PUBLIC;

CREATE FUNCTION hublink.web_session_start(p_role_name text, p_data jsonb, p_client_addr text,
                                          p_idle_seconds integer, p_max_seconds integer)
    RETURNS TABLE (session_id text, csrf_token text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- A session acts for a person only if the web login may act for them (web_sign_in's checks
    -- on the mapped role: it was granted, it is no superuser and obeys row-level security).
    IF p_role_name IS NOT NULL AND NOT EXISTS (
           SELECT FROM hublink.security_web_identity w JOIN pg_catalog.pg_roles r ON r.rolname = w.role_name
            WHERE w.role_name = p_role_name AND NOT r.rolsuper AND NOT r.rolbypassrls
              AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'no web session for role "%"', p_role_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The role is not mapped from a web identity, the web login was not granted it, or it is a superuser or bypasses row-level security.',
                  HINT = 'Start a session for a person after hublink.web_sign_in succeeded for them.';
    END IF;
    session_id := pg_catalog.translate(pg_catalog.rtrim(pg_catalog.encode(hublink.crypto_random_key(), 'base64'), '='), '+/', '-_');
    csrf_token := pg_catalog.translate(pg_catalog.rtrim(pg_catalog.encode(hublink.crypto_random_key(), 'base64'), '='), '+/', '-_');
    INSERT INTO hublink.web_session (id_hash, role_name, csrf_token, data, client_addr, idle_seconds, max_seconds)
    VALUES (hublink.web_session_hash(session_id), p_role_name, csrf_token, coalesce(p_data, '{}'), p_client_addr,
            p_idle_seconds, p_max_seconds);
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_start(text, jsonb, text, integer, integer) IS
    'Starts a web session, for a sign-in under way (p_role_name NULL) or for a person signed in '
    '(a role mapped from a web identity, granted to the web login): returns a new random id for '
    'the cookie and the session''s CSRF token. The id is stored as its SHA-256 only. For the web '
    'login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_start(text, jsonb, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_start(text, jsonb, text, integer, integer) TO hublink_web;

-- Deletes a session and records the end of a signed-in one (sign-out, time-out) as a
-- web_sign_out security event. Internal.
CREATE FUNCTION hublink.web_session_close(s hublink.web_session, p_reason text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM hublink.web_session w WHERE w.id_hash = s.id_hash;
    IF FOUND AND s.role_name IS NOT NULL THEN
        PERFORM hublink.web_sign_out(s.role_name, p_reason, coalesce(s.client_addr, ''));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_close(hublink.web_session, text) IS
    'Deletes a web session; a signed-in one''s end is recorded (hublink.web_sign_out). Internal.';
REVOKE ALL ON FUNCTION hublink.web_session_close(hublink.web_session, text) FROM PUBLIC;

CREATE FUNCTION hublink.web_session_get(p_id text, p_touch boolean DEFAULT true)
    RETURNS TABLE (outcome text, role_name name, csrf_token text, data jsonb, client_addr text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s hublink.web_session;
BEGIN
    SELECT * INTO s FROM hublink.web_session w WHERE w.id_hash = hublink.web_session_hash(p_id) FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
    ELSIF pg_catalog.now() - s.seen_at > pg_catalog.make_interval(secs => s.idle_seconds)
          OR pg_catalog.now() - s.created_at > pg_catalog.make_interval(secs => s.max_seconds) THEN
        PERFORM hublink.web_session_close(s, 'timed out');
        outcome := 'ended';
    ELSE
        UPDATE hublink.web_session w SET seen_at = pg_catalog.now() WHERE w.id_hash = s.id_hash AND p_touch;
        outcome := 'live';
        role_name := s.role_name;
        csrf_token := s.csrf_token;
        data := s.data;
        client_addr := s.client_addr;
    END IF;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_get(text, boolean) IS
    'The web session of the id a browser sent, touched unless p_touch is false (outcome live), '
    'or unknown, or ended: one idle longer than its idle_seconds or older than its max_seconds '
    'is deleted and its end recorded (timed out). For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_get(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_get(text, boolean) TO hublink_web;

CREATE FUNCTION hublink.web_session_save(p_id text, p_data jsonb) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        UPDATE hublink.web_session w SET data = coalesce(p_data, '{}'::jsonb)
         WHERE w.id_hash = hublink.web_session_hash(p_id)
           AND pg_catalog.now() - w.seen_at <= pg_catalog.make_interval(secs => w.idle_seconds)
           AND pg_catalog.now() - w.created_at <= pg_catalog.make_interval(secs => w.max_seconds)
        RETURNING true;
    END;
COMMENT ON FUNCTION hublink.web_session_save(text, jsonb) IS
    'Replaces what the web tier keeps in a live session (hublink.web_session.data); NULL when the '
    'id names no live session. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_save(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_save(text, jsonb) TO hublink_web;

CREATE FUNCTION hublink.web_session_end(p_id text, p_reason text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s hublink.web_session;
BEGIN
    SELECT * INTO s FROM hublink.web_session w WHERE w.id_hash = hublink.web_session_hash(p_id) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM hublink.web_session_close(s, left(coalesce(p_reason, 'signed out'), 200));
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_end(text, text) IS
    'Ends a web session (sign-out, or the sign-in session replaced at sign-in): deletes it and '
    'records a signed-in one''s end with the reason. False when there was none. For the web '
    'login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_end(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_end(text, text) TO hublink_web;

CREATE FUNCTION hublink.web_session_sweep() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s hublink.web_session;
    n integer := 0;
BEGIN
    FOR s IN SELECT * FROM hublink.web_session w
              WHERE pg_catalog.now() - w.seen_at > pg_catalog.make_interval(secs => w.idle_seconds)
                 OR pg_catalog.now() - w.created_at > pg_catalog.make_interval(secs => w.max_seconds)
              FOR UPDATE SKIP LOCKED LOOP
        PERFORM hublink.web_session_close(s, 'timed out');
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_sweep() IS
    'Ends every web session past its idle or absolute time-out (each recorded as timed out); '
    'returns how many. The web servers call it every 30 seconds. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_sweep() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_sweep() TO hublink_web;

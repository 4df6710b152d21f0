-- 0.2.0: the web interface's speed and stateless sessions (issue 16, docs/web.md "Figures",
-- "Sessions"). hublink.find_removals pages the cases list before it decrypts names (44_hub.sql);
-- the sessions live in hublink.web_session behind SECURITY DEFINER functions for the web login
-- (94_web_sessions.sql).

-- @function hublink.find_removals
-- The clearance check behind every decryption, ten times cheaper (90_access.sql).
-- @function hublink.removal_access_allowed
CREATE INDEX removal_created ON hublink.removal (created_at DESC, removal_id DESC);
-- @comment INDEX hublink.removal_created

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
-- @comment TABLE hublink.web_session
-- @comment COLUMN hublink.web_session.id_hash
-- @comment COLUMN hublink.web_session.role_name
-- @comment COLUMN hublink.web_session.csrf_token
-- @comment COLUMN hublink.web_session.data
-- @comment COLUMN hublink.web_session.client_addr
-- @comment COLUMN hublink.web_session.idle_seconds
-- @comment COLUMN hublink.web_session.max_seconds
-- @comment COLUMN hublink.web_session.created_at
-- @comment COLUMN hublink.web_session.seen_at
CREATE INDEX web_session_seen ON hublink.web_session (seen_at);
-- @comment INDEX hublink.web_session_seen
REVOKE ALL ON hublink.web_session FROM PUBLIC;

INSERT INTO hublink.access_table_override VALUES
    ('web\_session', 'own_grants', 'Web sessions (94_web_sessions.sql, docs/web.md): no role reads '
                     'or writes them but through the web_session_* functions.');
INSERT INTO hublink.audit_exclusion VALUES
    ('web_session', 'Web sessions: every request touches its row; sign-ins and sign-outs are security '
                    'events (hublink.logon, web_sign_out), and the pages'' reads and writes are audited '
                    'as the person.');

-- @function hublink.web_session_hash
REVOKE ALL ON FUNCTION hublink.web_session_hash(text) FROM PUBLIC;
-- @function hublink.web_session_start
REVOKE ALL ON FUNCTION hublink.web_session_start(text, jsonb, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_start(text, jsonb, text, integer, integer) TO hublink_web;
-- @function hublink.web_session_close
REVOKE ALL ON FUNCTION hublink.web_session_close(hublink.web_session, text) FROM PUBLIC;
-- @function hublink.web_session_get
REVOKE ALL ON FUNCTION hublink.web_session_get(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_get(text, boolean) TO hublink_web;
-- @function hublink.web_session_save
REVOKE ALL ON FUNCTION hublink.web_session_save(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_save(text, jsonb) TO hublink_web;
-- @function hublink.web_session_end
REVOKE ALL ON FUNCTION hublink.web_session_end(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_end(text, text) TO hublink_web;
-- @function hublink.web_session_sweep
REVOKE ALL ON FUNCTION hublink.web_session_sweep() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_sweep() TO hublink_web;

-- Alerts of no removal for admins (92_alert_access.sql).
-- @function hublink.monitoring_alerts
REVOKE ALL ON FUNCTION hublink.monitoring_alerts(boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.monitoring_alerts(boolean, integer) TO hublink_admin;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

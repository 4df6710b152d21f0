-- Protective monitoring checks (docs/security-monitoring.md; NFR 0014, NFR 0020 3a-e and
-- "security log-data deletion/reset/capacity-overrun"): lock-out of a role after
-- hublink.lockout_failures consecutive failed logons and its lifting, the login warning,
-- dormant roles and the capacity of the audit store. The C side is extension/security_auth.c.

CREATE FUNCTION hublink.security_set_lockout(p_role_name text, p_locked boolean, p_at timestamptz)
    RETURNS boolean
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_set_lockout';
COMMENT ON FUNCTION hublink.security_set_lockout(text, boolean, timestamptz) IS
    'Sets the lock-out of a role in shared memory (where the logon hook reads it). Unlocking '
    'lifts only a lock-out from before p_at and clears the count of failures. Returns whether '
    'the role is locked out afterwards.';
REVOKE ALL ON FUNCTION hublink.security_set_lockout(text, boolean, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.security_logon_state()
    RETURNS TABLE (role_name text, consecutive_failures integer, locked boolean,
                   locked_at timestamptz, last_seen timestamptz, client_addr text)
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_logon_state';
COMMENT ON FUNCTION hublink.security_logon_state() IS
    'The logon hook''s table in shared memory, entries still counting: consecutive failed logons '
    'and lock-out of each existing role that failed since the server started (or since a '
    'lock-out was restored); client_addr is NULL for a role-wide entry (an ordinary role), else '
    'the address a protected role failed from (docs/security-monitoring.md, "Lock-out").';
REVOKE ALL ON FUNCTION hublink.security_logon_state() FROM PUBLIC;

CREATE FUNCTION hublink.security_publish_warning(p_text text) RETURNS void
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_security_publish_warning';
COMMENT ON FUNCTION hublink.security_publish_warning(text) IS
    'Puts the login warning in shared memory, where new sessions read it (NULL: none).';
REVOKE ALL ON FUNCTION hublink.security_publish_warning(text) FROM PUBLIC;

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_account_locked', 'critical', 'monitoring',
     'A role was locked out after hublink.lockout_failures consecutive failed logons (NFR '
     '0020 3d). Find out who tried; hublink.unlock_role lifts it.'),
    ('security_source_locked', 'critical', 'monitoring',
     'A protected role (superuser, CREATEROLE, REPLICATION, hublink_admin or '
     'hublink.lockout_service_roles) was locked out from one client address after '
     'hublink.lockout_failures consecutive failed logons from it, for '
     'hublink.lockout_source_duration (NFR 0020 3d). It may still log on from elsewhere. A '
     'replica or service with a stale password stops until its password is fixed; otherwise '
     'find out who tried (hublink.logon, hublink.security_event name the address).'),
    ('security_lockout_untracked', 'critical', 'monitoring',
     'A failed logon of an existing role could not be counted towards lock-out: the logon '
     'table (hublink.lockout_slots) is full of counting entries. Many roles or addresses are '
     'failing at once: investigate, raise '
     'hublink.lockout_slots (restart).'),
    ('security_account_unlocked', 'info', 'monitoring',
     'An admin lifted a lock-out with hublink.unlock_role (NFR 0020 3d).'),
    ('security_dormant_role', 'warning', 'monitoring',
     'A login role has not logged on for hublink.dormant_role_days (NFR 0020 3e: more than 3 '
     'months). Disable it (ALTER ROLE ... NOLOGIN) unless it is still needed.'),
    ('security_audit_capacity', 'warning', 'monitoring',
     'The audit store (hublink.audit_relations) has reached hublink.audit_capacity_warn_percent '
     'of hublink.audit_capacity_mb (NFR 0020, capacity overrun of security logs). Archive or '
     'add space before it is full.');

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('account_locked', 'security_account_locked', 'Role locked out after failed logons'),
    ('account_unlocked', 'security_account_unlocked', 'Lock-out lifted'),
    ('source_locked', 'security_source_locked', 'Protected role locked out from one address'),
    ('lockout_untracked', 'security_lockout_untracked', 'Failed logon not counted: logon table full'),
    ('audit_alter', 'security_audit_tampering', 'ALTER TABLE of an audit table'),
    ('audit_rename', 'security_audit_tampering', 'Rename or SET SCHEMA of an audit table, its column, constraint or trigger, or its schema');

CREATE TABLE hublink.security_lockout (
    role_name   text PRIMARY KEY,
    locked_at   timestamptz NOT NULL,
    failures    integer NOT NULL,
    unlocked_at timestamptz,
    unlocked_by text,
    CHECK ((unlocked_at IS NULL) = (unlocked_by IS NULL))
);
COMMENT ON TABLE hublink.security_lockout IS
    'The last lock-out of each role (NFR 0020 3d), copied from the logon hook''s events; a row '
    'with unlocked_at NULL is a role locked out now. The worker restores these to shared '
    'memory after a restart.';
COMMENT ON COLUMN hublink.security_lockout.role_name IS 'The role locked out.';
COMMENT ON COLUMN hublink.security_lockout.locked_at IS 'When the logon hook locked it out.';
COMMENT ON COLUMN hublink.security_lockout.failures IS 'Consecutive failed logons that caused it.';
COMMENT ON COLUMN hublink.security_lockout.unlocked_at IS 'When an admin lifted it; NULL: still locked out.';
COMMENT ON COLUMN hublink.security_lockout.unlocked_by IS 'Who lifted it (hublink.unlock_role).';

CREATE OR REPLACE FUNCTION hublink.security_event_flushed(p_kind text, p_role_name text,
                                                          p_at timestamptz, p_detail jsonb)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_kind = 'account_locked' THEN
        INSERT INTO hublink.security_lockout (role_name, locked_at, failures)
        VALUES (p_detail->>'locked_role', p_at, (p_detail->>'failures')::integer)
        ON CONFLICT (role_name) DO UPDATE
            SET locked_at = EXCLUDED.locked_at, failures = EXCLUDED.failures,
                unlocked_at = NULL, unlocked_by = NULL
            WHERE hublink.security_lockout.unlocked_at IS NOT NULL
              AND hublink.security_lockout.unlocked_at < EXCLUDED.locked_at;
    END IF;
END;
$$;

CREATE FUNCTION hublink.unlock_role(p_role_name text) RETURNS boolean
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    was_locked boolean;
BEGIN
    -- Copy a lock-out the worker has not flushed yet, so it is lifted too.
    PERFORM hublink.flush_security_events();
    UPDATE hublink.security_lockout SET unlocked_at = clock_timestamp(), unlocked_by = hublink.acting_login()
     WHERE role_name = p_role_name AND unlocked_at IS NULL;
    was_locked := FOUND;
    PERFORM hublink.security_set_lockout(p_role_name, false, clock_timestamp());
    IF NOT was_locked AND NOT EXISTS (SELECT 1 FROM hublink.security_logon_state() s
                                       WHERE s.role_name = p_role_name) THEN
        RAISE EXCEPTION 'role "%" is not locked out', p_role_name
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Neither hublink.security_lockout nor the logon hook has a lock-out or failures for it.',
                  HINT = 'SELECT role_name FROM hublink.security_lockout WHERE unlocked_at IS NULL lists the roles locked out.';
    END IF;
    PERFORM hublink.record_security_event('account_unlocked',
        jsonb_build_object('unlocked_role', p_role_name, 'was_locked', was_locked));
    RETURN was_locked;
END;
$$;
COMMENT ON FUNCTION hublink.unlock_role(text) IS
    'Lifts the lock-out of a role (NFR 0020 3d), its address locks, and clears its counts of '
    'failed logons; records an account_unlocked event. Returns whether it was locked out '
    'everywhere. For hublink_admin.';
REVOKE ALL ON FUNCTION hublink.unlock_role(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.unlock_role(text) TO hublink_admin;

-- The login warning (NFR 0014): shown to every session as a NOTICE when it connects.
CREATE TABLE hublink.security_login_warning (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    warning_text text NOT NULL CHECK (octet_length(warning_text) BETWEEN 1 AND 2000),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by   text NOT NULL DEFAULT session_user
);
COMMENT ON TABLE hublink.security_login_warning IS
    'The security warning every session is shown when it connects (NFR 0014), one row. '
    'hublink_admin may change it; without a row no warning is shown.';
COMMENT ON COLUMN hublink.security_login_warning.singleton IS 'Always true: the table has at most one row.';
COMMENT ON COLUMN hublink.security_login_warning.warning_text IS 'The text shown, at most 2000 bytes.';
COMMENT ON COLUMN hublink.security_login_warning.updated_at IS 'When the text was last set.';
COMMENT ON COLUMN hublink.security_login_warning.updated_by IS 'Who set it.';
INSERT INTO hublink.security_login_warning (warning_text) VALUES (
    'This system is for authorised use only. Activity on it is monitored and recorded. '
    'Unauthorised access or misuse breaches Home Office security policy and may lead to '
    'disciplinary action and to prosecution under the Computer Misuse Act 1990.');
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.security_login_warning TO hublink_admin;

CREATE FUNCTION hublink.security_login_warning_publish() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.security_publish_warning((SELECT warning_text FROM hublink.security_login_warning));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_login_warning_publish() IS
    'Trigger: puts the changed login warning in shared memory at once (the worker''s '
    'security_event_flush job repeats it, which also undoes a change rolled back).';
REVOKE ALL ON FUNCTION hublink.security_login_warning_publish() FROM PUBLIC;
CREATE TRIGGER security_login_warning_publish AFTER INSERT OR UPDATE OR DELETE ON hublink.security_login_warning
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.security_login_warning_publish();
SELECT hublink.security_publish_warning((SELECT warning_text FROM hublink.security_login_warning));

CREATE FUNCTION hublink.sync_security_shared_memory() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- Only logins that exist: a lock-out of a name that is not one (recorded before 0.2.0, or of
    -- a role dropped since) would only take a slot of the logon hook's table.
    PERFORM hublink.security_set_lockout(l.role_name, true, l.locked_at)
       FROM hublink.security_lockout l
      WHERE l.unlocked_at IS NULL
        AND EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = l.role_name AND r.rolcanlogin);
    PERFORM hublink.security_publish_warning((SELECT warning_text FROM hublink.security_login_warning));
END;
$$;
COMMENT ON FUNCTION hublink.sync_security_shared_memory() IS
    'Makes shared memory agree with the tables: the lock-outs in hublink.security_lockout of '
    'logins that exist and the text of hublink.security_login_warning (both are lost when the '
    'server restarts).';
REVOKE ALL ON FUNCTION hublink.sync_security_shared_memory() FROM PUBLIC;

-- Dormant roles (NFR 0020 3e).
CREATE TABLE hublink.security_monitored_role (
    role_name          text PRIMARY KEY,
    first_seen_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    dormant_alerted_at timestamptz
);
COMMENT ON TABLE hublink.security_monitored_role IS
    'Login roles the dormant-role check has seen: a role that never logged on is dormant '
    'hublink.dormant_role_days after it was first seen.';
COMMENT ON COLUMN hublink.security_monitored_role.role_name IS 'The login role.';
COMMENT ON COLUMN hublink.security_monitored_role.first_seen_at IS 'When the check first saw it.';
COMMENT ON COLUMN hublink.security_monitored_role.dormant_alerted_at IS
    'When security_dormant_role was last raised for it; raised again only after a new logon.';

CREATE FUNCTION hublink.check_dormant_roles() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    days   integer := pg_catalog.current_setting('hublink.dormant_role_days')::integer;
    r      record;
    raised integer := 0;
BEGIN
    INSERT INTO hublink.security_monitored_role (role_name)
    SELECT a.rolname FROM pg_catalog.pg_authid a
     WHERE a.rolcanlogin AND a.oid <> 10
    ON CONFLICT (role_name) DO NOTHING;
    FOR r IN
        SELECT m.role_name, m.first_seen_at, l.last_logon_at
          FROM hublink.security_monitored_role m
          JOIN pg_catalog.pg_authid a ON a.rolname = m.role_name AND a.rolcanlogin AND a.oid <> 10
          LEFT JOIN LATERAL (SELECT max(g.logon_at) AS last_logon_at FROM hublink.logon g
                              WHERE g.role_name = m.role_name AND g.outcome = 'succeeded') l ON true
         WHERE coalesce(l.last_logon_at, m.first_seen_at) < clock_timestamp() - make_interval(days => days)
           AND (m.dormant_alerted_at IS NULL OR m.dormant_alerted_at < l.last_logon_at)
    LOOP
        PERFORM hublink.raise_alert(
            'security_dormant_role',
            format('Login role %s has not logged on since %s', r.role_name,
                   coalesce(r.last_logon_at::text, 'monitoring began (' || r.first_seen_at || ')')),
            NULL,
            jsonb_build_object('role_name', r.role_name, 'last_logon_at', r.last_logon_at,
                               'first_seen_at', r.first_seen_at, 'dormant_role_days', days));
        UPDATE hublink.security_monitored_role SET dormant_alerted_at = clock_timestamp()
         WHERE role_name = r.role_name;
        raised := raised + 1;
    END LOOP;
    RETURN raised;
END;
$$;
COMMENT ON FUNCTION hublink.check_dormant_roles() IS
    'Raises security_dormant_role for each login role (but the bootstrap superuser) whose last '
    'successful logon in hublink.logon, or its first sighting if none, is older than '
    'hublink.dormant_role_days; once per dormancy. Returns how many it raised.';
REVOKE ALL ON FUNCTION hublink.check_dormant_roles() FROM PUBLIC;

-- Capacity of the audit store (NFR 0020: capacity-overrun events, warned before they happen).
CREATE FUNCTION hublink.audit_store_bytes() RETURNS bigint
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(sum(pg_catalog.pg_total_relation_size(pg_catalog.to_regclass(btrim(r)))), 0)::bigint
      FROM pg_catalog.unnest(pg_catalog.string_to_array(
               pg_catalog.current_setting('hublink.audit_relations'), ',')) AS r
     WHERE pg_catalog.to_regclass(btrim(r)) IS NOT NULL;
$$;
COMMENT ON FUNCTION hublink.audit_store_bytes() IS
    'Total size on disk (with indexes and TOAST) of the tables in hublink.audit_relations.';
REVOKE ALL ON FUNCTION hublink.audit_store_bytes() FROM PUBLIC;

CREATE FUNCTION hublink.check_audit_capacity() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    used     bigint := hublink.audit_store_bytes();
    capacity bigint := pg_catalog.current_setting('hublink.audit_capacity_mb')::bigint * 1024 * 1024;
    percent  integer := pg_catalog.current_setting('hublink.audit_capacity_warn_percent')::integer;
BEGIN
    -- One open alert at a time: it stays until someone acknowledges it.
    IF used * 100 < capacity * percent OR EXISTS (
           SELECT 1 FROM hublink.alert WHERE kind = 'security_audit_capacity' AND acknowledged_at IS NULL) THEN
        RETURN NULL;
    END IF;
    RETURN hublink.raise_alert(
        'security_audit_capacity',
        format('The audit store uses %s of its %s capacity (%s%%)', pg_size_pretty(used),
               pg_size_pretty(capacity), round(used * 100.0 / capacity)),
        NULL,
        jsonb_build_object('used_bytes', used, 'capacity_bytes', capacity, 'warn_percent', percent,
                           'relations', current_setting('hublink.audit_relations')));
END;
$$;
COMMENT ON FUNCTION hublink.check_audit_capacity() IS
    'Raises security_audit_capacity when the audit store reaches hublink.audit_capacity_warn_percent '
    'of hublink.audit_capacity_mb, unless such an alert is still unacknowledged. Returns its alert_id.';
REVOKE ALL ON FUNCTION hublink.check_audit_capacity() FROM PUBLIC;

CREATE FUNCTION hublink.security_check_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.check_dormant_roles();
    PERFORM hublink.check_audit_capacity();
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_check_job() IS
    'The worker job security_checks: dormant roles and audit store capacity.';
REVOKE ALL ON FUNCTION hublink.security_check_job() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES
    ('security_checks', 'hublink.security_check_job()', interval '10 minutes',
     'Protective monitoring checks: roles dormant for hublink.dormant_role_days and the audit '
     'store nearing hublink.audit_capacity_mb (docs/security-monitoring.md).');

-- Who reads the monitoring records: admins investigate (SEC 023); nobody else needs them.
-- The worker and the flush write as the extension owner; no role may change the records.
GRANT SELECT ON hublink.security_event, hublink.security_event_kind, hublink.logon,
                hublink.logon_outcome, hublink.security_lockout, hublink.security_monitored_role
    TO hublink_admin;

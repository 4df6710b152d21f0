-- Security events (docs/security-monitoring.md; NFR 0020, SEC 023): what protective
-- monitoring records. Events are first written to a ring in shared memory by
-- hublink.record_security_event (and by the logon and DDL hooks in C), so they survive the
-- rollback of the statement that caused them; the worker's security_event_flush job copies
-- them into hublink.security_event and raises the alerts hublink.security_event_kind names.

CREATE FUNCTION hublink.record_security_event(p_kind text, p_detail jsonb) RETURNS void
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_record_security_event';
COMMENT ON FUNCTION hublink.record_security_event(text, jsonb) IS
    'Records a security event in shared memory, outside any transaction: it is kept even if '
    'the caller then fails or rolls back. p_kind is a lower-case name (see '
    'hublink.security_event_kind), p_detail a JSON object of at most 1 kB. The session user '
    'is recorded with it. Granted to the extension owner''s SECURITY DEFINER functions only.';
REVOKE ALL ON FUNCTION hublink.record_security_event(text, jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.security_events(p_after_seq bigint)
    RETURNS TABLE (seq bigint, recorded_at timestamptz, kind text, role_name text, pid integer,
                   database_oid oid, detail jsonb)
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_events';
COMMENT ON FUNCTION hublink.security_events(bigint) IS
    'The security events still in the shared-memory ring numbered above p_after_seq, oldest '
    'first. Reading does not remove them; hublink.flush_security_events copies them.';
REVOKE ALL ON FUNCTION hublink.security_events(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.security_ring_status(OUT started_at timestamptz, OUT slots integer,
                                             OUT next_seq bigint, OUT oldest_seq bigint)
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_ring_status';
COMMENT ON FUNCTION hublink.security_ring_status() IS
    'The ring''s numbering (started_at: events are numbered from 1 at each server start), its '
    'size, the number the next event gets and the oldest it still holds.';
REVOKE ALL ON FUNCTION hublink.security_ring_status() FROM PUBLIC;

CREATE TABLE hublink.security_event_kind (
    kind        text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    alert_kind  text REFERENCES hublink.alert_kind,
    description text NOT NULL
);
COMMENT ON TABLE hublink.security_event_kind IS
    'The kinds of security event and the alert each raises when flushed (reference data). An '
    'event of a kind not listed raises security_event_unclassified, so none goes unseen.';
COMMENT ON COLUMN hublink.security_event_kind.kind IS 'Name of the event kind, as recorded.';
COMMENT ON COLUMN hublink.security_event_kind.alert_kind IS
    'The alert raised for every event of this kind; NULL: none (a job may still alert on '
    'counts, as for failed logons).';
COMMENT ON COLUMN hublink.security_event_kind.description IS 'What happened, for the alert subject and the admin.';

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_admin_role_change', 'critical', 'monitoring',
     'An admin role (superuser, CREATEROLE, or member of hublink_admin) was created, changed, '
     'granted, revoked or dropped (NFR 0020 3a). Check it was authorised.'),
    ('security_user_role_change', 'warning', 'monitoring',
     'A user role was created, changed, granted, revoked or dropped (NFR 0020 3b). Check it '
     'was authorised.'),
    ('security_audit_tampering', 'critical', 'monitoring',
     'Someone tried to update, delete, truncate, drop or reset audit data (NFR 0020, '
     'deletion/reset of security logs). Investigate the role named.'),
    ('security_events_lost', 'critical', 'monitoring',
     'The shared-memory ring of security events overflowed before the worker flushed it, so '
     'events were lost. Raise hublink.security_event_slots or check the worker runs.'),
    ('security_stored_function_refused', 'critical', 'monitoring',
     'A function named in a table and run with the extension owner''s rights (a timer''s check '
     'or action, a worker job) is not one of the extension''s own, and was refused when written '
     'or when called (docs/security-access.md "Code stored as data"). Investigate the role named: '
     'it may have tried to gain the owner''s rights.'),
    ('security_event_unclassified', 'warning', 'monitoring',
     'A security event of a kind hublink.security_event_kind does not list. Add the kind.');

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('logon', NULL, 'A logon succeeded, failed or was refused (stored in hublink.logon).'),
    ('admin_role_change', 'security_admin_role_change', 'Admin role created, changed or dropped'),
    ('user_role_change', 'security_user_role_change', 'User role created, changed or dropped'),
    ('audit_truncate', 'security_audit_tampering', 'TRUNCATE of an audit table'),
    ('audit_drop', 'security_audit_tampering', 'DROP of an audit table'),
    ('audit_update_refused', 'security_audit_tampering', 'Refused UPDATE of audit data'),
    ('audit_delete_refused', 'security_audit_tampering', 'Refused DELETE of audit data'),
    ('audit_truncate_refused', 'security_audit_tampering', 'Refused TRUNCATE of audit data'),
    ('audit_reset_refused', 'security_audit_tampering', 'Refused reset of audit data'),
    ('security_events_lost', 'security_events_lost', 'Security events lost to ring overflow'),
    ('stored_function_refused', 'security_stored_function_refused', 'Stored function refused');

CREATE TABLE hublink.security_event (
    security_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_started_at timestamptz NOT NULL,
    seq               bigint NOT NULL,
    recorded_at       timestamptz NOT NULL,
    kind              text NOT NULL,
    role_name         text,
    pid               integer,
    database_oid      oid,
    detail            jsonb NOT NULL DEFAULT '{}',
    flushed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (server_started_at, seq)
);
COMMENT ON TABLE hublink.security_event IS
    'Security events other than logons, copied from the shared-memory ring by the worker '
    '(hublink.flush_security_events). Append-only in practice: only the extension owner writes it.';
COMMENT ON COLUMN hublink.security_event.security_event_id IS 'Key, increasing in flush order.';
COMMENT ON COLUMN hublink.security_event.server_started_at IS 'Which numbering seq belongs to (the ring restarts at 1 with the server).';
COMMENT ON COLUMN hublink.security_event.seq IS 'Number of the event in the ring.';
COMMENT ON COLUMN hublink.security_event.recorded_at IS 'When the event happened (recorded in the ring).';
COMMENT ON COLUMN hublink.security_event.kind IS 'What happened (hublink.security_event_kind).';
COMMENT ON COLUMN hublink.security_event.role_name IS 'The session user that caused it.';
COMMENT ON COLUMN hublink.security_event.pid IS 'The backend process that recorded it.';
COMMENT ON COLUMN hublink.security_event.database_oid IS 'The database it happened in, if any.';
COMMENT ON COLUMN hublink.security_event.detail IS
    'Facts as JSON (statement, table, roles affected); a refusal recorded by the audit trail '
    'adds the client''s network address, which alerts leave out.';
COMMENT ON COLUMN hublink.security_event.flushed_at IS 'When the worker copied it from the ring.';
CREATE INDEX security_event_kind_time ON hublink.security_event (kind, recorded_at);

CREATE TABLE hublink.security_ring_flushed (
    server_started_at timestamptz PRIMARY KEY,
    last_seq          bigint NOT NULL
);
COMMENT ON TABLE hublink.security_ring_flushed IS
    'How far the ring has been copied, per server start: the flush reads events after last_seq.';
COMMENT ON COLUMN hublink.security_ring_flushed.server_started_at IS 'The ring''s numbering.';
COMMENT ON COLUMN hublink.security_ring_flushed.last_seq IS 'The last event copied.';

-- Rows an admin may write that decide who is told of what (alert channels, thresholds), who
-- may sign in on the web (web identities) and what each clearance sees (sensitivity levels):
-- every change to them is a critical alert naming the person, so an admin cannot make one
-- unseen (the attacker pass of 0.2.0; docs/security-access.md "Changes that are alerts").
-- A trigger in the same transaction: the alert exists exactly when the change does.
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_config_changed', 'critical', 'monitoring',
     'A row that decides who is alerted (alert channels, thresholds), who may sign in on the web '
     '(web identities), what a clearance sees (sensitivity levels) or what money is advised or '
     'spent (booking market, cancellation estimate, escort rules, risk flags) was added, changed or '
     'removed. Check that the role named was authorised to make the change.');

CREATE FUNCTION hublink.security_config_alert(p_operation text, p_table text, p_old jsonb, p_new jsonb,
                                              p_shown text[]) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    changed text[];
    who     text := hublink.acting_login();
BEGIN
    SELECT pg_catalog.array_agg(k.k ORDER BY k.k) INTO changed
      FROM pg_catalog.jsonb_object_keys(coalesce(p_new, p_old)) k (k)
     WHERE (p_old -> k.k) IS DISTINCT FROM (p_new -> k.k);
    IF changed IS NULL THEN
        RETURN NULL; -- an UPDATE that changed nothing
    END IF;
    RETURN hublink.raise_alert('security_config_changed',
        pg_catalog.format('%s of %s %s by role %s%s', p_operation, p_table,
                          coalesce(coalesce(p_new, p_old) ->> p_shown[1], ''), who,
                          CASE WHEN who <> session_user THEN pg_catalog.format(' (login %s)', session_user) ELSE '' END),
        NULL,
        pg_catalog.jsonb_build_object(
            'table', p_table, 'operation', p_operation,
            'role_name', who, 'session_user', session_user::text, 'changed', pg_catalog.to_jsonb(changed),
            'old', (SELECT pg_catalog.jsonb_object_agg(k.k, p_old -> k.k) FROM pg_catalog.unnest(p_shown) k (k) WHERE p_old ? k.k),
            'new', (SELECT pg_catalog.jsonb_object_agg(k.k, p_new -> k.k) FROM pg_catalog.unnest(p_shown) k (k) WHERE p_new ? k.k)));
END;
$$;
COMMENT ON FUNCTION hublink.security_config_alert(text, text, jsonb, jsonb, text[]) IS
    'Raises the critical security_config_changed alert for a change (insert, update, delete) of a '
    'row of p_table from p_old to p_new (as JSON), naming the person (hublink.acting_login()) and '
    'the login, the columns changed, and the old and new values of the columns p_shown only (never '
    'personal data; the first names the row in the subject). NULL, and no alert, when nothing '
    'changed. Returns the alert_id.';
REVOKE ALL ON FUNCTION hublink.security_config_alert(text, text, jsonb, jsonb, text[]) FROM PUBLIC;

CREATE FUNCTION hublink.security_config_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.security_config_alert(pg_catalog.lower(TG_OP), 'hublink.' || TG_TABLE_NAME,
                                          CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                                          CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END,
                                          TG_ARGV[0:TG_NARGS - 1]); -- numbered from 1
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_config_changed() IS
    'AFTER ROW trigger: a critical security_config_changed alert for every insert, update (that '
    'changes a value) and delete of the row (hublink.security_config_alert); the trigger''s '
    'arguments are the columns the alert may show, the first naming the row.';
REVOKE ALL ON FUNCTION hublink.security_config_changed() FROM PUBLIC;

-- Later parts (76) add what a logon event does; this function handles every other kind.
CREATE FUNCTION hublink.security_event_alert(e hublink.security_event) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k hublink.security_event_kind;
BEGIN
    SELECT * INTO k FROM hublink.security_event_kind WHERE kind = e.kind;
    IF NOT FOUND THEN
        k.alert_kind := 'security_event_unclassified';
        k.description := 'Unclassified security event ' || e.kind;
    END IF;
    IF k.alert_kind IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN hublink.raise_alert(
        k.alert_kind,
        -- The role responsible, when the event names one (a refused stored function: its
        -- writer or owner, not the worker that found it), else the session's.
        format('%s (role %s)', k.description, coalesce(e.detail ->> 'responsible_role', e.role_name, 'unknown')),
        NULL,
        jsonb_build_object('security_event_id', e.security_event_id, 'event_kind', e.kind,
                           'role_name', e.role_name, 'recorded_at', e.recorded_at)
            || (e.detail - 'client_addr'));
END;
$$;
COMMENT ON FUNCTION hublink.security_event_alert(hublink.security_event) IS
    'Raises the alert a flushed security event calls for (hublink.security_event_kind), if '
    'any; returns its alert_id.';
REVOKE ALL ON FUNCTION hublink.security_event_alert(hublink.security_event) FROM PUBLIC;

-- Logons (NFR 0020 3c-e): the ClientAuthentication hook records each one in the ring with
-- kind 'logon'; the flush copies them here (a failed logon cannot write a table itself).
CREATE TABLE hublink.logon_outcome (
    outcome     text PRIMARY KEY,
    failure     boolean NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.logon_outcome IS 'The outcomes a logon may have (reference data).';
COMMENT ON COLUMN hublink.logon_outcome.outcome IS 'Name of the outcome, as the logon hook records it.';
COMMENT ON COLUMN hublink.logon_outcome.failure IS 'True: counts towards the failed-logon alert (NFR 0020 3c).';
COMMENT ON COLUMN hublink.logon_outcome.description IS 'What it means.';
INSERT INTO hublink.logon_outcome VALUES
    ('succeeded', false, 'The client authenticated.'),
    ('failed', true, 'Authentication failed: wrong password, no pg_hba.conf entry, unknown role.'),
    ('refused_locked', true, 'The role is locked out (hublink.role_lockout); the password was not checked.');

CREATE TABLE hublink.logon (
    logon_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_started_at timestamptz NOT NULL,
    seq               bigint NOT NULL,
    logon_at          timestamptz NOT NULL,
    role_name         text NOT NULL,
    database_name     text,
    client_addr       text,
    method            text,
    outcome           text NOT NULL REFERENCES hublink.logon_outcome,
    flushed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (server_started_at, seq)
);
COMMENT ON TABLE hublink.logon IS
    'Every logon attempt the server saw (NFR 0020 3c-e), copied from the shared-memory ring '
    'by the worker. The dormant-role check reads the last successful logon of each role here.';
COMMENT ON COLUMN hublink.logon.logon_id IS 'Key, increasing in flush order.';
COMMENT ON COLUMN hublink.logon.server_started_at IS 'Which ring numbering seq belongs to.';
COMMENT ON COLUMN hublink.logon.seq IS 'Number of the event in the ring.';
COMMENT ON COLUMN hublink.logon.logon_at IS 'When the server decided the logon.';
COMMENT ON COLUMN hublink.logon.role_name IS 'The role the client asked to log on as (it may not exist).';
COMMENT ON COLUMN hublink.logon.database_name IS 'The database the client asked for.';
COMMENT ON COLUMN hublink.logon.client_addr IS
    'Network address the logon came from ("[local]" for a Unix socket): connection metadata of '
    'staff and systems, kept in clear for investigations (docs/security-monitoring.md), never '
    'copied into alerts.';
COMMENT ON COLUMN hublink.logon.method IS 'The pg_hba.conf method that applied (scram-sha-256, md5, trust, peer, ...).';
COMMENT ON COLUMN hublink.logon.outcome IS 'What happened (hublink.logon_outcome).';
COMMENT ON COLUMN hublink.logon.flushed_at IS 'When the worker copied it from the ring.';
CREATE INDEX logon_role_time ON hublink.logon (role_name, logon_at);

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_failed_logons', 'critical', 'monitoring',
     'hublink.failed_logon_alert_count failed logons of one role within '
     'hublink.failed_logon_window_minutes (NFR 0020 3c: more than 5 in 30 minutes). Someone '
     'may be guessing its password.');

CREATE FUNCTION hublink.check_failed_logons(p_role_name text, p_at timestamptz) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    threshold integer := pg_catalog.current_setting('hublink.failed_logon_alert_count')::integer;
    win       interval := pg_catalog.make_interval(
                              mins => pg_catalog.current_setting('hublink.failed_logon_window_minutes')::integer);
    failures  bigint;
BEGIN
    SELECT count(*) INTO failures
      FROM hublink.logon l JOIN hublink.logon_outcome o USING (outcome)
     WHERE l.role_name = p_role_name AND o.failure
       AND l.logon_at > p_at - win AND l.logon_at <= p_at;
    -- One alert per window and role: a password-guessing run is one incident, not hundreds.
    IF failures < threshold OR EXISTS (
           SELECT 1 FROM hublink.alert
            WHERE kind = 'security_failed_logons' AND detail->>'role_name' = p_role_name
              AND (detail->>'last_failure_at')::timestamptz > p_at - win) THEN
        RETURN NULL;
    END IF;
    RETURN hublink.raise_alert(
        'security_failed_logons',
        format('%s failed logons of role %s within %s', failures, p_role_name, win),
        NULL,
        jsonb_build_object('role_name', p_role_name, 'failures', failures,
                           'window_minutes', extract(epoch FROM win) / 60,
                           'last_failure_at', p_at));
END;
$$;
COMMENT ON FUNCTION hublink.check_failed_logons(text, timestamptz) IS
    'After a failed logon of p_role_name at p_at: raises security_failed_logons if the role '
    'had hublink.failed_logon_alert_count failures in the window ending then, unless one was '
    'already raised for a failure in that window.';
REVOKE ALL ON FUNCTION hublink.check_failed_logons(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.flush_security_events() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ring    record;
    last    bigint;
    r       record;
    se      hublink.security_event;
    copied  integer := 0;
BEGIN
    -- One flusher at a time (the worker, or an admin at once): both would copy the same events.
    PERFORM pg_catalog.pg_advisory_xact_lock(75, 1);
    SELECT * INTO ring FROM hublink.security_ring_status();
    SELECT f.last_seq INTO last FROM hublink.security_ring_flushed f
     WHERE f.server_started_at = ring.started_at;
    last := coalesce(last, 0);
    IF ring.oldest_seq > last + 1 THEN
        INSERT INTO hublink.security_event (server_started_at, seq, recorded_at, kind, detail)
        VALUES (ring.started_at, -ring.oldest_seq, clock_timestamp(), 'security_events_lost',
                jsonb_build_object('lost', ring.oldest_seq - last - 1,
                                   'first_lost_seq', last + 1, 'ring_slots', ring.slots))
        RETURNING * INTO se;
        PERFORM hublink.security_event_alert(se);
    END IF;
    FOR r IN SELECT * FROM hublink.security_events(last) ORDER BY seq LOOP
        IF r.kind = 'logon' THEN
            INSERT INTO hublink.logon (server_started_at, seq, logon_at, role_name, database_name,
                                       client_addr, method, outcome)
            VALUES (ring.started_at, r.seq, r.recorded_at, coalesce(r.role_name, ''),
                    r.detail->>'database', r.detail->>'client_addr', r.detail->>'method',
                    r.detail->>'outcome');
            IF (SELECT failure FROM hublink.logon_outcome WHERE outcome = r.detail->>'outcome') THEN
                PERFORM hublink.check_failed_logons(coalesce(r.role_name, ''), r.recorded_at);
            END IF;
        ELSE
            INSERT INTO hublink.security_event (server_started_at, seq, recorded_at, kind,
                                                role_name, pid, database_oid, detail)
            VALUES (ring.started_at, r.seq, r.recorded_at, r.kind, r.role_name, r.pid,
                    r.database_oid, r.detail)
            RETURNING * INTO se;
            PERFORM hublink.security_event_alert(se);
        END IF;
        PERFORM hublink.security_event_flushed(r.kind, r.role_name, r.recorded_at, r.detail);
        last := r.seq;
        copied := copied + 1;
    END LOOP;
    INSERT INTO hublink.security_ring_flushed VALUES (ring.started_at, last)
        ON CONFLICT (server_started_at) DO UPDATE SET last_seq = EXCLUDED.last_seq;
    RETURN copied;
END;
$$;
COMMENT ON FUNCTION hublink.flush_security_events() IS
    'Copies the security events recorded since the last flush from the shared-memory ring into '
    'hublink.logon and hublink.security_event, raising the alerts they call for; records a '
    'security_events_lost event when the ring overflowed. Returns how many it copied. Run by '
    'the worker''s security_event_flush job; an admin may call it to flush at once.';
REVOKE ALL ON FUNCTION hublink.flush_security_events() FROM PUBLIC;

-- The hook later parts use for what an event means beyond its row and alert (lock-outs).
CREATE FUNCTION hublink.security_event_flushed(p_kind text, p_role_name text,
                                               p_at timestamptz, p_detail jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_event_flushed(text, text, timestamptz, jsonb) IS
    'Called by hublink.flush_security_events for every event copied, after its row and alert; '
    'keeps the lock-out table in step with lock-outs recorded by the logon hook.';
REVOKE ALL ON FUNCTION hublink.security_event_flushed(text, text, timestamptz, jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.security_event_flush_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.flush_security_events();
    -- Shared memory is empty after a restart: give it back the lock-outs and the warning.
    PERFORM hublink.sync_security_shared_memory();
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_event_flush_job() IS
    'The worker job security_event_flush: hublink.flush_security_events, then '
    'hublink.sync_security_shared_memory, every run_every.';
REVOKE ALL ON FUNCTION hublink.security_event_flush_job() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES
    ('security_event_flush', 'hublink.security_event_flush_job()', interval '5 seconds',
     'Copies security events (logons, role changes, attempts on the audit store) from shared '
     'memory into hublink.logon and hublink.security_event, and raises their alerts '
     '(docs/security-monitoring.md).');

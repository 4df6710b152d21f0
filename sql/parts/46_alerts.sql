-- Alerts (docs/alerts.md): what needs a person's attention, from the workflow timers (a
-- quote request unanswered past its SLA, a refund deadline near) and from protective
-- monitoring (failed logons, role changes, attempts on the audit store). Every alert is a row
-- of hublink.alert and a NOTIFY on channel hublink_alert, whose payload is the row as JSON
-- with no personal data, so a monitoring tool can LISTEN instead of polling.

CREATE TABLE hublink.alert_severity (
    severity    text PRIMARY KEY,
    rank        smallint NOT NULL UNIQUE,
    description text NOT NULL
);
COMMENT ON TABLE hublink.alert_severity IS 'The severities an alert may have, ranked (reference data).';
COMMENT ON COLUMN hublink.alert_severity.severity IS 'Name of the severity.';
COMMENT ON COLUMN hublink.alert_severity.rank IS 'Higher is more severe.';
COMMENT ON COLUMN hublink.alert_severity.description IS 'What the severity means for the person on duty.';
INSERT INTO hublink.alert_severity VALUES
    ('info', 1, 'For the record; nothing to do.'),
    ('warning', 2, 'Needs attention today.'),
    ('critical', 3, 'Needs attention now: money or a removal is at risk, or the system may be under attack.');

CREATE TABLE hublink.alert_kind (
    kind             text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    default_severity text NOT NULL REFERENCES hublink.alert_severity,
    source           text NOT NULL,
    description      text NOT NULL
);
COMMENT ON TABLE hublink.alert_kind IS
    'The kinds of alert, each with its default severity (reference data, one row per kind, '
    'added by the parts of hublink that raise them).';
COMMENT ON COLUMN hublink.alert_kind.kind IS 'Name of the kind (lower case, underscores).';
COMMENT ON COLUMN hublink.alert_kind.default_severity IS 'Severity of an alert of this kind unless its raiser says otherwise.';
COMMENT ON COLUMN hublink.alert_kind.source IS 'What raises it: timers, monitoring, worker.';
COMMENT ON COLUMN hublink.alert_kind.description IS 'When it is raised and what to do about it.';

CREATE TABLE hublink.alert (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL REFERENCES hublink.alert_kind,
    severity        text NOT NULL REFERENCES hublink.alert_severity,
    removal_id      bigint REFERENCES hublink.removal ON DELETE SET NULL,
    subject         text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    due_at          timestamptz,
    raised_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    raised_by       text NOT NULL DEFAULT session_user,
    acknowledged_at timestamptz,
    acknowledged_by text,
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
COMMENT ON TABLE hublink.alert IS
    'Alerts raised by hublink (timers, protective monitoring), newest last. Never holds '
    'personal data: it names removals by id and logins by role name.';
COMMENT ON COLUMN hublink.alert.alert_id IS 'Key, increasing: a monitoring tool may read alerts after the last id it saw.';
COMMENT ON COLUMN hublink.alert.kind IS 'What happened (hublink.alert_kind).';
COMMENT ON COLUMN hublink.alert.severity IS 'How urgent (hublink.alert_severity).';
COMMENT ON COLUMN hublink.alert.removal_id IS 'The removal it concerns, if any.';
COMMENT ON COLUMN hublink.alert.subject IS 'One line for a person: what happened and to what.';
COMMENT ON COLUMN hublink.alert.detail IS 'Facts as JSON for tools (ids, counts, role names), never personal data.';
COMMENT ON COLUMN hublink.alert.due_at IS 'For timer alerts, when the timer was due; raised_at - due_at is its lateness.';
COMMENT ON COLUMN hublink.alert.raised_at IS 'When the alert was raised.';
COMMENT ON COLUMN hublink.alert.raised_by IS 'The session user that raised it (the worker raises as hublink.worker_role, hublink_worker by default).';
COMMENT ON COLUMN hublink.alert.acknowledged_at IS 'When a person acknowledged it (hublink.acknowledge_alert).';
COMMENT ON COLUMN hublink.alert.acknowledged_by IS 'Who acknowledged it.';
CREATE INDEX alert_open ON hublink.alert (raised_at) WHERE acknowledged_at IS NULL;
CREATE INDEX alert_removal ON hublink.alert (removal_id) WHERE removal_id IS NOT NULL;

CREATE FUNCTION hublink.raise_alert(p_kind text, p_subject text, p_removal_id bigint DEFAULT NULL,
                                    p_detail jsonb DEFAULT '{}', p_severity text DEFAULT NULL,
                                    p_due_at timestamptz DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a hublink.alert;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hublink.alert_kind WHERE kind = p_kind) THEN
        RAISE EXCEPTION 'unknown alert kind "%"', p_kind
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Every alert has a kind listed in hublink.alert_kind.',
                  HINT = 'Add the kind to hublink.alert_kind first.';
    END IF;
    INSERT INTO hublink.alert (kind, severity, removal_id, subject, detail, due_at)
    VALUES (p_kind,
            coalesce(p_severity, (SELECT default_severity FROM hublink.alert_kind WHERE kind = p_kind)),
            p_removal_id, p_subject, coalesce(p_detail, '{}'), p_due_at)
    RETURNING * INTO a;
    PERFORM pg_notify('hublink_alert',
                      jsonb_build_object('alert_id', a.alert_id, 'kind', a.kind, 'severity', a.severity,
                                         'removal_id', a.removal_id, 'subject', left(a.subject, 200),
                                         'due_at', a.due_at, 'raised_at', a.raised_at)::text);
    RETURN a.alert_id;
END;
$$;
COMMENT ON FUNCTION hublink.raise_alert(text, text, bigint, jsonb, text, timestamptz) IS
    'Raises an alert: a row of hublink.alert and, at commit, NOTIFY hublink_alert with the row '
    '(without detail) as JSON. The severity defaults to the kind''s. Returns the alert_id.';
REVOKE ALL ON FUNCTION hublink.raise_alert(text, text, bigint, jsonb, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.acknowledge_alert(p_alert_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a hublink.alert;
BEGIN
    SELECT * INTO a FROM hublink.alert WHERE alert_id = p_alert_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no alert %', p_alert_id
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'hublink.alert has no row with that alert_id.',
                  HINT = 'SELECT alert_id, subject FROM hublink.alert WHERE acknowledged_at IS NULL lists the open alerts.';
    END IF;
    -- It runs as the owner: the person (a caseworker, from the web interface's alerts page)
    -- acknowledges only an alert of a removal they may see; an alert of no removal
    -- (monitoring) only an admin or the owner.
    IF a.removal_id IS NOT NULL THEN
        PERFORM hublink.require_removal_access(a.removal_id);
    ELSIF NOT (SELECT r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                      OR pg_catalog.pg_has_role(r.oid, 'hublink_admin', 'USAGE')
                 FROM pg_catalog.pg_roles r WHERE r.rolname = hublink.acting_login()) THEN
        RAISE EXCEPTION 'alert % belongs to no removal', p_alert_id
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Alerts of no removal (protective monitoring, the worker) are acknowledged by an admin.',
                  HINT = 'Ask a member of hublink_admin.';
    END IF;
    UPDATE hublink.alert SET acknowledged_at = clock_timestamp(), acknowledged_by = hublink.acting_login()
     WHERE alert_id = p_alert_id AND acknowledged_at IS NULL;
END;
$$;
COMMENT ON FUNCTION hublink.acknowledge_alert(bigint) IS
    'Marks an alert as seen by the person (hublink.acting_login()); acknowledging twice keeps the '
    'first. A caseworker acknowledges alerts of removals it may see; alerts of no removal, an admin.';
REVOKE ALL ON FUNCTION hublink.acknowledge_alert(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.acknowledge_alert(bigint) TO hublink_admin, hublink_caseworker;

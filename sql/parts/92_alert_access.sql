-- Access classes of the alert delivery tables (82_alert_delivery.sql, 83_alert_checks.sql):
-- their own parts grant every privilege; security events and logons inside the bodies are for
-- admins only, like the monitoring records themselves.
INSERT INTO hublink.access_table_override VALUES
    ('alert\_delivery', 'own_grants', 'Alert delivery (82_alert_delivery.sql, docs/alerts.md): admins read '
                        'the state; only its triggers and the worker''s functions write it.'),
    ('alert\_channel\_status', 'own_grants', 'Delivery state per channel, for admins (82_alert_delivery.sql).'),
    ('availability\_report', 'own_grants', 'Availability figures for admins and the channels (82_alert_delivery.sql).');

-- The worker claims, records and sleeps through these (bgworker/alert_delivery.c); its role
-- exists from 90_access.sql on.
GRANT EXECUTE ON FUNCTION hublink.alert_deliveries_claim(integer) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.alert_delivery_next() TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.report_broker_token_failure(text) TO hublink_worker;

-- Alerts of no removal (protective monitoring, the worker, the broker; docs/web.md "Alerts"):
-- hublink.alert is removal data, so row-level security shows an admin none of its rows, and
-- these alerts belong to no removal a clearance could open. Admins (the same rule as
-- acknowledge_alert: a member of hublink_admin, the owner or a superuser, as
-- hublink.acting_login(), so the person behind the web login) read them here.
CREATE FUNCTION hublink.monitoring_alerts(open_only boolean DEFAULT true, max_rows integer DEFAULT 200)
    RETURNS TABLE (alert_id bigint, kind text, severity text, subject text, raised_at timestamptz,
                   acknowledged_at timestamptz, acknowledged_by text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT coalesce((SELECT r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                            OR pg_catalog.pg_has_role(r.oid, 'hublink_admin', 'USAGE')
                       FROM pg_catalog.pg_roles r WHERE r.rolname = hublink.acting_login()), false) THEN
        RAISE EXCEPTION 'alerts of no removal are for admins'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Alerts of no removal (protective monitoring, the worker) name roles and systems, not cases.',
                  HINT = 'Ask a member of hublink_admin.';
    END IF;
    RETURN QUERY
        SELECT a.alert_id, a.kind, a.severity, a.subject, a.raised_at, a.acknowledged_at, a.acknowledged_by
          FROM hublink.alert a
         WHERE a.removal_id IS NULL AND (NOT coalesce(open_only, true) OR a.acknowledged_at IS NULL)
         ORDER BY a.raised_at DESC, a.alert_id DESC
         LIMIT greatest(1, least(coalesce(max_rows, 200), 1000));
END;
$$;
COMMENT ON FUNCTION hublink.monitoring_alerts(boolean, integer) IS
    'The alerts of no removal (protective monitoring, the worker, the broker), newest first, open '
    'ones only unless open_only is false: for admins (hublink.acting_login() a member of '
    'hublink_admin), whom row-level security shows no row of hublink.alert.';
REVOKE ALL ON FUNCTION hublink.monitoring_alerts(boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.monitoring_alerts(boolean, integer) TO hublink_admin;

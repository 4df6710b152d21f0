-- Access classes of the alert delivery tables (82_alert_delivery.sql, 83_alert_checks.sql):
-- their own parts grant every privilege; security events and logons inside the bodies are for
-- admins only, like the monitoring records themselves.
INSERT INTO hublink.access_table_override VALUES
    ('alert\_delivery', 'own_grants', 'Alert delivery (82_alert_delivery.sql, docs/alerts.md): admins read '
                        'the state; only its triggers and the worker''s functions write it.'),
    ('alert\_channel\_status', 'own_grants', 'Delivery state per channel, for admins (82_alert_delivery.sql).'),
    ('availability\_report', 'own_grants', 'Availability figures for admins and the channels (82_alert_delivery.sql).'),
    ('alert\_header\_binding', 'own_grants', 'The host each header file may go to: the owner writes it, '
                                  'admins read it (82_alert_delivery.sql).');

-- The worker claims, records and sleeps through these (bgworker/alert_delivery.c); its role
-- exists from 90_access.sql on.
GRANT EXECUTE ON FUNCTION hublink.alert_deliveries_claim(integer) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.alert_delivery_next() TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.report_broker_token_failure(text) TO hublink_worker;

-- Security events (sql/parts/77_security_events.sql, docs/security-monitoring.md; NFR 0020):
-- record_security_event writes to the shared-memory ring outside the transaction, so an event
-- survives the rollback of its cause; the flush copies it to hublink.security_event and
-- raises the alert its kind names; failed logons over the threshold raise one alert; ring
-- overflow is counted and alerted.
BEGIN;
SELECT plan(17);

-- Lock the flush job's row: the worker skips locked jobs, so only this test flushes.
UPDATE hublink.worker_job SET enabled = true WHERE job_name = 'security_event_flush';
SELECT hublink.flush_security_events();

SELECT throws_ok($$SELECT hublink.record_security_event('Bad Kind', '{}')$$, '22023', NULL,
                 'a kind must be a lower-case identifier');
SELECT throws_ok($$SELECT hublink.record_security_event('x', '[1]')$$, '22023',
                 'the detail of a security event must be a JSON object', 'the detail must be an object');

-- The event of a refused statement survives its rollback.
SAVEPOINT refused;
SELECT hublink.record_security_event('audit_delete_refused', '{"table": "hublink.audit_log", "test": 75}');
ROLLBACK TO SAVEPOINT refused;
SELECT cmp_ok(hublink.flush_security_events(), '>=', 1, 'the flush copies the event recorded before the rollback');
SELECT is((SELECT detail FROM hublink.security_event WHERE kind = 'audit_delete_refused' AND detail->>'test' = '75'),
          '{"table": "hublink.audit_log", "test": 75}'::jsonb, 'with its detail');
SELECT is((SELECT role_name FROM hublink.security_event WHERE kind = 'audit_delete_refused' AND detail->>'test' = '75'),
          session_user::text, 'and the session user');
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'security_audit_tampering'
            AND detail->>'event_kind' = 'audit_delete_refused' AND detail->>'test' = '75')::integer, 1,
          'an attempt on the audit data raises security_audit_tampering');
SELECT is(hublink.flush_security_events(), 0, 'a second flush copies nothing twice');

SELECT hublink.record_security_event('something_new', '{}');
SELECT hublink.flush_security_events();
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'security_event_unclassified'
            AND detail->>'event_kind' = 'something_new')::integer, 1,
          'a kind not in security_event_kind still raises an alert');

SELECT hublink.record_security_event('audit_reset_refused',
                                     jsonb_build_object('text', repeat('x', 2000)));
SELECT hublink.flush_security_events();
SELECT is((SELECT (detail->>'detail_too_long_bytes')::integer > 2000 FROM hublink.security_event
            WHERE kind = 'audit_reset_refused' ORDER BY security_event_id DESC LIMIT 1), true,
          'a detail too long for a slot is replaced by its length');

-- Only the owner's functions may record: PUBLIC cannot forge events.
CREATE ROLE hublink_test_monitor_nobody;
SET LOCAL ROLE hublink_test_monitor_nobody;
SELECT throws_ok($$SELECT hublink.record_security_event('audit_drop', '{}')$$, '42501', NULL,
                 'PUBLIC may not record security events');
RESET ROLE;

-- Overflow: more events than slots before a flush; the loss is counted and alerted.
SELECT hublink.record_security_event('audit_update_refused', jsonb_build_object('n', n, 'test', 75))
  FROM generate_series(1, (SELECT slots FROM hublink.security_ring_status()) + 100) AS n;
SELECT hublink.flush_security_events();
SELECT cmp_ok((SELECT (detail->>'lost')::integer FROM hublink.security_event WHERE kind = 'security_events_lost'
                 ORDER BY security_event_id DESC LIMIT 1),
              '>=', 100, 'events overwritten before a flush are counted as lost');
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'security_events_lost'
            AND (detail->>'security_event_id')::bigint = (SELECT max(security_event_id) FROM hublink.security_event
                                                           WHERE kind = 'security_events_lost'))::integer, 1,
          'and raise security_events_lost');
SELECT is((SELECT max((detail->>'n')::integer) FROM hublink.security_event WHERE kind = 'audit_update_refused'
            AND detail->>'test' = '75'),
          (SELECT slots FROM hublink.security_ring_status()) + 100, 'the newest events are kept');

-- Failed logons: the alert comes at the sixth failure within 30 minutes, once.
INSERT INTO hublink.logon (server_started_at, seq, logon_at, role_name, outcome)
SELECT '2026-01-01', -n, now() - interval '40 minutes' + n * interval '1 minute', 'hublink_test_victim', 'failed'
  FROM generate_series(1, 5) AS n;
SELECT is(hublink.check_failed_logons('hublink_test_victim', now()), NULL,
          'five failures raise nothing (and old ones fall out of the window)');
INSERT INTO hublink.logon (server_started_at, seq, logon_at, role_name, outcome)
SELECT '2026-01-01', -10 - n, now() - interval '10 minutes' + n * interval '1 second', 'hublink_test_victim', 'failed'
  FROM generate_series(1, 6) AS n;
SELECT isnt(hublink.check_failed_logons('hublink_test_victim', now()), NULL,
            'six failures within 30 minutes raise security_failed_logons');
SELECT is(hublink.check_failed_logons('hublink_test_victim', now()), NULL, 'once per window');
SELECT is((SELECT (detail->>'failures')::integer FROM hublink.alert WHERE kind = 'security_failed_logons'
            AND detail->>'role_name' = 'hublink_test_victim'), 6, 'counting the failures in the window');

SELECT * FROM finish();
ROLLBACK;

-- Alerts (sql/parts/46_alerts.sql, docs/alerts.md), in one session: raise_alert writes a row
-- with the kind's default severity or the one the raiser sets, and keeps the detail; unknown
-- kinds and severities are refused; acknowledge_alert records who acknowledged, and refuses an
-- unknown alert. What needs a second session is checked by 46_alerts_notify.sh (run after this
-- file by test/sql/run): the NOTIFY on channel hublink_alert seen by a listener, and the first
-- of two concurrent acknowledgements kept.
BEGIN;
SELECT plan(9);

INSERT INTO hublink.alert_kind VALUES ('test_kind', 'warning', 'test', 'raised by test/sql/46_alerts.sql');

SELECT ok(hublink.raise_alert('test_kind', 'a test alert', NULL, '{"n": 1}') > 0, 'raise_alert returns the new alert_id');
SELECT is((SELECT severity FROM hublink.alert WHERE kind = 'test_kind'), 'warning', 'the severity defaults to the kind''s');
SELECT is((SELECT detail FROM hublink.alert WHERE kind = 'test_kind'), '{"n": 1}'::jsonb, 'the detail is kept');
SELECT is(hublink.raise_alert('test_kind', 'urgent', NULL, '{}', 'critical') IS NOT NULL, true, 'a raiser may set the severity');
SELECT is((SELECT severity FROM hublink.alert WHERE subject = 'urgent'), 'critical', 'and it is kept');
SELECT throws_ok($$SELECT hublink.raise_alert('no_such_kind', 'x')$$, '22023', 'unknown alert kind "no_such_kind"',
                 'an unknown kind is refused');
SELECT throws_ok($$SELECT hublink.raise_alert('test_kind', 'x', NULL, '{}', 'apocalyptic')$$, '23503', NULL,
                 'an unknown severity is refused');

SELECT hublink.acknowledge_alert((SELECT alert_id FROM hublink.alert WHERE subject = 'urgent'));
SELECT is((SELECT acknowledged_by FROM hublink.alert WHERE subject = 'urgent'), session_user::text,
          'acknowledging records who');
SELECT throws_ok($$SELECT hublink.acknowledge_alert(-1)$$, 'P0002', 'no alert -1', 'an unknown alert is an error');

SELECT * FROM finish();
ROLLBACK;

-- Protective monitoring checks (sql/parts/78_security_monitor.sql, docs/security-monitoring.md;
-- NFR 0014, NFR 0020 3d-e, capacity): lock-outs in shared memory follow hublink.security_lockout
-- (an older unlock never lifts a newer lock-out), hublink.unlock_role, the login warning table,
-- dormant roles once per dormancy, the audit capacity check, and who may do what.
-- Shared memory is not transactional: the role names here are unique to this test.
BEGIN;
SELECT plan(23);

UPDATE hublink.worker_job SET enabled = true WHERE job_name IN ('security_event_flush', 'security_checks');

-- --- lock-out in shared memory -------------------------------------------------------------
SELECT is(hublink.security_set_lockout('hublink_test_lock_a', true, now()), true, 'security_set_lockout locks');
SELECT is((SELECT locked FROM hublink.security_logon_state() WHERE role_name = 'hublink_test_lock_a'), true,
          'and the logon hook''s table shows it');
SELECT is(hublink.security_set_lockout('hublink_test_lock_a', false, now() - interval '1 hour'), true,
          'an unlock older than the lock-out does not lift it');
SELECT is(hublink.security_set_lockout('hublink_test_lock_a', false, clock_timestamp()), false,
          'a newer one does');

-- --- the lock-out table and hublink.unlock_role --------------------------------------------
CREATE ROLE hublink_test_lock_b LOGIN;
SELECT hublink.security_event_flushed('account_locked', 'hublink_test_lock_b', now(),
                                      '{"locked_role": "hublink_test_lock_b", "failures": 10}');
SELECT is((SELECT failures FROM hublink.security_lockout WHERE role_name = 'hublink_test_lock_b' AND unlocked_at IS NULL),
          10, 'a flushed account_locked event is a row of hublink.security_lockout');
SELECT hublink.sync_security_shared_memory();
SELECT is((SELECT locked FROM hublink.security_logon_state() WHERE role_name = 'hublink_test_lock_b'), true,
          'which the sync puts in shared memory (as after a restart)');
SELECT hublink.security_event_flushed('account_locked', 'hublink_test_no_such_login', now(),
                                      '{"locked_role": "hublink_test_no_such_login", "failures": 10}');
SELECT hublink.sync_security_shared_memory();
SELECT is((SELECT count(*)::int FROM hublink.security_logon_state() WHERE role_name = 'hublink_test_no_such_login'), 0,
          'but not the lock-out of a name that is no login (it would only take a slot)');
SELECT is(hublink.unlock_role('hublink_test_lock_b'), true, 'unlock_role returns that it was locked');
SELECT is((SELECT unlocked_by FROM hublink.security_lockout WHERE role_name = 'hublink_test_lock_b'),
          session_user::text, 'records who unlocked');
SELECT is((SELECT count(*) FROM hublink.security_logon_state() WHERE role_name = 'hublink_test_lock_b')::integer, 0,
          'and lifts the lock-out in shared memory (its entry freed: nothing left to count)');
DROP ROLE hublink_test_lock_b;
SELECT throws_ok($$SELECT hublink.unlock_role('hublink_test_never_failed')$$, 'P0002',
                 'role "hublink_test_never_failed" is not locked out', 'unlocking a role never locked out is an error');
SELECT ok(has_function_privilege('hublink_admin', 'hublink.unlock_role(text)', 'EXECUTE')
          AND NOT has_function_privilege('hublink_caseworker', 'hublink.unlock_role(text)', 'EXECUTE'),
          'hublink_admin may unlock, a caseworker may not');
SELECT ok(NOT has_function_privilege('hublink_admin', 'hublink.security_set_lockout(text, boolean, timestamptz)', 'EXECUTE')
          AND NOT has_function_privilege('hublink_admin', 'hublink.record_security_event(text, jsonb)', 'EXECUTE'),
          'nobody but the owner sets lock-outs or records events directly');

-- --- the login warning (NFR 0014) -----------------------------------------------------------
SELECT is((SELECT count(*) FROM hublink.security_login_warning)::integer, 1, 'a login warning is installed');
SELECT throws_ok($$INSERT INTO hublink.security_login_warning (singleton, warning_text) VALUES (false, 'x')$$,
                 '23514', NULL, 'the table holds one row');
SELECT throws_ok($$UPDATE hublink.security_login_warning SET warning_text = repeat('x', 2001)$$,
                 '23514', NULL, 'of at most 2000 bytes (it must fit shared memory)');
SELECT ok(has_table_privilege('hublink_admin', 'hublink.security_login_warning', 'UPDATE')
          AND NOT has_table_privilege('hublink_caseworker', 'hublink.security_login_warning', 'UPDATE'),
          'hublink_admin may change the warning');

-- --- dormant roles (NFR 0020 3e) ----------------------------------------------------------
CREATE ROLE hublink_test_dormant LOGIN;
CREATE ROLE hublink_test_active LOGIN;
SELECT hublink.check_dormant_roles();
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'security_dormant_role'
            AND detail->>'role_name' LIKE 'hublink_test_%')::integer, 0, 'a role first seen now is not dormant');
UPDATE hublink.security_monitored_role SET first_seen_at = now() - interval '93 days'
 WHERE role_name LIKE 'hublink_test_%';
INSERT INTO hublink.logon (server_started_at, seq, logon_at, role_name, outcome)
VALUES ('2026-01-01', -1, now() - interval '91 days', 'hublink_test_active', 'succeeded'),
       ('2026-01-01', -2, now() - interval '1 day', 'hublink_test_dormant', 'failed');
SELECT hublink.check_dormant_roles();
SELECT is((SELECT string_agg(detail->>'role_name', ',') FROM hublink.alert WHERE kind = 'security_dormant_role'
            AND detail->>'role_name' LIKE 'hublink_test_%'), 'hublink_test_dormant',
          'after 92 days without a successful logon a role is dormant (a failed logon does not count)');
SELECT is(hublink.check_dormant_roles(), 0, 'it is reported once per dormancy');
INSERT INTO hublink.logon (server_started_at, seq, logon_at, role_name, outcome)
VALUES ('2026-01-01', -3, now() - interval '100 days' + interval '1 second', 'hublink_test_dormant', 'succeeded');
UPDATE hublink.security_monitored_role SET dormant_alerted_at = now() - interval '101 days'
 WHERE role_name = 'hublink_test_dormant';
SELECT is(hublink.check_dormant_roles(), 1, 'and again after a new logon followed by another dormancy');

-- --- capacity of the audit store ------------------------------------------------------------
SELECT is(hublink.check_audit_capacity(), NULL, 'the audit store is far below the default 10 GB');
SELECT cmp_ok(hublink.audit_store_bytes(), '>', 0::bigint, 'its size is measured from hublink.audit_relations');

SELECT * FROM finish();
ROLLBACK;

-- Code stored as data (issue 12 section 1; docs/security-access.md "Code stored as data"): a
-- hublink_admin login (not a superuser) tries every place where a function name, a query or
-- an expression is kept in a row or a trigger and run later with the extension owner's
-- rights. Its weapon is a function of its own (in pg_temp, the one schema it can create in)
-- that makes it a superuser and runs a shell command. Each attempt must be refused or
-- rejected with a clear error, the weapon must never run, and the alert must name the admin.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
-- Where the weapon's shell command leaves its mark; a setting, so the admin's function reads it.
SELECT set_config('sc.marker', current_setting('data_directory') || '/hostile_admin_was_here', false) IS NOT NULL AS ok \gset
\o /dev/null
\ir ../e2e/timers/helpers.sql
\o
SELECT plan(33);

CREATE ROLE sc_mallory LOGIN IN ROLE hublink_admin;
CREATE ROLE sc_worker LOGIN IN ROLE hublink_worker;
CREATE TABLE timer_test.mark (ring_before bigint);
INSERT INTO timer_test.mark SELECT (hublink.security_ring_status()).next_seq - 1;
-- How the tests below know the weapon never ran.
CREATE FUNCTION timer_test.weapon_ran() RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = 'sc_mallory')
        OR pg_stat_file(current_setting('sc.marker'), true) IS NOT NULL $$;

-- A removal with a pending response SLA; only the timer job is due.
UPDATE hublink.worker_job SET enabled = (job_name = 'fire_timers'), next_run_at = '-infinity';
SELECT timer_test.new_removal('HO-9100001', false, current_date + 10) AS ref \gset
SELECT hublink.request_travel_quotes(:'ref', '{LHR}') IS NOT NULL AS ok \gset

-- --- the admin builds its weapons ------------------------------------------------------------
SET SESSION AUTHORIZATION sc_mallory;
SELECT is(session_user::text, 'sc_mallory', 'the attacker is a hublink_admin login');
CREATE FUNCTION pg_temp.weapon() RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE 'ALTER ROLE sc_mallory SUPERUSER';
    EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch ' || current_setting('sc.marker'));
END $f$;
CREATE FUNCTION pg_temp.still_due(bigint) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.weapon(); RETURN true; END $f$;
CREATE FUNCTION pg_temp.act(bigint) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.weapon(); RETURN 'x'; END $f$;
CREATE FUNCTION pg_temp.job() RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.weapon(); RETURN NULL; END $f$;
CREATE FUNCTION pg_temp.respond(jsonb) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.weapon(); END $f$;
CREATE FUNCTION pg_temp.purge(text) RETURNS jsonb LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.weapon(); RETURN '{}'; END $f$;
SELECT throws_ok($$CREATE FUNCTION hublink.x() RETURNS void LANGUAGE sql AS 'SELECT'$$, '42501', NULL,
                 'it cannot create a function in schema hublink');
SELECT throws_ok($$CREATE OR REPLACE FUNCTION hublink.timer_quote_still_due(bigint) RETURNS boolean
                   LANGUAGE sql AS 'SELECT true'$$, '42501', NULL, 'nor replace one of the extension''s');
SELECT throws_ok($$ALTER FUNCTION pg_temp.still_due(bigint) OWNER TO postgres$$, '42501', NULL,
                 'nor give its weapon to the owner');

-- --- 1. timer_kind.still_due_function: writable by the admin, checked on write and on call -----
SELECT throws_ok($$UPDATE hublink.timer_kind SET still_due_function = 'pg_temp.still_due(bigint)'
                   WHERE kind = 'response_sla'$$, '42501',
                 'function pg_temp.still_due(bigint) may not be stored in hublink.timer_kind.still_due_function',
                 'timer_kind.still_due_function: a function of the admin''s own is rejected');
SELECT throws_ok($$UPDATE hublink.timer_kind SET still_due_function = 'pg_catalog.pg_backend_pid()'
                   WHERE kind = 'response_sla'$$, '42501', NULL,
                 'and a function of the owner outside schema hublink too');
SELECT lives_ok($$UPDATE hublink.timer_kind SET late_after = interval '2 minutes' WHERE kind = 'response_sla'$$,
                'the admin still edits the other columns of a timer kind');

-- --- 2. timer_rule.action ----------------------------------------------------------------------
SELECT throws_ok($$INSERT INTO hublink.timer_rule (kind, message_type, destination, fire_offset, action, description)
                   VALUES ('response_sla', 'EscortQuoteRequest', 'FRA', '1 hour', 'pg_temp.act(bigint)', 'evil')$$, '42501',
                 'function pg_temp.act(bigint) may not be stored in hublink.timer_rule.action',
                 'timer_rule.action: a new rule naming the admin''s function is rejected');
SELECT throws_ok($$UPDATE hublink.timer_rule SET action = 'pg_temp.act(bigint)' WHERE kind = 'response_sla'$$,
                 '42501', NULL, 'and so is a changed one');
SELECT lives_ok($$UPDATE hublink.timer_rule SET action = 'hublink.timer_requote(bigint)' WHERE kind = 'quote_expiry'$$,
                'an action of the extension is accepted');
SELECT lives_ok($$UPDATE hublink.timer_rule SET action = NULL WHERE kind = 'quote_expiry'$$, 'as is none');

-- --- 3. tables only the owner writes ---------------------------------------------------------
SELECT throws_ok($$UPDATE hublink.worker_job SET job_function = 'pg_temp.job()'$$, '42501', NULL,
                 'worker_job.job_function: the admin cannot write it');
SELECT throws_ok($$INSERT INTO hublink.worker_job (job_name, job_function, run_every, description)
                   VALUES ('evil', 'pg_temp.job()', '1 minute', 'evil')$$, '42501', NULL, 'nor add a job');
SELECT throws_ok($$UPDATE hublink.message_handler SET responder = 'pg_temp.respond(jsonb)' WHERE message_type = 'TravelQuoteResponse'$$,
                 '42501', NULL, 'message_handler.responder: the admin cannot write it');
SELECT throws_ok($$UPDATE hublink.message_handler SET handler = 'pg_temp.respond(jsonb)'$$, '42501', NULL,
                 'message_handler.handler: the admin cannot write it');
SELECT throws_ok($$UPDATE hublink.sealed_table SET scope_query = 'SELECT pg_temp.weapon()::text'$$, '42501', NULL,
                 'sealed_table.scope_query: the admin cannot write it');
SELECT throws_ok($$SELECT hublink.seal_personal_columns('hublink.reason_code', 'SELECT pg_temp.weapon()::text', 'x')$$,
                 '42501', NULL, 'nor seal a table with a query of its own');
SELECT throws_ok($$UPDATE hublink.retention_policy SET purge_function = 'pg_temp.purge(text)'$$, '42501', NULL,
                 'retention_policy.purge_function: the admin cannot write it');
SELECT throws_ok($$CREATE TRIGGER evil AFTER INSERT ON hublink.reason_code FOR EACH ROW
                   EXECUTE FUNCTION hublink.audit_row_change('insert', '{}', '{}', 'lookup', 'code', 'SELECT pg_temp.weapon()')$$,
                 '42501', NULL, 'trigger arguments run as SQL (audit_row_change): no trigger on a table of the extension');
CREATE TEMP TABLE own (code text);
SELECT throws_ok($$CREATE TRIGGER evil AFTER INSERT ON pg_temp.own FOR EACH ROW
                   EXECUTE FUNCTION hublink.audit_row_change('insert', '{}', '{}', 'lookup', 'code', 'SELECT pg_temp.weapon()')$$,
                 '42501', NULL, 'nor the audit trigger function on a table of its own');
SELECT throws_ok($$CREATE TRIGGER evil AFTER INSERT ON pg_temp.own FOR EACH ROW
                   EXECUTE FUNCTION hublink.seal_personal_row()$$,
                 '42501', NULL, 'nor the sealing trigger function (which runs sealed_table.scope_query)');
RESET SESSION AUTHORIZATION;

-- --- 4. the worker's login cannot write them either ------------------------------------------
SET SESSION AUTHORIZATION sc_worker;
SELECT throws_ok($$UPDATE hublink.timer_kind SET still_due_function = NULL$$, '42501', NULL,
                 'the worker cannot write timer_kind');
SELECT throws_ok($$UPDATE hublink.worker_job SET job_function = 'hublink.timer_job()'$$, '42501', NULL,
                 'nor worker_job');
RESET SESSION AUTHORIZATION;

-- --- 5. a row that got past the write check (restored from a dump, written before 0.2.0, a
-- trigger disabled by a superuser) is refused when it is run, by the worker's own job --------
SET session_replication_role = replica;
UPDATE hublink.timer_kind SET still_due_function = 'pg_temp.still_due(bigint)' WHERE kind = 'response_sla';
SET session_replication_role = origin;
UPDATE hublink.timer SET due_at = clock_timestamp() - interval '1 second' WHERE status = 'pending';
SET SESSION AUTHORIZATION sc_worker;
SELECT lives_ok('SELECT hublink.run_worker_jobs()', 'the worker runs its jobs');
RESET SESSION AUTHORIZATION;
SELECT is(timer_test.weapon_ran(), false, 'the admin''s still_due_function never ran: no superuser, no shell');
SELECT is((SELECT t.status || ': ' || t.last_error FROM hublink.timer t WHERE t.kind = 'response_sla'),
          'pending: function pg_temp.still_due(bigint) may not be run from hublink.timer_kind.still_due_function',
          'the timer stays pending with the refusal as its error');
SET session_replication_role = replica;
UPDATE hublink.timer_kind SET still_due_function = NULL WHERE kind = 'response_sla';
UPDATE hublink.timer_rule SET action = 'pg_temp.act(bigint)'
 WHERE timer_rule_id = (SELECT timer_rule_id FROM hublink.timer WHERE kind = 'response_sla');
INSERT INTO hublink.worker_job (job_name, job_function, run_every, description)
VALUES ('evil', 'pg_temp.job()', '1 minute', 'the admin''s');
SET session_replication_role = origin;
UPDATE hublink.worker_job SET next_run_at = '-infinity' WHERE job_name = 'fire_timers';
SET SESSION AUTHORIZATION sc_worker;
SELECT lives_ok('SELECT hublink.run_worker_jobs()', 'the worker runs its jobs again');
RESET SESSION AUTHORIZATION;
SELECT is(timer_test.weapon_ran(), false, 'the admin''s timer action and job never ran');
SELECT is((SELECT t.last_error FROM hublink.timer t WHERE t.kind = 'response_sla'),
          'function pg_temp.act(bigint) may not be run from hublink.timer_rule.action',
          'the action is refused when the timer fires');
SELECT alike((SELECT last_error FROM hublink.worker_job WHERE job_name = 'evil'),
            'job function pg_temp%.job() is not owned by %', 'the job is refused');

-- --- 6. every refusal is a security event and an alert naming the admin, not the worker ----------
SELECT is((SELECT count(*)::int FROM hublink.security_events((SELECT ring_before FROM timer_test.mark LIMIT 1)) e
            WHERE e.kind = 'stored_function_refused'), 7,
          'each refusal recorded a security event (4 writes, 3 calls), though its statement failed');
SELECT is((SELECT array_agg(DISTINCT e.detail ->> 'responsible_role')
             FROM hublink.security_events((SELECT ring_before FROM timer_test.mark LIMIT 1)) e
            WHERE e.kind = 'stored_function_refused'), ARRAY['sc_mallory'],
          'each names the admin as the role responsible, at the write and at the call');
SELECT hublink.flush_security_events() > 0 AS ok \gset
SELECT is((SELECT array_agg(DISTINCT a.subject) FROM hublink.alert a WHERE a.kind = 'security_stored_function_refused'),
          ARRAY['Stored function refused (role sc_mallory)'], 'the alerts name the admin');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

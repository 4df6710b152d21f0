-- One answer for a removal the caller may not see and for one that does not exist (issue 12
-- section 6; docs/security-access.md "SECURITY DEFINER functions"): the error names only what
-- the caller gave, never the removal's internal id or reference, and reads the same for both.
-- Caseworkers through the Hub functions (by removal reference), an admin through the message
-- readers (by row id). Logins switched to with SET SESSION AUTHORIZATION.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
\o /dev/null
\ir ../e2e/timers/helpers.sql
\o
SELECT plan(8);
CREATE ROLE leak_cw LOGIN IN ROLE hublink_caseworker;
CREATE ROLE leak_admin LOGIN IN ROLE hublink_admin;
SELECT hublink.set_clearance('leak_cw', 'standard');
-- A restricted removal with an outbox message, made by the owner.
SELECT timer_test.new_removal('HO-9200001', false, current_date + 10) AS hidden \gset
SELECT hublink.set_removal_sensitivity(:'hidden', 'restricted');
SELECT hublink.request_travel_quotes(:'hidden', '{LHR}') IS NOT NULL AS ok \gset
SELECT removal_id AS hidden_id FROM hublink.removal WHERE removal_reference = :'hidden' \gset
SELECT id AS hidden_msg FROM hublink.outbox WHERE removal_id = :'hidden' ORDER BY id LIMIT 1 \gset
SELECT coalesce(max(id), 0) + 1000 AS no_msg FROM hublink.outbox \gset
-- The error of a statement, with what the caller gave replaced by <given>.
CREATE FUNCTION timer_test.error_of(sql text, given text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    m text; d text; h text; c text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT, c = RETURNED_SQLSTATE;
    RETURN regexp_replace(concat_ws(' | ', c, m, d, h), '(?<![0-9A-Z-])' || given || '(?![0-9A-Z-])', '<given>', 'g');
END $$;
GRANT USAGE ON SCHEMA timer_test TO PUBLIC;
GRANT EXECUTE ON FUNCTION timer_test.error_of(text, text) TO PUBLIC;

SET SESSION AUTHORIZATION leak_cw;
CREATE TEMP TABLE e AS
SELECT timer_test.error_of(format('SELECT hublink.profile_risk(%L)', :'hidden'), :'hidden') AS hidden,
       timer_test.error_of(format('SELECT hublink.profile_risk(%L)', 'RMV-2000-999999'), 'RMV-2000-999999') AS missing;
SELECT is((SELECT hidden FROM e), (SELECT missing FROM e),
          'a caseworker gets the same error for a removal above its clearance and for one that does not exist');
SELECT alike((SELECT hidden FROM e), '42501 | removal <given> is not accessible%', 'insufficient_privilege, naming the reference given');
SELECT unalike((SELECT hidden FROM e), '%removal ' || :'hidden_id' || ' %', 'and not the removal''s internal id');
SELECT is(timer_test.error_of(format('SELECT hublink.cancel_removal(%L, %L)', :'hidden', 'x'), :'hidden'),
          (SELECT missing FROM e), 'the same through another Hub function');
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION leak_admin;
CREATE TEMP TABLE f AS
SELECT timer_test.error_of(format('SELECT hublink.outbox_document(%s)', :'hidden_msg'), :'hidden_msg') AS hidden,
       timer_test.error_of(format('SELECT hublink.outbox_document(%s)', :'no_msg'), :'no_msg') AS missing,
       timer_test.error_of(format('SELECT hublink.inbox_failure(%s)', :'no_msg'), :'no_msg') AS failure_missing;
SELECT is((SELECT hidden FROM f), (SELECT missing FROM f),
          'an admin without the clearance gets the same error for a message of a hidden removal and for no message');
SELECT unalike((SELECT hidden FROM f), '%' || :'hidden' || '%', 'which names neither the removal''s reference');
SELECT unalike((SELECT hidden FROM f), '%removal ' || :'hidden_id' || '%', 'nor its id');
SELECT is((SELECT failure_missing FROM f), replace((SELECT missing FROM f), 'outbox', 'inbox'),
          'inbox_failure refuses a row that does not exist as it refuses a hidden one (no empty answer)');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

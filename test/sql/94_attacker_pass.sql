-- Found by the fresh attacker pass over 0.2.0 (issue 12 "Done when"; docs/security-access.md):
-- (1) hublink.message_document treated every row as missing for an admin or caseworker cleared
--     for its removal (PL/pgSQL's EXECUTE does not set FOUND), so nobody but the owner could open
--     a message; (2) an admin could raise its own clearance and then decrypt personal data.
-- Logins switched to with SET SESSION AUTHORIZATION.
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
SELECT plan(6);
CREATE ROLE pass_admin LOGIN IN ROLE hublink_admin;
CREATE ROLE pass_admin2 LOGIN IN ROLE hublink_admin;
SELECT timer_test.new_removal('HO-9400001', false, current_date + 10) AS ref \gset
SELECT hublink.set_removal_sensitivity(:'ref', 'sensitive');
SELECT hublink.request_travel_quotes(:'ref', '{LHR}') IS NOT NULL AS ok \gset
SELECT id AS msg FROM hublink.outbox WHERE removal_id = :'ref' ORDER BY id LIMIT 1 \gset
SELECT hublink.set_clearance('pass_admin', 'sensitive');

SET SESSION AUTHORIZATION pass_admin;
SELECT is((hublink.outbox_document(:msg))->>'removalId', :'ref',
          'an admin cleared for the removal opens its message (message_document finds the row)');
SELECT is((hublink.outbox_document(:msg))->>'messageType', 'TravelQuoteRequest', 'the whole message, its type included');
SELECT throws_ok($$SELECT hublink.set_clearance('pass_admin', 'restricted')$$, '42501', NULL,
                 'an admin may not set its own clearance');
SELECT throws_ok($$SELECT hublink.set_clearance('pass_admin', NULL)$$, '42501', NULL,
                 'not even to remove it');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT level FROM hublink.role_clearance WHERE role_name = 'pass_admin'), 'sensitive',
          'the clearance is what another person set');
SET SESSION AUTHORIZATION pass_admin2;
SELECT lives_ok($$SELECT hublink.set_clearance('pass_admin', 'restricted')$$,
                'another admin still sets it (two people, each audited)');
RESET SESSION AUTHORIZATION;
SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();

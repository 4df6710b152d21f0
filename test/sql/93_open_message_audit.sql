-- Reading message bodies as hublink_worker is audited (issue 12 section 6; docs/security-access.md
-- "Who may hold hublink_worker"): the role reads every inbox and outbox row at every clearance
-- through hublink.open_message, so every body it opens leaves an audit row naming the login.
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
CREATE ROLE om_reader LOGIN IN ROLE hublink_worker;
CREATE ROLE om_admin LOGIN IN ROLE hublink_admin;
SELECT timer_test.new_removal('HO-9300001', false, current_date + 10) AS ref \gset
SELECT hublink.request_travel_quotes(:'ref', '{LHR}') AS msg \gset
SELECT coalesce(max(audit_id), 0) AS a0 FROM hublink.audit_log \gset

SET SESSION AUTHORIZATION om_reader;
SELECT is((SELECT hublink.open_message(message, key_scope, sealed_body) #>> '{body,returnees,0,personalDetails,hoReturneeReference}'
             FROM hublink.outbox WHERE message_id = :'msg'), 'HO-9300001',
          'a login granted hublink_worker opens a sealed body');
SELECT is((SELECT count(*)::int FROM hublink.outbox o CROSS JOIN LATERAL hublink.open_message(o.message, o.key_scope, NULL) x), 
          (SELECT count(*)::int FROM hublink.outbox), 'an envelope without a sealed body opens without decrypting');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM hublink.audit_log WHERE audit_id > :a0 AND action = 'decrypt'), 1,
          'exactly one audit row: the body it decrypted');
SELECT is((SELECT row(session_user_name, removal_reference, detail ->> 'message_id', detail ->> 'message_type',
                      detail ->> 'function')::text
             FROM hublink.audit_log WHERE audit_id > :a0 AND action = 'decrypt'),
          row('om_reader', :'ref', :'msg', 'TravelQuoteRequest', 'hublink.open_message')::text,
          'naming the login, the removal, the message and the function');
SELECT unalike((SELECT detail::text FROM hublink.audit_log WHERE audit_id > :a0 AND action = 'decrypt'),
               '%Returnee%', 'and no personal data');

SET SESSION AUTHORIZATION om_admin;
SELECT throws_ok($$SELECT hublink.open_message(message, key_scope, sealed_body) FROM hublink.outbox$$, '42501', NULL,
                 'an admin cannot read the message logs with it');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

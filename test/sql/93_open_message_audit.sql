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
SELECT plan(16);
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

-- The worker's publishing fetch (bgworker/outbox.c, hublink.open_outbox): a batch of bodies
-- opened with one audit row for the batch that names every message it opened.
SELECT hublink.request_travel_quotes(:'ref', '{LGW}') AS msg2 \gset
SELECT timer_test.new_removal('HO-9300002', false, current_date + 10) AS ref2 \gset
SELECT hublink.request_travel_quotes(:'ref2', '{LHR}') AS msg3 \gset
SELECT coalesce(max(audit_id), 0) AS a1 FROM hublink.audit_log \gset
SELECT min(id) - 1 AS before_first FROM hublink.outbox WHERE message_id IN (:'msg', :'msg2', :'msg3') \gset
SET SESSION AUTHORIZATION om_reader;
SELECT count(*) FILTER (WHERE message_id IN (:'msg', :'msg2', :'msg3')) AS n_ours,
       max(document::jsonb #>> '{body,returnees,0,personalDetails,hoReturneeReference}') FILTER (WHERE message_id = :'msg3') AS ho3,
       array_agg(id ORDER BY o) = array_agg(id ORDER BY id) AS in_order
  FROM hublink.open_outbox(:before_first, 1000) WITH ORDINALITY AS b(id, queue, message_id, message_type, document, o) \gset
RESET SESSION AUTHORIZATION;
SELECT is(:n_ours, 3, 'open_outbox hands out every unsent row after the id given');
SELECT is(:'ho3'::text, 'HO-9300002', 'each with its body opened');
SELECT ok(:'in_order'::boolean, 'in id order (the order the worker publishes in)');
SELECT is((SELECT count(*)::int FROM hublink.audit_log WHERE audit_id > :a1 AND action = 'decrypt'), 1,
          'one decrypt audit row for the batch, not one per body');
SELECT is((SELECT count(*)::int FROM hublink.audit_log l,
                  jsonb_array_elements(l.detail -> 'messages') m
            WHERE l.audit_id > :a1 AND l.action = 'decrypt' AND l.session_user_name = 'om_reader'
              AND l.detail ->> 'function' = 'hublink.open_outbox'
              AND (m ->> 'message_id', m ->> 'key_scope') IN ((:'msg', :'ref'), (:'msg2', :'ref'), (:'msg3', :'ref2'))),
          3, 'naming the login, the function and every message it opened with its removal');
SELECT is((SELECT count(*)::int FROM hublink.audit_log
            WHERE audit_id > :a1 AND action = 'decrypt' AND removal_id IS NULL
              AND (detail ->> 'count')::int = jsonb_array_length(detail -> 'messages')), 1,
          'a batch of two removals names no single removal, and counts its messages');
SELECT unalike((SELECT string_agg(detail::text, ' ') FROM hublink.audit_log WHERE audit_id > :a1 AND action = 'decrypt'),
               '%Returnee%', 'and no personal data');

SET SESSION AUTHORIZATION om_reader;
SELECT throws_ok($$SELECT * FROM hublink.open_outbox(0, NULL)$$, '22023', NULL,
                 'a NULL limit (LIMIT NULL: every row) is refused');
SELECT throws_ok($$SELECT * FROM hublink.open_outbox(0, 1001)$$, '22023', NULL,
                 'and so is a batch above 1000: one audit row names every body it opens');
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION om_admin;
SELECT throws_ok($$SELECT * FROM hublink.open_outbox(0, 10)$$, '42501', NULL,
                 'an admin cannot open the outbox with it either');
RESET SESSION AUTHORIZATION;

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

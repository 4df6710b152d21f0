-- The next quote request of a removal as one Hub function (issue 16; docs/hub.md "Requesting
-- quotes"): "escorted removals ask the ESP first, else travel" and the departure airports were
-- the web server's (an environment variable); hublink.request_quotes and the reference table
-- hublink.departure_airport hold them now. Tried as a hostile caseworker would: a removal above
-- its clearance, an unknown reference, a removal in the wrong state, a second request while
-- the ESP has not quoted, writing the airports itself. Logins switched to with SET SESSION
-- AUTHORIZATION; the messages sent read back with hublink.outbox_document (as the owner).
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
SELECT plan(20);
CREATE ROLE rq_cw LOGIN IN ROLE hublink_caseworker;
CREATE ROLE rq_admin LOGIN IN ROLE hublink_admin;
SELECT hublink.set_clearance('rq_cw', 'standard');
SELECT timer_test.new_removal('HO-4410001', false, current_date + 10) AS plain \gset
SELECT timer_test.new_removal('HO-4410002', true, current_date + 10) AS escorted \gset
SELECT timer_test.new_removal('HO-4410003', false, current_date + 10) AS hidden \gset
SELECT timer_test.new_removal('HO-4410004', false, current_date + 10) AS ended \gset
SELECT hublink.set_removal_sensitivity(:'hidden', 'restricted');
SELECT hublink.request_travel_quotes(:'ended', '{LHR}') IS NOT NULL AS ok \gset
SELECT timer_test.travel_quotes_arrive(:'ended', jsonb_build_array(timer_test.quote(:'ended', 'TQ-4410004', 500,
           now() + interval '2 days', now() + interval '10 days', true)));
SELECT hublink.cancel_removal(:'ended', 'RETURNEE_RELEASED') IS NOT NULL AS ok \gset
-- What was sent for a removal: its outbox messages, newest first, with their bodies.
CREATE FUNCTION timer_test.rq_sent(ref text) RETURNS TABLE (n bigint, message_type text, body jsonb)
    LANGUAGE sql AS $$
    SELECT count(*) OVER (), o.message_type, hublink.outbox_document(o.id) -> 'body'
      FROM hublink.outbox o WHERE o.removal_id = ref ORDER BY o.id DESC LIMIT 1 $$;
GRANT USAGE ON SCHEMA timer_test TO PUBLIC;
SELECT count(*) AS ended_sent FROM hublink.outbox WHERE removal_id = :'ended' \gset

SELECT has_function('hublink', 'request_quotes', ARRAY['text'], 'hublink.request_quotes(removal_reference) exists');
SELECT ok(NOT has_function_privilege('public', 'hublink.request_quotes(text)', 'EXECUTE')
          AND has_function_privilege('rq_cw', 'hublink.request_quotes(text)', 'EXECUTE'),
          'a caseworker may call it, PUBLIC may not');

-- --- a hostile caseworker -------------------------------------------------------------------
SET SESSION AUTHORIZATION rq_cw;
SELECT throws_ok(format('SELECT hublink.request_quotes(%L)', :'hidden'), '42501',
                 format('removal %s is not accessible', :'hidden'),
                 'a removal above the caseworker''s clearance is refused');
SELECT throws_ok($$SELECT hublink.request_quotes('RMV-2000-999999')$$, '42501',
                 'removal RMV-2000-999999 is not accessible', 'an unknown reference is refused alike (no existence leak)');
SELECT throws_ok($$SELECT hublink.request_quotes(NULL)$$, '42501', 'removal NULL is not accessible', 'and NULL');
SELECT throws_ok(format('SELECT hublink.request_quotes(%L)', :'ended'), '55000',
                 format('removal %s is cancelled: quotes cannot be requested', :'ended'),
                 'a cancelled removal is refused plainly');
SELECT throws_ok($$INSERT INTO hublink.departure_airport VALUES ('XYZ', 'Anywhere', true)$$, '42501', NULL,
                 'a caseworker cannot add a departure airport');
SELECT throws_ok($$UPDATE hublink.departure_airport SET active = false$$, '42501', NULL,
                 'nor switch one off');
-- the choice: unescorted, travel with the Hub's departure airports
SELECT lives_ok(format('SELECT hublink.request_quotes(%L)', :'plain'), 'an unescorted removal is quoted');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT n FROM timer_test.rq_sent(:'hidden')), NULL, 'nothing was sent for the hidden removal');
SELECT is((SELECT count(*) FROM hublink.outbox WHERE removal_id = :'ended'), :'ended_sent'::bigint,
          'nor for the cancelled one');
SELECT is((SELECT message_type || ' ' || (body -> 'departureAirports')::text FROM timer_test.rq_sent(:'plain')),
          'TravelQuoteRequest ["LHR"]', 'it asked the TSP, from the departure airports of the table');

-- escorted: the ESP first, then nothing until it quotes
SET SESSION AUTHORIZATION rq_cw;
SELECT lives_ok(format('SELECT hublink.request_quotes(%L)', :'escorted'), 'an escorted removal is quoted');
SELECT throws_ok(format('SELECT hublink.request_quotes(%L)', :'escorted'), '55000',
                 format('removal %s is waiting for the escort quotes', :'escorted'),
                 'asking again before the ESP has quoted is refused');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT n || ' ' || message_type FROM timer_test.rq_sent(:'escorted')), '1 EscortQuoteRequest',
          'one escort quote request was sent, no travel request');

-- --- the airports are the admin's reference rows -----------------------------------------------
SET SESSION AUTHORIZATION rq_admin;
SELECT throws_ok($$INSERT INTO hublink.departure_airport VALUES ('lgw', 'Gatwick', true)$$, '23514', NULL,
                 'an airport code that is not three capital letters is refused');
SELECT lives_ok($$INSERT INTO hublink.departure_airport VALUES ('LGW', 'London Gatwick', true)$$,
                'an admin adds an airport');
RESET SESSION AUTHORIZATION;
SELECT ok(EXISTS (SELECT FROM hublink.audit_log a WHERE a.table_name = 'hublink.departure_airport' AND a.action = 'insert' AND a.role_name = 'rq_admin'),
          'and the change is in the audit trail, naming the admin');
SET SESSION AUTHORIZATION rq_cw;
SELECT hublink.request_quotes(:'plain') IS NOT NULL AS ok \gset
RESET SESSION AUTHORIZATION;
SELECT is((SELECT body -> 'departureAirports' FROM timer_test.rq_sent(:'plain')), '["LGW", "LHR"]'::jsonb,
          'the next request names both');
SET SESSION AUTHORIZATION rq_admin;
UPDATE hublink.departure_airport SET active = false;
RESET SESSION AUTHORIZATION;
SELECT hublink.requote(:'plain') IS NOT NULL AS ok \gset
SELECT ok((SELECT NOT body ? 'departureAirports' FROM timer_test.rq_sent(:'plain')),
          'with none active a request names no airport (any), hublink.requote too');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

-- The broker contract (issue 12 section 2, issue 14 sections 2 and 3): the permissions the
-- broker gets are derived from the queue table and give each party exactly its queues; every
-- JSON spelling of an integer reads the same in the handlers; an Error is never answered.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'tsp';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value tsp
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(41);

-- --- the broker's definitions -------------------------------------------------------------
CREATE TEMP TABLE defs AS SELECT hublink.broker_definitions('/') AS d;
CREATE TEMP TABLE perm AS
SELECT p ->> 'user' AS broker_user, p ->> 'configure' AS configure, p ->> 'write' AS write, p ->> 'read' AS read
  FROM defs, jsonb_array_elements(d -> 'permissions') p;
CREATE TEMP TABLE queue AS SELECT q ->> 'name' AS name FROM defs, jsonb_array_elements(d -> 'queues') q;

SELECT is((SELECT count(*)::int FROM perm), 3, 'one permission per broker user of hublink.broker_identity');
SELECT is((SELECT count(*)::int FROM perm WHERE configure = '^$'), 3, 'no party may configure (declare, delete) anything');
SELECT is((SELECT count(*)::int FROM queue), (SELECT 2 * count(*)::int FROM hublink.message_type WHERE queue IS NOT NULL),
          'every queue and its error queue is defined, durable');
-- Each user reads exactly the queues it consumes and the error queues of the queues it sends on.
SELECT is((SELECT string_agg(q.name, ' ' ORDER BY q.name) FROM queue q, perm p
            WHERE p.broker_user = 'tsp' AND q.name ~ p.read),
          (SELECT string_agg(x, ' ' ORDER BY x) FROM (
               SELECT queue AS x FROM hublink.message_type WHERE receiver_party = 'tsp'
               UNION ALL SELECT queue || '-error' FROM hublink.message_type WHERE sender_party = 'tsp') s),
          'tsp reads its inbound queues and the error queues of what it sends, nothing else');
SELECT is((SELECT count(*)::int FROM queue q, perm p WHERE p.broker_user = 'tsp' AND q.name ~ p.read AND q.name LIKE 'escort-%'), 0,
          'tsp reads no escort queue');
SELECT is((SELECT count(*)::int FROM queue q, perm p WHERE p.broker_user = 'esp' AND q.name ~ p.read AND q.name LIKE 'travel-%'), 0,
          'esp reads no travel queue');
SELECT is((SELECT count(*)::int FROM queue q, perm p, hublink.message_type t
            WHERE p.broker_user = 'hub' AND q.name ~ p.read AND q.name = t.queue AND t.receiver_party <> 'hub'), 0,
          'the Hub reads none of the requests it sends');
-- Writes: only the party's own exchange; never the default exchange, another's exchange, a queue.
SELECT is((SELECT string_agg(p.broker_user || '=' || e.name, ' ' ORDER BY p.broker_user)
             FROM perm p, (SELECT x ->> 'name' AS name FROM defs, jsonb_array_elements(d -> 'exchanges') x
                           UNION ALL SELECT 'amq.default' UNION ALL SELECT 'amq.direct' UNION ALL SELECT 'amq.topic') e
            WHERE e.name ~ p.write),
          'esp=hublink.esp hub=hublink.hub tsp=hublink.tsp', 'each user writes its own exchange and no other, not amq.default');
SELECT is((SELECT count(*)::int FROM queue q, perm p WHERE q.name ~ p.write), 0, 'no user writes a queue directly');
SELECT is(hublink.broker_name_pattern(ARRAY['hublink.tsp']), '^(hublink\.tsp)$', 'a dot in a name matches only a dot');
SELECT ok(NOT 'hublinkxtsp' ~ hublink.broker_name_pattern(ARRAY['hublink.tsp']), 'so hublinkxtsp is not hublink.tsp');
SELECT is(hublink.broker_name_pattern(ARRAY[]::text[]), '^$', 'no name: a pattern that matches nothing');
-- Bindings: a party's exchange reaches the queues it sends on and the error queues of those it consumes.
SELECT is((SELECT string_agg(b ->> 'destination', ' ' ORDER BY b ->> 'destination') FROM defs, jsonb_array_elements(d -> 'bindings') b
            WHERE b ->> 'source' = 'hublink.tsp'),
          (SELECT string_agg(x, ' ' ORDER BY x) FROM (
               SELECT queue AS x FROM hublink.message_type WHERE sender_party = 'tsp'
               UNION ALL SELECT queue || '-error' FROM hublink.message_type WHERE receiver_party = 'tsp') s),
          'hublink.tsp is bound to what tsp sends and to the error queues of what it consumes');
SELECT is((SELECT count(*)::int FROM defs, jsonb_array_elements(d -> 'bindings') b
            WHERE b ->> 'routing_key' <> b ->> 'destination'), 0, 'every binding''s routing key is its queue');
-- A new broker user for a party gets that party's permissions.
INSERT INTO hublink.broker_identity VALUES ('tsp-standby', 'tsp', 'a second login of the travel provider');
SELECT is((SELECT p ->> 'read' FROM jsonb_array_elements(hublink.broker_definitions() -> 'permissions') p WHERE p ->> 'user' = 'tsp-standby'),
          (SELECT read FROM perm WHERE broker_user = 'tsp'), 'a second user of a party gets the same permissions');
SELECT throws_ok($$INSERT INTO hublink.broker_identity VALUES ('', 'tsp')$$, '23514', NULL, 'an empty broker user is refused');

-- --- integers, however JSON spells them -----------------------------------------------------
SELECT is(hublink.json_integer('1.0'), 1::bigint, '1.0 is 1');
SELECT is(hublink.json_integer('-0.0'), 0::bigint, '-0.0 is 0');
SELECT is(hublink.json_integer('1.0e-400'), 0::bigint, '1.0e-400 is 0, as the validator''s double reads it');
SELECT is(hublink.json_integer('1e2'), 100::bigint, '1e2 is 100');
SELECT is(hublink.json_integer('null'), NULL, 'JSON null is NULL');
SELECT throws_ok($$SELECT hublink.json_integer('1.5')$$, '22P02', 'expected an integer, got 1.5', '1.5 is no integer');
SELECT throws_ok($$SELECT hublink.json_integer('"1"')$$, '22P02', 'expected an integer, got a JSON string', 'a string is no integer');
SELECT throws_ok($$SELECT hublink.json_integer('1e30')$$, '22003', NULL, 'beyond bigint: out of range');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'hublink' AND p.prosrc ~ '->>\s*''[A-Za-z]+''\)::(int|integer|bigint|smallint)\M'
              -- protective monitoring reads the events it wrote itself, never a message
              AND p.proname NOT LIKE 'security\_%'),
          0, 'no function of hublink reads a message integer through a text cast');
-- The travel provider's handler with escortsRequired: 1.0 and escortCount: 3.0 (valid JSON
-- Schema integers): applied, read as 1.
SELECT lives_ok($$SELECT hublink.handle_message(
                    jsonb_set(jsonb_set(jsonb_set(e.body::jsonb, '{messageId}', to_jsonb(gen_random_uuid()::text)),
                              '{body,returnees,0,travelRiskAssessment,escortsRequired}', '1.0'),
                              '{body,escortDates,0,escortCount}', '3.0'))
                    FROM hublink_test.example e WHERE e.name = 'travel-quote-request.json'$$,
                'the TSP applies a travel quote request with escortsRequired 1.0');
SELECT is((SELECT min(escorts_required) FROM hublink.risk_assessment WHERE audience = 'tsp'), 1,
          'and records 1 escort');

-- --- Errors read by their sender (as the worker would call the handler) --------------------
CREATE TEMP TABLE sent AS
SELECT hublink.send(jsonb_set(e.body::jsonb, '{messageId}', to_jsonb(gen_random_uuid()::text))) AS message_id
  FROM hublink_test.example e WHERE e.name = 'travel-quote-response.json';
CREATE FUNCTION pg_temp.error_for(failed text, q text DEFAULT 'travel-quote-response') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('messageId', gen_random_uuid()::text, 'messageType', 'Error', 'schemaVersion', '1.0',
               'sentAt', '2026-03-01T10:00:00+00:00', 'sender', 'HUB', 'removalId', 'RMV-2026-000123',
               'body', jsonb_build_object('queue', q, 'failedMessageId', failed, 'failedMessageType', 'TravelQuoteResponse',
                   'problems', jsonb_build_array(jsonb_build_object('instanceLocation', '/body/quotes/0',
                       'keywordLocation', '', 'error', 'the returnee Chinedu Okafor is not on this removal', 'code', 'INVALID_STATE')))) $$;
CREATE TEMP TABLE e1 AS SELECT pg_temp.error_for((SELECT message_id FROM sent)) AS m;
SELECT lives_ok($$SELECT hublink.receive_error(m) FROM e1$$, 'an Error naming our TravelQuoteResponse is received');
SELECT is((SELECT format('%s %s %s %s', r.reported_by, r.matched, r.problem_count, o.message_id = (SELECT message_id FROM sent))
             FROM hublink.error_report r JOIN hublink.outbox o ON o.id = r.outbox_id),
          'hub t 1 t', 'matched to our outbox row by messageId and queue, one problem');
SELECT ok((SELECT problem_locations::text NOT LIKE '%Okafor%' FROM hublink.error_report), 'the problem texts (personal data) are not copied');
SELECT is((SELECT count(*)::int FROM hublink.alert WHERE kind = 'error_received'), 1, 'error_received raised');
SELECT lives_ok($$SELECT hublink.receive_error(m) FROM e1$$, 'the same Error again');
SELECT is((SELECT count(*)::int FROM hublink.error_report), 1, 'makes no second report');
SELECT lives_ok($$SELECT hublink.receive_error(pg_temp.error_for((SELECT message_id FROM sent), 'travel-update'))$$,
                'an Error naming our message on a queue we did not send it to');
SELECT is((SELECT count(*)::int FROM hublink.needs_attention WHERE unmatched), 1, 'is kept, unmatched');
SELECT is((SELECT count(*)::int FROM hublink.alert WHERE kind = 'error_unmatched'), 1, 'and alerted');
SELECT throws_ok($$SELECT hublink.clear_attention((SELECT min(id) FROM hublink.error_report), ' ')$$, '22023', NULL,
                 'clearing without a note is refused');
SELECT lives_ok($$SELECT hublink.clear_attention((SELECT min(id) FROM hublink.error_report), 'quoted again')$$, 'cleared with a note');
SELECT is((SELECT needs_attention FROM hublink.worker_status), 1::bigint, 'worker_status counts the one left');
SELECT is(hublink.enqueue_error('travel-quote-response-error', (SELECT m FROM e1), '[]'), NULL,
          'an Error is never answered with an Error');
SELECT throws_ok($$SELECT hublink.worker_alert('quote_expiring', 'x')$$, '22023', NULL,
                 'the worker raises only its own kinds of alert');
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

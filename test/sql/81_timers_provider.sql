-- Workflow timers at a provider (docs/timers.md): the escort provider holds the response SLA of
-- the requests it receives, counted from when the Hub put them on the queue (Schedule R
-- Appendix D: hublink.inbox.enqueued_at), and its own answer stops it. The Hub's deadlines
-- (escorts unconfirmed, quote expiry) are not kept here. Runs as the ESP.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'esp';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value esp
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(6);

CREATE FUNCTION hublink_test.example_message(name text, ref text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_set(jsonb_set(e.body::jsonb, '{messageId}', to_jsonb(gen_random_uuid()::text)),
                     '{removalId}', to_jsonb(ref))
      FROM hublink_test.example e WHERE e.name = example_message.name || '.json' $$;
CREATE TABLE hublink_test.m AS SELECT hublink_test.example_message('escort-quote-request', 'RMV-2026-081001') AS m;

SELECT is(current_setting('hublink.party'), 'esp', 'this database plays the escort provider');
-- as the worker does: the delivery is stored with its enqueue time, then handled
INSERT INTO hublink.inbox (queue, message, status, enqueued_at, enqueued_at_source, received_at)
SELECT 'escort-quote-request', m, 'applied', now() - interval '3 minutes', 'amqp-timestamp', now() FROM hublink_test.m;
SELECT hublink.handle_message(m) FROM hublink_test.m;

SELECT is((SELECT string_agg(kind || ':' || status, ' ') FROM hublink.timer), 'response_sla:pending',
          'the request starts its response SLA, and only that: the Hub''s deadlines are not kept here');
SELECT is((SELECT row(t.party, t.watches, t.provider, t.machine, t.cause_message_id)::text FROM hublink.timer t),
          (SELECT row('esp', 'EscortQuoteRequest', 'esp', 'escort', m ->> 'messageId')::text FROM hublink_test.m),
          'held by the ESP, for the request it received');
SELECT is((SELECT row(anchor_at, due_at)::text FROM hublink.timer),
          row(now() - interval '3 minutes', now() - interval '3 minutes' + interval '24 hours')::text,
          'counted from when the request was put on the queue, not from its arrival');

SELECT hublink.send_message(hublink.new_message('EscortQuoteResponse', 'RMV-2026-081001',
                            (SELECT e.body::jsonb -> 'body' FROM hublink_test.example e WHERE e.name = 'escort-quote-response.json')));
SELECT is((SELECT status FROM hublink.timer), 'cancelled', 'the ESP''s answer stops it');
SELECT matches((SELECT cancel_reason FROM hublink.timer), '^answered by EscortQuoteResponse ', 'with the answer as the reason');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

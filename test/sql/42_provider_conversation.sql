-- A provider's side of the conversation (issue 4, section 4): the ESP receives the Hub's
-- requests through hublink.handle_message (as the worker would) and answers by hand with
-- hublink.send_message, the documented manual call until its booking logic exists.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'esp';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value esp
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(19);

CREATE FUNCTION hublink_test.pex(name text, patch jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_set(jsonb_set(e.body::jsonb, '{messageId}', to_jsonb(gen_random_uuid()::text)),
                     '{body}', (e.body::jsonb -> 'body') || patch)
      FROM hublink_test.example e WHERE e.name = pex.name || '.json' $$;
CREATE FUNCTION hublink_test.escort_state() RETURNS text LANGUAGE sql AS $$
    SELECT r.escort_state || '/' || coalesce(r.state, '-') || '/' || r.travel_state FROM hublink.removal r
     WHERE r.removal_reference = 'RMV-2026-000123' $$;

SELECT is(current_setting('hublink.party'), 'esp', 'this database plays the escort provider');

-- a message that is not for the ESP at all
SELECT throws_ok($$SELECT hublink.conversation_apply(hublink_test.pex('travel-quote-request'), 'in')$$, 'HL001',
                 'TravelQuoteRequest goes from hub to tsp: party esp neither sends nor receives it',
                 'the ESP takes no part in a travel quote request');
-- a booking for a quote never issued
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.pex('escort-booking-request'))$$,
                'a booking request for a removal never quoted');
SELECT is((SELECT hublink.outbox_document(o.id) #>> '{body,queue}' FROM hublink.outbox o WHERE o.message_type = 'Error'),
          'escort-booking-request', 'is rejected to escort-booking-request-error');
SELECT is((SELECT count(*)::int FROM hublink.removal), 0, 'and leaves nothing behind');
-- a cancellation that arrives before its quote request
SELECT throws_ok($$SELECT hublink.handle_message(hublink_test.pex('escort-cancellation'))$$, 'HL002', NULL,
                 'a cancellation ahead of its quote request is premature: retried');

SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.pex('escort-quote-request'))$$,
                'the escort quote request arrives');
SELECT is(hublink_test.escort_state(), 'quote_requested/-/none', 'the ESP tracks the escort booking only');
SELECT is((SELECT count(*)::int FROM hublink.returnee_personal), 2, 'two returnees with their personal details');
SELECT is((SELECT string_agg(array_to_string((hublink.unsealed(a)).flags, '+'), ',' ORDER BY a.risk_assessment_id)
             FROM hublink.risk_assessment a WHERE a.audience = 'esp' AND a.current),
          ',DISRUPTIVE+SELF_HARM', 'and the escort risk assessments it was given');

SELECT throws_ok($$SELECT hublink.send_message(hublink_test.pex('escort-booking-response'))$$, 'HL001', NULL,
                 'the ESP cannot confirm a booking it was not asked for');
SELECT lives_ok($$SELECT hublink.send_message(hublink_test.pex('escort-quote-response'))$$,
                'the ESP answers with its quotes by hand');
SELECT is(hublink_test.escort_state(), 'quoted/-/none', 'quoted');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE message_type = 'EscortQuoteResponse'), 1,
          'the response is in the outbox');
SELECT throws_ok($$SELECT hublink.send_message(hublink_test.pex('escort-quote-response'))$$, 'HL001',
                 'escort quote "ESP-EQ-000123-A" was already issued', 'a quote reference is issued once');

-- the booking logic's seam: a responder answers the booking request in the same transaction
CREATE FUNCTION hublink_test.confirm(m jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT escort_state FROM hublink.removal WHERE removal_reference = m ->> 'removalId') <> 'booking_requested' THEN
        RAISE EXCEPTION 'the responder runs after the message was applied';
    END IF;
    PERFORM hublink.send_message(hublink_test.pex('escort-booking-response'));
END $$;
UPDATE hublink.message_handler SET responder = 'hublink_test.confirm(jsonb)', responder_description = 'test'
 WHERE message_type = 'EscortBookingRequest';
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.pex('escort-booking-request'))$$,
                'the booking request arrives, and a responder answers it');
SELECT is(hublink_test.escort_state(), 'booked/-/none', 'booked in the same transaction');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE message_type = 'EscortBookingResponse'), 1,
          'the confirmation is in the outbox');
SELECT is((SELECT count(*)::int FROM hublink.state_transition WHERE party = 'esp'), 4,
          'four transitions, all recorded by the esp');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

-- The escort provider answering automatically (hublink.esp_auto_answer): the Hub's escort
-- messages arrive through hublink.handle_message (as the worker would hand them over) and the
-- engine's responders answer them in the same transaction. The roster is 30 days ahead.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'esp';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value esp
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(37);

SELECT is(current_setting('hublink.party'), 'esp', 'this database plays the escort provider');
SELECT is((SELECT count(responder)::int FROM hublink.message_handler), 0, 'a fresh install answers by hand: no responder');

-- Three escorts rostered for four days from 30 days ahead: a male leader, a male and a female officer.
CREATE TEMP TABLE d AS SELECT (now() AT TIME ZONE 'Europe/London')::date + 30 AS day;
INSERT INTO hublink.esp_escort (escort_id, team_leader, gender, physique) VALUES
    ('R-LEAD', true, 'M', 'STANDARD'), ('R-ESC-M', false, 'M', 'STANDARD'), ('R-ESC-F', false, 'F', 'STANDARD');
INSERT INTO hublink.esp_escort_personal (escort_id, given_names, family_name) VALUES
    ('R-LEAD', 'Daniel', 'Hughes'), ('R-ESC-M', 'Samuel', 'Adeyemi'), ('R-ESC-F', 'Grace', 'Thompson');
INSERT INTO hublink.esp_roster SELECT e.escort_id, day + g FROM hublink.esp_escort e, d, generate_series(0, 3) g;

CREATE FUNCTION hublink_test.from_hub(message_type text, removal text, body jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('messageId', gen_random_uuid()::text, 'messageType', message_type, 'schemaVersion', '1.0',
                              'sentAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                              'sender', 'HUB', 'removalId', removal, 'body', body) $$;
CREATE FUNCTION hublink_test.sent(message_type text, n int DEFAULT 1) RETURNS jsonb LANGUAGE sql AS $$
    SELECT hublink.outbox_document(o.id) FROM hublink.outbox o WHERE o.message_type = sent.message_type ORDER BY o.id DESC OFFSET n - 1 LIMIT 1 $$;
CREATE FUNCTION hublink_test.escort_state(removal text) RETURNS text LANGUAGE sql AS $$
    SELECT r.escort_state FROM hublink.removal r WHERE r.removal_reference = removal $$;
CREATE FUNCTION hublink_test.quote_request(removal text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT hublink_test.from_hub('EscortQuoteRequest', removal, jsonb_build_object(
        'returnees', jsonb_build_array(jsonb_build_object(
            'personalDetails', jsonb_build_object('hoReturneeReference', 'HO-9062011',
                'name', jsonb_build_object('givenNames', 'Ade', 'familyName', 'Obi'),
                'dateOfBirth', '1990-04-01', 'nationality', 'NGA', 'gender', 'M'),
            'escortRiskAssessment', jsonb_build_object('flags', '[]'::jsonb),
            'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'))),
        'international', true, 'escortOnTransport', true,
        'dates', jsonb_build_object('earliestLeaveDate', day, 'latestLeaveDate', day + 1),
        'destination', jsonb_build_object('description', 'Lagos, Nigeria', 'country', 'NGA', 'airportCode', 'LOS')))
    FROM d $$;
SELECT is(hublink.validate_message(hublink_test.quote_request('RMV-2026-906201')), '[]', 'the quote request is valid against its schema');

-- Switching on.
SELECT is(hublink.esp_auto_answer(), 4, 'auto-answer on: four responders registered');
SELECT is((SELECT array_agg(message_type || '=' || responder::text ORDER BY message_type) FROM hublink.message_handler WHERE responder IS NOT NULL),
          '{EscortAmendment=hublink.esp_answer_amendment(jsonb),EscortBookingRequest=hublink.esp_answer_booking_request(jsonb),EscortCancellation=hublink.esp_answer_cancellation(jsonb),EscortQuoteRequest=hublink.esp_answer_quote_request(jsonb)}',
          'one per inbound escort message type');
SELECT is(hublink.esp_auto_answer(true), 4, 'switching on twice is harmless');

-- Quote: a leader and one officer; on duty two days; both dates can be staffed.
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.quote_request('RMV-2026-906201'))$$, 'the quote request arrives');
SELECT is(hublink.validate_message(hublink_test.sent('EscortQuoteResponse')), '[]', 'an EscortQuoteResponse, valid against its schema');
SELECT is(hublink_test.sent('EscortQuoteResponse') ->> 'removalId', 'RMV-2026-906201', 'for the removal of the request');
SELECT is(jsonb_path_query_array(hublink_test.sent('EscortQuoteResponse'), '$.body.quotes[*].escortDate'),
          (SELECT jsonb_build_array(day, day + 1) FROM d), 'both dates offered');
-- Defaults (no esp_location, no esp_flight_time rows): 60 + 90 road, 120 + 480 flight,
-- 720 + 480 and 95.00, 60 minutes; the leader at 40.00/h, the officer at 32.00/h.
SELECT is(jsonb_path_query_array(hublink_test.sent('EscortQuoteResponse'), '$.body.quotes[*].totalCost.amount'),
          '["2602.00", "2602.00"]', '1435.00 for the leader and 1167.00 for the officer');
SELECT is(hublink_test.escort_state('RMV-2026-906201'), 'quoted', 'the escort booking is quoted');
SELECT is((SELECT count(*)::int FROM hublink.escort_quote), 2, 'the conversation holds the two quotes');

-- Booking the first date.
CREATE TEMP TABLE q AS SELECT hublink_test.sent('EscortQuoteResponse') #>> '{body,quotes,0,escortQuoteReference}' AS ref;
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.from_hub('EscortBookingRequest', 'RMV-2026-906201',
                      jsonb_build_object('escortQuoteReference', ref, 'command', 'BOOK'))) FROM q$$, 'the booking request arrives');
SELECT is(hublink_test.sent('EscortBookingResponse') #>> '{body,outcome}', 'ACCEPTED', 'an ACCEPTED EscortBookingResponse');
SELECT is(jsonb_path_query_array(hublink_test.sent('EscortBookingResponse'), '$.body.escortDetails.escorts[*].escortId'),
          '["R-LEAD", "R-ESC-F"]', 'with the leader and an officer (either fits: by ID)');
SELECT is(hublink_test.escort_state('RMV-2026-906201'), 'booked', 'booked in the same transaction');
SELECT is((SELECT count(*)::int FROM hublink.escort_person), 2, 'the named escorts are recorded in the conversation');

-- A second removal on the same days: the only leader is on duty, so no date can be staffed and
-- the request is rejected to the error queue (an EscortQuoteResponse cannot say "no quote").
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.quote_request('RMV-2026-906202'))$$, 'a second quote request arrives');
SELECT is(hublink_test.sent('Error') #>> '{body,failedMessageType}', 'EscortQuoteRequest', 'it is answered with an Error');
SELECT ok(hublink_test.sent('Error') #>> '{body,problems,0,error}' LIKE 'no escort team can be rostered on any requested date: %(escorts unavailable)%',
          'naming the dates and why');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE message_type = 'EscortQuoteResponse'), 1, 'and no quote response');

-- An amendment 30 days ahead: the return-to-base segment dropped, free of charge.
CREATE TEMP TABLE am AS SELECT hublink_test.from_hub('EscortAmendment', 'RMV-2026-906201', jsonb_build_object(
    'escortQuoteReference', ref, 'segmentChanges', jsonb_build_array(jsonb_build_object(
        'affectedSegmentIds', jsonb_build_array('S4'), 'cancelled', true)))) AS m FROM q;
SELECT lives_ok($$SELECT hublink.handle_message(m) FROM am$$, 'the amendment arrives');
SELECT is((SELECT hublink_test.sent('EscortUpdate') #>> '{body,amendmentOutcome,amendmentMessageId}' = m ->> 'messageId' FROM am), true,
          'an EscortUpdate with the outcome of that amendment');
SELECT is(hublink_test.sent('EscortUpdate') #> '{body,financial,changeFee}', '{"amount": "0.00", "currency": "GBP"}', 'no fee with 30 days'' notice');
SELECT is(hublink_test.escort_state('RMV-2026-906201'), 'booked', 'booked again once the outcome is sent');

-- A delay entered by esp staff, sent to the Hub.
SELECT lives_ok($$SELECT hublink.esp_send_update(hublink.esp_delayed(ref, 'VEHICLE_BREAKDOWN',
                      jsonb_build_array(jsonb_build_object('segmentId', 'S1', 'newStart', '2026-12-01T06:00:00+00:00',
                                                           'newFinish', '2026-12-01T08:00:00+00:00')))) FROM q$$,
                'staff report a delay');
SELECT is(hublink_test.sent('EscortUpdate') #>> '{body,delayed,reason,code}', 'VEHICLE_BREAKDOWN', 'an EscortUpdate with the delay');

-- Cancellation 30 days ahead: free; the escorts are released.
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.from_hub('EscortCancellation', 'RMV-2026-906201',
                      jsonb_build_object('escortQuoteReference', ref, 'command', 'CANCEL', 'reason', jsonb_build_object('code', 'RETURNEE_ILL')))) FROM q$$,
                'the cancellation arrives');
SELECT is(hublink_test.sent('EscortUpdate') #> '{body,financial,cancellationFee}', '{"amount": "0.00", "currency": "GBP"}',
          'cancellation fee 0.00 with more than 14 days'' notice');
SELECT is(hublink_test.escort_state('RMV-2026-906201') || '/' || (SELECT count(*) FROM hublink.esp_duty), 'cancelled/0',
          'the escort booking is cancelled and the escorts released');

-- Now the second removal can be quoted; cancelled before booking, it is not answered.
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.quote_request('RMV-2026-906203'))$$, 'a third removal is quoted');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.from_hub('EscortCancellation', 'RMV-2026-906203', jsonb_build_object(
                      'escortQuoteReference', hublink_test.sent('EscortQuoteResponse') #>> '{body,quotes,0,escortQuoteReference}',
                      'command', 'CANCEL')))$$, 'then cancelled before booking');
SELECT is(hublink_test.escort_state('RMV-2026-906203') || '/' || (SELECT count(*) FROM hublink.outbox WHERE message_type = 'EscortUpdate'),
          'cancelled/3', 'cancelled, and no EscortUpdate for it');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE hublink.validate_message(hublink.outbox_document(id)) = '[]'),
          (SELECT count(*)::int FROM hublink.outbox), 'every message sent is valid');

-- Switching off removes only the engine's rows.
SELECT is(hublink.esp_auto_answer(false), 0, 'auto-answer off');
SELECT is((SELECT count(responder)::int FROM hublink.message_handler), 0, 'removes the rows');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

-- The travel provider answering automatically (hublink.tsp_auto_answer): the Hub's travel
-- messages arrive through hublink.handle_message (as the worker would) and the engine's
-- responders answer them in the same transaction. A small inventory 30 days ahead is embedded.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'tsp';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value tsp
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(47);

SELECT is(current_setting('hublink.party'), 'tsp', 'this database plays the travel provider');
SELECT is((SELECT count(responder)::int FROM hublink.message_handler), 0, 'a fresh install answers by hand: no responder');

-- A small world: London to Lagos, one BA departure 30 days from now, a flexible and a
-- non-refundable fare.
CREATE TEMP TABLE d AS SELECT (now() AT TIME ZONE 'Europe/London')::date + 30 AS day;
INSERT INTO hublink.tsp_country (iso2, iso3, name) VALUES ('GB', 'GBR', 'United Kingdom'), ('NG', 'NGA', 'Nigeria')
ON CONFLICT (iso2) DO UPDATE SET iso3 = excluded.iso3;
INSERT INTO hublink.tsp_airport VALUES
    ('LHR', 'London Heathrow', 'London', 'GB', 'Europe/London', 51.47, -0.46),
    ('LOS', 'Lagos Murtala Muhammed', 'Lagos', 'NG', 'Africa/Lagos', 6.58, 3.32)
ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_airline VALUES ('BA', 'BAW', 'British Airways', '125')
ON CONFLICT (iata) DO UPDATE SET ticket_prefix = excluded.ticket_prefix;
INSERT INTO hublink.tsp_location_airport VALUES ('DETENTION_CENTRE', 'HARMONDSWORTH_IRC', 'LHR') ON CONFLICT DO NOTHING;
SELECT hublink.tsp_stage_begin();
INSERT INTO pg_temp.tsp_stage_refund_rule (rule_set, description, from_hours_before, refund_percent, refund_amount) VALUES
    ('R_FLEX', 'Full until 24 h, then half', '24', '100', NULL),
    ('R_FLEX', 'Full until 24 h, then half', '0', '50', NULL),
    ('R_NONREF', 'Nothing', '0', '0', NULL);
INSERT INTO pg_temp.tsp_stage_flight (flight_ref, carrier, flight_number, origin, destination, departure_local,
    arrival_local, origin_terminal, destination_terminal, seats_total, seats_sold)
SELECT 'A', 'BA', '75', 'LHR', 'LOS', day || ' 11:10', day || ' 18:25', '5', NULL, '10', '0' FROM d;
INSERT INTO pg_temp.tsp_stage_fare (flight_ref, fare_class, currency, refundable, refund_rule_set, change_fee,
    cancellation_fee, ticketing_deadline_hours, hand_baggage_only, baggage_kg, prices) VALUES
    ('A', 'GOVFLEX', 'GBP', 'true', 'R_FLEX', '75.00', '150.00', '72', 'false', '23', 'RETURNEE=1150.00;ESCORT=1385.00'),
    ('A', 'K', 'GBP', 'false', 'R_NONREF', '100.00', '0.00', '24', 'false', '23', 'RETURNEE=1000.00;ESCORT=1100.00');
SELECT is((SELECT row(r.*)::text FROM hublink.tsp_load_staged() r), '(3,1,2,4)', 'inventory: 3 refund rules, 1 flight, 2 fares, 4 prices');

-- Messages from the Hub, as the worker hands them to the handler.
CREATE FUNCTION hublink_test.from_hub(message_type text, removal text, body jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('messageId', gen_random_uuid()::text, 'messageType', message_type, 'schemaVersion', '1.0',
                              'sentAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                              'sender', 'HUB', 'removalId', removal, 'body', body) $$;
CREATE FUNCTION hublink_test.sent(message_type text, n int DEFAULT 1) RETURNS jsonb LANGUAGE sql AS $$
    SELECT hublink.outbox_document(o.id) FROM hublink.outbox o WHERE o.message_type = sent.message_type ORDER BY o.id DESC OFFSET n - 1 LIMIT 1 $$;
CREATE FUNCTION hublink_test.travel_state(removal text) RETURNS text LANGUAGE sql AS $$
    SELECT r.travel_state FROM hublink.removal r WHERE r.removal_reference = removal $$;
CREATE TEMP TABLE req AS SELECT hublink_test.from_hub('TravelQuoteRequest', 'RMV-2026-905201', jsonb_build_object(
    'returnees', jsonb_build_array(jsonb_build_object(
        'personalDetails', jsonb_build_object('hoReturneeReference', 'HO-9052011',
            'name', jsonb_build_object('givenNames', 'Ada', 'familyName', 'Obi'),
            'dateOfBirth', '1990-04-01', 'nationality', 'NGA', 'gender', 'F'),
        'travelDocuments', jsonb_build_array(jsonb_build_object('type', 'PASSPORT', 'number', 'A09052011',
            'issuingCountry', 'NGA', 'expiryDate', '2031-01-31')),
        'travelRiskAssessment', jsonb_build_object('flags', '[]'::jsonb, 'escortsRequired', 1),
        'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'))),
    'escortDates', jsonb_build_array(jsonb_build_object('escortQuoteReference', 'ESP-EQ-905201-A',
                                                        'date', (SELECT day FROM d), 'escortCount', 1)),
    'destination', jsonb_build_object('description', 'Lagos, Nigeria', 'country', 'NGA', 'airportCode', 'LOS'),
    'constraints', jsonb_build_object('refundableOnly', false))) AS m;
SELECT is((SELECT hublink.validate_message(m) FROM req), '[]', 'the quote request is valid against its schema');

-- Switching on.
SELECT is(hublink.tsp_auto_answer(), 4, 'auto-answer on: four responders registered');
SELECT is((SELECT array_agg(message_type || '=' || responder::text ORDER BY message_type) FROM hublink.message_handler WHERE responder IS NOT NULL),
          '{TravelAmendment=hublink.tsp_answer_amendment(jsonb),TravelBookingRequest=hublink.tsp_answer_booking_request(jsonb),TravelCancellation=hublink.tsp_answer_cancellation(jsonb),TravelQuoteRequest=hublink.tsp_answer_quote_request(jsonb)}',
          'one per inbound travel message type');
SELECT is(hublink.tsp_auto_answer(true), 4, 'switching on twice is harmless');

-- Quote.
SELECT lives_ok($$SELECT hublink.handle_message(m) FROM req$$, 'the quote request arrives');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE message_type = 'TravelQuoteResponse'), 1, 'a TravelQuoteResponse is in the outbox');
SELECT is(hublink.validate_message(hublink_test.sent('TravelQuoteResponse')), '[]', 'valid against its schema');
SELECT is(hublink_test.sent('TravelQuoteResponse') ->> 'sender', 'TSP', 'sent by the TSP');
SELECT is(hublink_test.sent('TravelQuoteResponse') ->> 'removalId', 'RMV-2026-905201', 'for the removal of the request');
SELECT is(jsonb_path_query_array(hublink_test.sent('TravelQuoteResponse'), '$.body.quotes[*].costs.total.amount'), '["2535.00", "2100.00"]',
          'two quotes: GOVFLEX 1150 + 1385 (expected 2655.00) before K 1000 + 1100 (expected 2940.00)');
SELECT is((SELECT array_agg(expected_cost ORDER BY quote_ref) FROM hublink.tsp_quote), '{2655.00,2940.00}'::numeric[],
          'expected costs: 2535 + 0.4 x 2 x 150 fees; 2100 + 0.4 x 2100');
SELECT is(jsonb_path_query_array(hublink_test.sent('TravelQuoteResponse'), '$.body.quotes[*].escortQuoteReference'),
          '["ESP-EQ-905201-A", "ESP-EQ-905201-A"]', 'each quote names its escort date');
SELECT is((SELECT array_agg(DISTINCT removal_id) FROM hublink.tsp_quote), '{RMV-2026-905201}',
          'the engine keeps the removal reference of the conversation');
SELECT is(hublink_test.travel_state('RMV-2026-905201'), 'quoted', 'the travel booking is quoted');

-- Booking the first quote.
CREATE TEMP TABLE q AS SELECT hublink_test.sent('TravelQuoteResponse') #>> '{body,quotes,0,travelQuoteReference}' AS ref;
CREATE TEMP TABLE bk AS SELECT hublink_test.from_hub('TravelBookingRequest', 'RMV-2026-905201', jsonb_build_object(
    'travelQuoteReference', ref, 'command', 'BOOK',
    'escorts', jsonb_build_array(jsonb_build_object('escortId', 'ESC-90521', 'escortNumber', 1,
                                                    'name', jsonb_build_object('givenNames', 'Daniel', 'familyName', 'Hughes'))))) AS m
  FROM q;
SELECT is((SELECT hublink.validate_message(m) FROM bk), '[]', 'the booking request is valid');
SELECT lives_ok($$SELECT hublink.handle_message(m) FROM bk$$, 'the booking request arrives');
SELECT is(hublink_test.sent('TravelBookingResponse') #>> '{body,outcome}', 'ACCEPTED', 'an ACCEPTED TravelBookingResponse');
SELECT is(hublink.validate_message(hublink_test.sent('TravelBookingResponse')), '[]', 'valid against its schema');
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(hublink_test.sent('TravelBookingResponse') #> '{body,confirmation,tickets}') t
            WHERE t ->> 'ticketNumber' ~ '^125[0-9]{10}$'), 2, 'two BA e-tickets, returnee and escort');
SELECT is(hublink_test.sent('TravelBookingResponse') #>> '{body,confirmation,totalCost,amount}', '2535.00', 'total cost of the quote');
SELECT is((SELECT seats_sold FROM hublink.tsp_flight WHERE carrier = 'BA' AND flight_number = '75'), 2, 'two seats taken');
SELECT is(hublink_test.travel_state('RMV-2026-905201'), 'booked', 'booked in the same transaction');

-- A name change.
CREATE TEMP TABLE am AS SELECT hublink_test.from_hub('TravelAmendment', 'RMV-2026-905201', jsonb_build_object(
    'travelQuoteReference', ref, 'passengerUpdates', jsonb_build_array(jsonb_build_object(
        'traveller', jsonb_build_object('escortNumber', 1), 'escortId', 'ESC-90522',
        'name', jsonb_build_object('givenNames', 'Kwame', 'familyName', 'Mensah'))))) AS m
  FROM q;
SELECT lives_ok($$SELECT hublink.handle_message(m) FROM am$$, 'the amendment arrives');
SELECT is((SELECT hublink_test.sent('TravelUpdate') #>> '{body,amendmentOutcome,amendmentMessageId}' = m ->> 'messageId' FROM am), true,
          'a TravelUpdate with the outcome of that amendment');
SELECT is(hublink_test.sent('TravelUpdate') #>> '{body,financial,changeFee,amount}', '75.00', 'name change: the GOVFLEX change fee');
SELECT is(hublink_test.travel_state('RMV-2026-905201'), 'booked', 'booked again once the outcome is sent');

-- tsp staff report a delay of the booked flight: one TravelUpdate per booking on it, sent.
CREATE TEMP TABLE dl AS
SELECT * FROM hublink.tsp_report_flight_event(
    (SELECT flight_id FROM hublink.tsp_flight WHERE carrier = 'BA' AND flight_number = '75'), 'DELAY',
    (SELECT departs_at + interval '2 hours' FROM hublink.tsp_flight WHERE carrier = 'BA' AND flight_number = '75'),
    (SELECT arrives_at + interval '2 hours' FROM hublink.tsp_flight WHERE carrier = 'BA' AND flight_number = '75'),
    'Late inbound aircraft');
SELECT is((SELECT count(*)::int || ' ' || min(removal_reference) FROM dl), '1 RMV-2026-905201',
          'a delay sends one TravelUpdate, in the conversation of the booking''s removal');
SELECT is((SELECT hublink_test.sent('TravelUpdate') ->> 'messageId' = message_id FROM dl), true,
          'and it is the latest TravelUpdate in the outbox');
SELECT ok(hublink_test.sent('TravelUpdate') #> '{body,flightChanges}' IS NOT NULL, 'carrying the flight change');
SELECT is(hublink_test.travel_state('RMV-2026-905201'), 'booked', 'the booking stays booked');

-- Cancellation, 30 days ahead: GOVFLEX refunds 100% less 150.00 per ticket.
CREATE TEMP TABLE cx AS SELECT hublink_test.from_hub('TravelCancellation', 'RMV-2026-905201', jsonb_build_object(
    'travelQuoteReference', ref, 'command', 'CANCEL', 'reason', jsonb_build_object('code', 'RETURNEE_ILL'))) AS m
  FROM q;
SELECT lives_ok($$SELECT hublink.handle_message(m) FROM cx$$, 'the cancellation arrives');
SELECT is(hublink_test.sent('TravelUpdate') #>> '{body,financial,refund,amount}', '2235.00', 'refund (1150 - 150) + (1385 - 150)');
SELECT is(hublink_test.sent('TravelUpdate') #>> '{body,financial,cancellationFee,amount}', '300.00', 'cancellation fees 2 x 150.00');
SELECT is((SELECT seats_sold FROM hublink.tsp_flight WHERE carrier = 'BA' AND flight_number = '75'), 0, 'seats released');
SELECT is(hublink_test.travel_state('RMV-2026-905201'), 'cancelled', 'the travel booking is cancelled');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE hublink.validate_message(hublink.outbox_document(id)) = '[]'),
          (SELECT count(*)::int FROM hublink.outbox), 'every message sent is valid');

-- A cancellation before booking has nothing to refund and is not answered.
SELECT lives_ok($$SELECT hublink.handle_message(jsonb_set(m, '{removalId}', '"RMV-2026-905202"')) FROM req$$,
                'a second removal is quoted');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.from_hub('TravelCancellation', 'RMV-2026-905202', jsonb_build_object(
                      'travelQuoteReference', hublink_test.sent('TravelQuoteResponse') #>> '{body,quotes,0,travelQuoteReference}',
                      'command', 'CANCEL', 'reason', jsonb_build_object('code', 'RETURNEE_ILL'))))$$,
                'then cancelled before booking');
SELECT is(hublink_test.travel_state('RMV-2026-905202') || '/' || (SELECT count(*) FROM hublink.outbox WHERE message_type = 'TravelUpdate'),
          'cancelled/3', 'cancelled, and no TravelUpdate for it (the two before: the amendment, the delay)');

-- Another responder is not replaced; switching off removes only the engine's rows.
\o /dev/null
SELECT hublink.tsp_auto_answer(false);
\o
UPDATE hublink.message_handler SET responder = 'hublink.record_message(jsonb)', responder_description = 'someone else' WHERE message_type = 'TravelQuoteRequest';
SELECT throws_ok('SELECT hublink.tsp_auto_answer()', '23505', 'another responder answers some travel requests',
                 'switching on refuses to replace another responder');
SELECT is((SELECT count(responder)::int FROM hublink.message_handler), 1, 'and registers nothing');
SELECT is(hublink.tsp_auto_answer(false) || '/' || (SELECT string_agg(responder::text, ',') FROM hublink.message_handler),
          '0/hublink.record_message(jsonb)', 'switching off leaves another responder in place');
UPDATE hublink.message_handler SET responder = NULL, responder_description = NULL;
\o /dev/null
SELECT hublink.tsp_auto_answer();
\o
SELECT is(hublink.tsp_auto_answer(false), 0, 'auto-answer off');
SELECT is((SELECT count(responder)::int FROM hublink.message_handler), 0, 'removes the rows');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

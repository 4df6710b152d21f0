-- Helpers of the timer tests (test/sql/80_timers.sql includes this file in its transaction;
-- test/e2e/timers/run loads it into the stack's database): a removal at the Hub and the
-- provider messages that move it, built here and applied with hublink.handle_message as the
-- worker applies an inbound message. Everything lives in schema timer_test.
CREATE SCHEMA IF NOT EXISTS timer_test;

-- A removal of one returnee to a country (Lagos, Nigeria unless told); escorted when the
-- returnee is DISRUPTIVE.
CREATE OR REPLACE FUNCTION timer_test.new_removal(ho text, escorted boolean, leave date, country text DEFAULT 'NGA')
    RETURNS text LANGUAGE sql AS $$
    SELECT hublink.create_removal('CASE-' || ho, jsonb_build_array(jsonb_build_object(
        'personalDetails', jsonb_build_object('hoReturneeReference', ho,
            'name', jsonb_build_object('givenNames', 'Test', 'familyName', 'Returnee'),
            'dateOfBirth', '1980-01-01', 'nationality', 'NGA', 'gender', 'M'),
        'travelDocuments', jsonb_build_array(jsonb_build_object('type', 'PASSPORT', 'number', 'A' || right(ho, 7),
                                                                'issuingCountry', 'NGA', 'expiryDate', '2031-01-01')),
        'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'),
        'risk', jsonb_build_object('flags', CASE WHEN escorted THEN '["DISRUPTIVE"]'::jsonb ELSE '[]'::jsonb END))),
        leave, leave + 3, jsonb_build_object('description', 'Destination in ' || country, 'country', country)) $$;

CREATE OR REPLACE FUNCTION timer_test.ho(ref text) RETURNS text LANGUAGE sql AS $$
    SELECT t.ho_returnee_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
     WHERE r.removal_reference = ref ORDER BY t.returnee_id LIMIT 1 $$;

CREATE OR REPLACE FUNCTION timer_test.msg(type text, ref text, sender text, body jsonb)
    RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('messageId', gen_random_uuid()::text, 'messageType', type,
                              'schemaVersion', '1.0',
                              'sentAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
                              'sender', sender, 'removalId', ref, 'body', body) $$;

CREATE OR REPLACE FUNCTION timer_test.money(amount numeric) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('amount', to_char(amount, 'FM999999990.00'), 'currency', 'GBP') $$;

-- One travel quote for the removal's returnee: one flight departing at departs.
CREATE OR REPLACE FUNCTION timer_test.quote(removal text, quote_ref text, total numeric, expires timestamptz,
                                            departs timestamptz, refundable boolean, escort_quote text DEFAULT NULL)
    RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'travelQuoteReference', quote_ref, 'escortQuoteReference', escort_quote,
        'costs', jsonb_build_object('perTraveller', jsonb_build_array(jsonb_build_object(
                     'traveller', jsonb_build_object('hoReturneeReference', timer_test.ho(removal)),
                     'cost', timer_test.money(total))), 'total', timer_test.money(total)),
        'itinerary', jsonb_build_array(jsonb_build_object(
            'segmentId', 'T1', 'segmentType', 'PLANE', 'providerName', 'British Airways',
            'carrierCode', 'BA', 'flightNumber', '75',
            'startPoint', jsonb_build_object('airportCode', 'LHR'), 'endPoint', jsonb_build_object('airportCode', 'LOS'),
            'startTime', departs, 'endTime', departs + interval '7 hours',
            'travellers', jsonb_build_array(jsonb_build_object('hoReturneeReference', timer_test.ho(removal))))),
        'conditions', jsonb_build_object('refundable', refundable, 'handBaggageOnly', false, 'expiresAt', expires))) $$;

CREATE OR REPLACE FUNCTION timer_test.travel_quotes_arrive(removal text, quotes jsonb) RETURNS void
    LANGUAGE sql AS $$
    SELECT hublink.handle_message(timer_test.msg('TravelQuoteResponse', removal, 'TSP',
                                                 jsonb_build_object('quotes', quotes))) $$;

CREATE OR REPLACE FUNCTION timer_test.travel_booking_answered(removal text, quote_ref text, accepted boolean,
                                                              with_tickets boolean DEFAULT true)
    RETURNS void LANGUAGE sql AS $$
    SELECT hublink.handle_message(timer_test.msg('TravelBookingResponse', removal, 'TSP',
        CASE WHEN accepted THEN jsonb_build_object('travelQuoteReference', quote_ref, 'outcome', 'ACCEPTED',
            'confirmation', jsonb_build_object(
                'bookingReferences', jsonb_build_array(jsonb_build_object('reference', 'X7K2PQ', 'carrierCode', 'BA',
                                                                          'segmentIds', jsonb_build_array('T1'))),
                'tickets', CASE WHEN with_tickets THEN jsonb_build_array(jsonb_build_object(
                    'ticketNumber', '125' || lpad((random() * 1e9)::bigint::text, 10, '0'),
                    'traveller', jsonb_build_object('hoReturneeReference', timer_test.ho(removal)),
                    'segmentIds', jsonb_build_array('T1'))) ELSE '[]'::jsonb END,
                'totalCost', timer_test.money(900)))
             ELSE jsonb_build_object('travelQuoteReference', quote_ref, 'outcome', 'DECLINED',
                                     'declineReason', jsonb_build_object('code', 'NO_FLIGHTS')) END)) $$;

CREATE OR REPLACE FUNCTION timer_test.escort_quotes_arrive(removal text, escort_quote text, escort_date date)
    RETURNS void LANGUAGE sql AS $$
    SELECT hublink.handle_message(timer_test.msg('EscortQuoteResponse', removal, 'ESP', jsonb_build_object(
        'escortPositions', jsonb_build_array(jsonb_build_object('escortNumber', 1, 'role', 'ESCORT', 'languages', jsonb_build_array('en'), 'medic', false)),
        'segments', jsonb_build_array(jsonb_build_object('segmentId', 'S1',
            'startPoint', jsonb_build_object('airportCode', 'LHR'), 'finishPoint', jsonb_build_object('airportCode', 'LOS'),
            'transportType', 'SCHEDULED_FLIGHT', 'returneePresent', true)),
        'effort', jsonb_build_array(jsonb_build_object('segmentId', 'S1', 'escortNumber', 1, 'cost', timer_test.money(500))),
        'quotes', jsonb_build_array(jsonb_build_object('escortQuoteReference', escort_quote, 'escortDate', escort_date,
                                                       'totalCost', timer_test.money(500)))))) $$;

CREATE OR REPLACE FUNCTION timer_test.escort_booking_answered(removal text, escort_quote text) RETURNS void
    LANGUAGE sql AS $$
    SELECT hublink.handle_message(timer_test.msg('EscortBookingResponse', removal, 'ESP',
        jsonb_build_object('escortQuoteReference', escort_quote, 'outcome', 'ACCEPTED'))) $$;

-- The timers of a removal, as kind:status, in timer_id order.
CREATE OR REPLACE FUNCTION timer_test.timers(removal text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(t.kind || ':' || t.status, ' ' ORDER BY t.timer_id)
      FROM hublink.timer t JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = removal $$;

CREATE OR REPLACE FUNCTION timer_test.pending(removal text, k text) RETURNS hublink.timer LANGUAGE sql AS $$
    SELECT t.* FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
     WHERE r.removal_reference = removal AND t.kind = k AND t.status = 'pending' $$;

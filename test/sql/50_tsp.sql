-- Travel provider engine (issue 5 sections 1-3): exact quotes, bookings, refunds and fees on
-- a small fixed inventory embedded here, every decline reason, TIG rules and the loader.
BEGIN;
SELECT plan(80);

-- A small world: London, Manchester, Amsterdam, Lagos; BA direct, KL via Amsterdam.
INSERT INTO hublink.tsp_country (iso2, iso3, name) VALUES
    ('GB', 'GBR', 'United Kingdom'), ('NL', 'NLD', 'Netherlands'), ('NG', 'NGA', 'Nigeria')
ON CONFLICT (iso2) DO UPDATE SET iso3 = excluded.iso3;
INSERT INTO hublink.tsp_airport VALUES
    ('LHR', 'London Heathrow', 'London', 'GB', 'Europe/London', 51.47, -0.46),
    ('MAN', 'Manchester', 'Manchester', 'GB', 'Europe/London', 53.35, -2.27),
    ('AMS', 'Amsterdam Schiphol', 'Amsterdam', 'NL', 'Europe/Amsterdam', 52.31, 4.76),
    ('LOS', 'Lagos Murtala Muhammed', 'Lagos', 'NG', 'Africa/Lagos', 6.58, 3.32)
ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_airline VALUES ('BA', 'BAW', 'British Airways', '125'), ('KL', 'KLM', 'KLM', '074')
ON CONFLICT (iata) DO UPDATE SET ticket_prefix = excluded.ticket_prefix;
INSERT INTO hublink.tsp_location_airport VALUES ('DETENTION_CENTRE', 'HARMONDSWORTH_IRC', 'LHR'),
    ('POSTCODE_AREA', 'M', 'MAN') ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_min_connection VALUES ('AMS', 50) ON CONFLICT DO NOTHING;

SELECT hublink.tsp_stage_begin();
INSERT INTO pg_temp.tsp_stage_refund_rule (rule_set, description, from_hours_before, refund_percent, refund_amount) VALUES
    ('T_FLEX', 'Full until 24 h, then half', '24', '100', NULL),
    ('T_FLEX', 'Full until 24 h, then half', '0', '50', NULL),
    ('T_FIXED', 'Fixed 200.00 until 48 h', '48', NULL, '200.00'),
    ('T_NONREF', 'Nothing', '0', '0', NULL);
INSERT INTO pg_temp.tsp_stage_flight (flight_ref, carrier, flight_number, origin, destination, departure_local,
    arrival_local, origin_terminal, destination_terminal, seats_total, seats_sold) VALUES
    ('A', 'BA', '75', 'LHR', 'LOS', '2026-03-17 11:10', '2026-03-17 18:25', '5', NULL, '10', '0'),
    ('B', 'BA', '75', 'LHR', 'LOS', '2026-03-16 11:10', '2026-03-16 18:25', '5', NULL, '200', '198'),
    ('C', 'KL', '1008', 'LHR', 'AMS', '2026-03-17 07:00', '2026-03-17 09:15', '4', NULL, '100', '0'),
    ('D', 'KL', '587', 'AMS', 'LOS', '2026-03-17 10:05', '2026-03-17 16:50', NULL, NULL, '100', '0'),
    ('E', 'KL', '589', 'AMS', 'LOS', '2026-03-17 09:40', '2026-03-17 16:20', NULL, NULL, '100', '0'),
    ('F', 'BA', '75', 'LHR', 'LOS', '2026-03-19 11:10', '2026-03-19 18:25', '5', NULL, '100', '0');
INSERT INTO pg_temp.tsp_stage_fare (flight_ref, fare_class, currency, refundable, refund_rule_set, change_fee,
    cancellation_fee, ticketing_deadline_hours, hand_baggage_only, baggage_kg, prices) VALUES
    ('A', 'GOVFLEX', 'GBP', 'true', 'T_FLEX', '75.00', '150.00', '72', 'false', '23', 'RETURNEE=1150.00;ESCORT=1385.00'),
    ('A', 'K', 'GBP', 'false', 'T_NONREF', '100.00', '0.00', '24', 'false', '23', 'RETURNEE=1000.00;ESCORT=1100.00'),
    ('B', 'GOVFLEX', 'GBP', 'true', 'T_FLEX', '75.00', '150.00', '72', 'false', '23', 'ADULT=1200.00'),
    ('C', 'GOVB', 'GBP', 'true', 'T_FIXED', '50.00', '0.00', '48', 'false', '23', 'ADULT=180.00'),
    ('D', 'GOVB', 'GBP', 'true', 'T_FIXED', '50.00', '0.00', '48', 'false', '23', 'ADULT=820.00'),
    ('E', 'GOVB', 'GBP', 'true', 'T_FIXED', '50.00', '0.00', '48', 'false', '23', 'ADULT=700.00'),
    ('F', 'GOVFLEX', 'GBP', 'true', 'T_FLEX', '75.00', '150.00', '72', 'false', '23', 'RETURNEE=1200.00;ESCORT=1400.00');
SELECT is((SELECT row(r.*)::text FROM hublink.tsp_load_staged(2) r), '(4,6,7,10)', 'loader: 4 refund rules, 6 flights, 7 fares, 10 prices');
SELECT is((SELECT hublink.tsp_local_time(departs_at, 'Africa/Lagos') FROM hublink.tsp_flight WHERE carrier = 'BA' AND departs_at::date = '2026-03-17'),
          '2026-03-17T12:10:00+01:00', 'local departure converted with the airport time zone, offset shown');

-- Loader: all or nothing, every bad line listed.
DELETE FROM hublink.tsp_airline WHERE iata = 'ZZ';  -- when the full OpenFlights data is loaded
SELECT hublink.tsp_stage_begin();
INSERT INTO pg_temp.tsp_stage_flight (flight_ref, carrier, flight_number, origin, destination, departure_local,
    arrival_local, seats_total) VALUES
    ('X1', 'BA', '99', 'LHR', 'AMS', '2026-03-20 09:00', '2026-03-20 11:00', '100'),
    ('X2', 'ZZ', '99', 'LHR', 'XXX', '2026-02-30 09:00', '2026-03-20 11:00', '100'),
    ('X3', 'BA', '9999X', 'LHR', 'AMS', '2026-03-20 09:00', '2026-03-20 08:00', '2000');
SELECT throws_like('SELECT * FROM hublink.tsp_load_staged()', 'inventory load rejected: 6 problems%', 'a bad file is rejected as a whole');
CREATE TEMP TABLE load_detail (detail text);
DO $$
DECLARE d text;
BEGIN
    PERFORM hublink.tsp_load_staged();
EXCEPTION WHEN bad_copy_file_format THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    INSERT INTO load_detail VALUES (d);
END;
$$;
SELECT is((SELECT detail FROM load_detail), E'flights line 3: arrival_local is not a valid local date-time (YYYY-MM-DD HH:MI)\nflights line 3: departure_local is not a valid local date-time (YYYY-MM-DD HH:MI)\nflights line 3: unknown carrier ZZ\nflights line 3: unknown destination airport XXX\nflights line 4: arrival is not after departure\nflights line 4: seats_total must be 0 to 1000',
          'every bad line is listed with its problems');
SELECT is((SELECT count(*)::int FROM hublink.tsp_flight WHERE flight_number = '99'), 0, 'nothing of the bad file was loaded');

-- Refund rules and ticket numbers.
SELECT is(hublink.tsp_refund_amount((SELECT fare_id FROM hublink.tsp_fare WHERE fare_class = 'GOVFLEX' AND refund_rule_set = 'T_FLEX' LIMIT 1), 1385.00, 72),
          1235.00, 'FLEX 72 h before: 100% less the 150.00 fee');
SELECT is(hublink.tsp_refund_amount((SELECT fare_id FROM hublink.tsp_fare WHERE fare_class = 'GOVFLEX' LIMIT 1), 1385.00, 10),
          542.50, 'FLEX 10 h before: 50% (692.50) less the 150.00 fee');
SELECT is(hublink.tsp_refund_amount((SELECT fare_id FROM hublink.tsp_fare WHERE fare_class = 'GOVB' LIMIT 1), 180.00, 72),
          180.00, 'fixed refund capped at the price');
SELECT is(hublink.tsp_refund_amount((SELECT fare_id FROM hublink.tsp_fare WHERE fare_class = 'GOVB' LIMIT 1), 820.00, 12),
          0.00, 'no rule in force: no refund');
SELECT is(hublink.tsp_ticket_number('125', 240012345)::text, '1252400123456', 'ticket number: prefix, 9-digit serial, serial mod 7 (240012345 mod 7 = 6)');

-- Quote: the example's story, 2 returnees and 3 escorts from Harmondsworth to Lagos.
CREATE TEMP TABLE req AS SELECT jsonb_build_object(
    'returnees', jsonb_build_array(
        jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-7731904'), 'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC')),
        jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-7731905'), 'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'))),
    'escortDates', jsonb_build_array(
        jsonb_build_object('escortQuoteReference', 'ESP-EQ-000123-A', 'date', '2026-03-16', 'escortCount', 3),
        jsonb_build_object('escortQuoteReference', 'ESP-EQ-000123-B', 'date', '2026-03-17', 'escortCount', 3)),
    'destination', jsonb_build_object('description', 'Lagos, Nigeria', 'country', 'NGA', 'airportCode', 'LOS'),
    'constraints', jsonb_build_object('refundableOnly', false)) AS body;
CREATE TEMP TABLE resp AS SELECT hublink.tsp_quote(body, 'RMV-2026-000123', '2026-02-18 14:20+00') AS body FROM req;
SELECT is((SELECT jsonb_array_length(body -> 'quotes') FROM resp), 3, 'three quotes for 17 March (quotes_per_date)');
SELECT is((SELECT jsonb_path_query_array(body, '$.quotes[*].costs.total.amount') FROM resp),
          '["5000.00", "6455.00", "5300.00"]', 'totals: KL via AMS 5 x 1000, BA GOVFLEX 2 x 1150 + 3 x 1385, BA K 2 x 1000 + 3 x 1100');
SELECT is((SELECT array_agg(expected_cost ORDER BY quote_ref) FROM hublink.tsp_quote), '{6240.00,6755.00,7420.00}'::numeric[],
          'expected costs: KL 5000 + 0.4 x 5 x 620 (AMS-LOS 820 less the fixed 200 refund); BA flex 6455 + 0.4 x 750; BA K 5300 + 0.4 x 5300');
SELECT is((SELECT jsonb_path_query_array(body, '$.quotes[*].costs.expectedCost.amount') FROM resp),
          '["6240.00", "6755.00", "7420.00"]', 'each quote states its expected cost, the ranking key, to the Hub');
SELECT is((SELECT body #>> '{quotes,1,conditions,refundable}' FROM resp), 'true', 'the refundable BA fare ranks above the cheaper non-refundable one');
SELECT is((SELECT jsonb_path_query_array(body, '$.quotes[0].itinerary[*].flightNumber') FROM resp), '["1008", "587"]',
          'connection at AMS respects its 50-minute minimum (KL589 after 25 minutes is not offered)');
SELECT is((SELECT body #>> '{quotes,1,costs,perTraveller,2,cost,amount}' FROM resp), '1385.00', 'per-traveller cost of escort 1');
SELECT is((SELECT body #>> '{noQuoteReason,code}' FROM resp), 'NO_SEATS', '16 March: two seats left, five needed: NO_SEATS');
SELECT is((SELECT body #>> '{quotes,1,conditions,expiresAt}' FROM resp), '2026-02-20T14:20:00+00:00', 'expiry: 48 hours after quoting');
SELECT is(hublink.validate_message(jsonb_build_object('messageId', gen_random_uuid(), 'messageType', 'TravelQuoteResponse',
          'schemaVersion', '1.0', 'sentAt', '2026-02-18T14:20:03+00:00', 'sender', 'TSP', 'removalId', 'RMV-2026-000123',
          'body', (SELECT body FROM resp))), '[]', 'the response is valid against travel-quote-response');
SELECT is((SELECT jsonb_path_query_array(hublink.tsp_quote(body - 'escortDates' || '{"travelDates": {"earliestLeaveDate": "2026-03-16", "latestLeaveDate": "2026-03-18", "exclusionDates": ["2026-03-16"]}}',
                                                            NULL, '2026-02-18 14:20+00'), '$.quotes[*].costs.total.amount') FROM req),
          '["2300.00", "2000.00", "2000.00"]', 'unescorted travelDates: 16 March excluded; 17 March: BA flex (expected 2420.00), KL (2496.00), BA K (2800.00)');
-- offer_choice: the cheapest and the best refundable itinerary of a date are offered even when
-- the expected-cost ranking (at the TSP's constant P) leaves them out (docs/tsp.md). Unescorted,
-- 17 March: BA flex 2300.00 refundable, KL via AMS 2000.00 refundable, BA K 2000.00 not.
CREATE TEMP TABLE req1 AS SELECT body - 'escortDates' || '{"travelDates": {"earliestLeaveDate": "2026-03-17", "latestLeaveDate": "2026-03-17"}}' AS body FROM req;
UPDATE hublink.tsp_config SET value = '1' WHERE key = 'quotes_per_date';
SELECT is((SELECT jsonb_path_query_array(hublink.tsp_quote(body, NULL, '2026-02-18 14:20+00'), '$.quotes[*].costs.total.amount') FROM req1),
          '["2300.00", "2000.00"]', 'quotes_per_date 1: BA flex (best expected cost, 2420.00), and KL added as the cheapest (2000.00; BA K ties on price, expected 2800.00)');
SELECT ok((SELECT hublink.tsp_quote(body, NULL, '2026-02-18 14:20+00') #>> '{quotes,1,conditions,notes}' FROM req1) LIKE 'Rank 2 %',
          'the added quote keeps its place in the expected-cost order (rank 2)');
-- At P = 0 without KL the non-refundable BA K ranks first: the refundable BA flex is added.
UPDATE hublink.tsp_config SET value = '0' WHERE key = 'cancel_probability';
SELECT is((SELECT jsonb_path_query_array(hublink.tsp_quote(body || '{"constraints": {"excludedCarriers": ["KL"]}}', NULL, '2026-02-18 14:20+00'),
                                         '$.quotes[*].conditions.refundable') FROM req1),
          '[false, true]', 'P 0, KL excluded: BA K (2000.00) ranks first, and the best refundable, BA flex, is added');
UPDATE hublink.tsp_config SET value = 'false' WHERE key = 'offer_choice';
SELECT is((SELECT jsonb_path_query_array(hublink.tsp_quote(body || '{"constraints": {"excludedCarriers": ["KL"]}}', NULL, '2026-02-18 14:20+00'),
                                         '$.quotes[*].conditions.refundable') FROM req1),
          '[false]', 'offer_choice false: the one best quote only');
UPDATE hublink.tsp_config SET value = 'true' WHERE key = 'offer_choice';
UPDATE hublink.tsp_config SET value = '0.4' WHERE key = 'cancel_probability';
UPDATE hublink.tsp_config SET value = '3' WHERE key = 'quotes_per_date';

-- TIG rules, as rows.
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, carrier) VALUES ('CARRIER_EXCLUSION', 'NGA', 'KL');
SELECT is((SELECT jsonb_path_query_array(hublink.tsp_quote(body, NULL, '2026-02-18 14:20+00'), '$.quotes[*].itinerary[*].carrierCode') FROM req),
          '["BA", "BA"]', 'carrier exclusion removes KL');
INSERT INTO hublink.tsp_tig_rule (kind, destination_country) VALUES ('REFUNDABLE_REQUIRED', 'NGA');
SELECT is((SELECT jsonb_path_query_array(hublink.tsp_quote(body, NULL, '2026-02-18 14:20+00'), '$.quotes[*].conditions.refundable') FROM req),
          '[true]', 'refundable required removes the K fare');
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, amount, currency) VALUES ('COST_LIMIT', 'NGA', 4000.00, 'GBP');
SELECT is((SELECT hublink.tsp_quote(body, NULL, '2026-02-18 14:20+00') #>> '{noQuoteReason,code}' FROM req), 'OTHER',
          'cost limit: no quote, dates failing for different reasons give OTHER');
SELECT ok((SELECT hublink.tsp_quote(body, NULL, '2026-02-18 14:20+00') #>> '{noQuoteReason,text}' FROM req) LIKE '%2026-03-17: no itinerary within the cost limit%',
          'a TIG cost limit leaves nothing on 17 March');
DELETE FROM hublink.tsp_tig_rule;
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, date_from, date_to) VALUES ('BLOCKED_DATES', 'NGA', '2026-03-17', '2026-03-17');
SELECT ok((SELECT hublink.tsp_quote(body, NULL, '2026-02-18 14:20+00') #>> '{noQuoteReason,text}' FROM req) LIKE '%2026-03-17: travel to NGA cannot be booked%',
          'blocked date');
DELETE FROM hublink.tsp_tig_rule;
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, airport) VALUES ('NO_TRANSIT', 'NGA', 'AMS');
SELECT is((SELECT jsonb_path_query_array(hublink.tsp_quote(body, NULL, '2026-02-18 14:20+00'), '$.quotes[*].itinerary[*].startPoint.airportCode') FROM req),
          '["LHR", "LHR"]', 'no transit via AMS');
DELETE FROM hublink.tsp_tig_rule;
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, hours) VALUES ('NOTIFICATION_PERIOD', 'NGA', 48);
SELECT is((SELECT jsonb_path_query_array(hublink.tsp_quote(body, NULL, '2026-03-15 11:00+00'), '$.quotes[*].itinerary[0].startTime') FROM req),
          '["2026-03-17T11:10:00+00:00", "2026-03-17T11:10:00+00:00"]', 'notification period: 07:00 is less than 48 h after quoting');
DELETE FROM hublink.tsp_tig_rule;
SELECT is((SELECT hublink.tsp_quote(jsonb_set(body, '{escortDates}', '[{"escortQuoteReference": "EQ-X", "date": "2026-03-18", "escortCount": 3}]'),
                                    NULL, '2026-02-18 14:20+00') #>> '{noQuoteReason,code}' FROM req), 'NO_FLIGHTS', 'no flights on 18 March: NO_FLIGHTS');
SELECT is((SELECT hublink.tsp_quote(jsonb_set(body, '{escortDates}', '[{"escortQuoteReference": "EQ-X", "date": "2026-03-17", "escortCount": 3}]')
                                    || '{"constraints": {"refundableOnly": false, "costLimit": {"amount": "4000.00", "currency": "GBP"}}}',
                                    NULL, '2026-02-18 14:20+00') #>> '{noQuoteReason,code}' FROM req), 'COST_LIMIT_EXCEEDED', 'cost limit 4000.00: COST_LIMIT_EXCEEDED');
SELECT is((SELECT jsonb_array_length(hublink.tsp_quote(body || '{"constraints": {"refundableOnly": false, "costLimit": {"amount": "5100.00", "currency": "GBP"}}}', NULL, '2026-02-18 14:20+00') -> 'quotes') FROM req),
          1, 'the request''s cost limit keeps only the 5000.00 quote');

-- Booking the BA flexible quote; seats taken, references well formed.
CREATE TEMP TABLE q AS SELECT (SELECT body #>> '{quotes,1,travelQuoteReference}' FROM resp) AS flex,
                              (SELECT body #>> '{quotes,2,travelQuoteReference}' FROM resp) AS nonref,
                              (SELECT body #>> '{quotes,0,travelQuoteReference}' FROM resp) AS kl;
CREATE TEMP TABLE bk AS SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', flex, 'command', 'BOOK',
    'escorts', jsonb_build_array(jsonb_build_object('escortId', 'ESC-40117', 'escortNumber', 1, 'name', jsonb_build_object('givenNames', 'Daniel', 'familyName', 'Hughes')))),
    '2026-02-19 10:00+00') AS body FROM q;
SELECT is((SELECT body ->> 'outcome' FROM bk), 'ACCEPTED', 'booking accepted');
SELECT ok((SELECT body #>> '{confirmation,bookingReferences,0,reference}' FROM bk) ~ '^[A-Z2-9]{6}$', 'six-character booking reference');
SELECT is((SELECT count(*)::int FROM bk, jsonb_array_elements(body #> '{confirmation,tickets}') t
            WHERE t ->> 'ticketNumber' ~ '^125[0-9]{10}$' AND substr(t ->> 'ticketNumber', 13, 1)::int = substr(t ->> 'ticketNumber', 4, 9)::bigint % 7), 5,
          'five BA e-tickets with a valid check digit');
SELECT is((SELECT seats_sold FROM hublink.tsp_flight WHERE carrier = 'BA' AND departs_at = '2026-03-17 11:10+00'), 5, 'five seats taken');
SELECT is(hublink.validate_message(jsonb_build_object('messageId', gen_random_uuid(), 'messageType', 'TravelBookingResponse',
          'schemaVersion', '1.0', 'sentAt', '2026-02-19T10:00:03+00:00', 'sender', 'TSP', 'removalId', 'RMV-2026-000123',
          'body', (SELECT body FROM bk))), '[]', 'the booking response is valid');

-- TIG quota: 3 returnees to Nigeria in March, 2 already booked, 2 more asked.
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, date_from, date_to, max_returnees) VALUES ('QUOTA', 'NGA', '2026-03-01', '2026-03-31', 3);
SELECT ok((SELECT hublink.tsp_quote(body, NULL, '2026-02-19 11:00+00') #>> '{noQuoteReason,text}' FROM req) LIKE '%2026-03-17: the TIG quota for NGA leaves room for 1 returnee(s)%',
          'a TIG quota counts the returnees already booked');
SELECT is((SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', nonref), '2026-02-19 10:00+00') #>> '{declineReason,code}' FROM q), 'OTHER',
          'and is checked again at booking: OTHER (quota full)');
DELETE FROM hublink.tsp_tig_rule;

-- Every decline reason.
SELECT is((SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', flex), '2026-02-19 10:00+00') #>> '{declineReason,code}' FROM q), 'OTHER', 'already booked: OTHER');
SELECT is(hublink.tsp_book('{"travelQuoteReference": "TSP-TQ-NONE"}', '2026-02-19 10:00+00') #>> '{declineReason,code}', 'OTHER', 'unknown quote: OTHER');
SELECT is((SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', nonref), '2026-02-21 10:00+00') #>> '{declineReason,code}' FROM q), 'QUOTE_EXPIRED', 'QUOTE_EXPIRED');
UPDATE hublink.tsp_flight SET seats_total = 7 WHERE carrier = 'BA' AND departs_at = '2026-03-17 11:10+00';
SELECT is((SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', nonref), '2026-02-19 10:00+00') #>> '{declineReason,code}' FROM q), 'NO_SEATS',
          'NO_SEATS: 2 seats left, 5 needed');
UPDATE hublink.tsp_fare SET available = false WHERE fare_class = 'GOVB' AND flight_id = (SELECT flight_id FROM hublink.tsp_flight WHERE flight_number = '587');
SELECT is((SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', kl), '2026-02-19 10:00+00') #>> '{declineReason,code}' FROM q), 'FARE_UNAVAILABLE', 'FARE_UNAVAILABLE');
UPDATE hublink.tsp_fare SET available = true;
SELECT is((SELECT count(*)::int FROM hublink.tsp_flight_event((SELECT flight_id FROM hublink.tsp_flight WHERE flight_number = '1008'), 'CANCELLED')), 0,
          'a flight event on a flight without bookings produces no update');
SELECT is((SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', kl), '2026-02-19 10:00+00') #>> '{declineReason,code}' FROM q), 'FLIGHT_CANCELLED', 'FLIGHT_CANCELLED');

-- Amendment: a name change costs the fare's change fee and reissues the ticket.
SELECT is((SELECT hublink.tsp_amend(jsonb_build_object('travelQuoteReference', flex, 'passengerUpdates', jsonb_build_array(jsonb_build_object(
              'traveller', jsonb_build_object('escortNumber', 2), 'name', jsonb_build_object('givenNames', 'Kwame', 'familyName', 'Mensah')))),
              gen_random_uuid(), '2026-02-20 10:00+00') #>> '{financial,changeFee,amount}' FROM q), '75.00', 'name change: change fee 75.00');

-- Carrier retimes BA75: one TravelUpdate for the booking.
SELECT is((SELECT count(*)::int FROM hublink.tsp_flight_event((SELECT flight_id FROM hublink.tsp_flight WHERE carrier = 'BA' AND departs_at = '2026-03-17 11:10+00'),
              'DELAY', '2026-03-17 11:40+00', '2026-03-17 17:55+00', 'late inbound aircraft')), 1, 'a delay produces one update per booking');

-- Cancellation 10 hours before departure: FLEX gives 50% less 150.00 per ticket.
CREATE TEMP TABLE cx AS SELECT hublink.tsp_cancel(jsonb_build_object('travelQuoteReference', flex, 'command', 'CANCEL',
    'reason', jsonb_build_object('code', 'RETURNEE_ILL')), '2026-03-17 01:40+00') AS body FROM q;
SELECT is((SELECT body #>> '{financial,refund,amount}' FROM cx), '2477.50', 'refund: (2 x 575.00 + 3 x 692.50) - 5 x 150.00');
SELECT is((SELECT body #>> '{financial,cancellationFee,amount}' FROM cx), '750.00', 'cancellation fees 5 x 150.00');
SELECT is((SELECT seats_sold FROM hublink.tsp_flight WHERE carrier = 'BA' AND flight_number = '75' AND departs_at = '2026-03-17 11:40+00'), 0, 'seats released');
SELECT is((SELECT hublink.tsp_refund_received(booking_ref, '2026-04-01 09:00+00') FROM hublink.tsp_booking), 1, 'refund owed until marked received');
SELECT is((SELECT count(*)::int FROM hublink.tsp_update u
            WHERE hublink.validate_message(jsonb_build_object('messageId', gen_random_uuid(), 'messageType', 'TravelUpdate',
                  'schemaVersion', '1.0', 'sentAt', '2026-02-19T10:00:03+00:00', 'sender', 'TSP', 'removalId', 'RMV-2026-000123',
                  'body', u.body)) = '[]'), 3, 'every TravelUpdate body produced is valid');

-- Date change: a new booking on 17 March moved to BA75 on 19 March.
CREATE TEMP TABLE q2 AS SELECT hublink.tsp_quote(body, 'RMV-2026-000124', '2026-02-18 14:20+00') #>> '{quotes,0,travelQuoteReference}' AS flex FROM req;
SELECT is((SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', flex), '2026-02-19 10:00+00') ->> 'outcome' FROM q2), 'ACCEPTED', 'second booking');
CREATE TEMP TABLE am AS SELECT hublink.tsp_amend(jsonb_build_object('travelQuoteReference', flex, 'itineraryChanges', jsonb_build_array(jsonb_build_object(
    'affectedSegmentIds', jsonb_build_array('S1'),
    'requestedSegments', jsonb_build_array(jsonb_build_object('segmentType', 'PLANE', 'startPoint', jsonb_build_object('airportCode', 'LHR'),
                                                              'endPoint', jsonb_build_object('airportCode', 'LOS'), 'date', '2026-03-19')),
    'reason', jsonb_build_object('code', 'RISK_CHANGED')))), gen_random_uuid(), '2026-02-25 10:00+00') AS body FROM q2;
SELECT is((SELECT body #>> '{financial,changeFee,amount}' FROM am), '520.00',
          'date change: 5 x 75.00 change fee + fare difference (2 x 1200 + 3 x 1400) - 6455 = 145.00');
SELECT is((SELECT jsonb_path_query_array(body, '$.amendmentOutcome.itinerary[*].startTime') FROM am), '["2026-03-19T11:10:00+00:00"]',
          'the itinerary as now booked');
SELECT is((SELECT array_agg(seats_sold ORDER BY departs_at) FROM hublink.tsp_flight WHERE carrier = 'BA' AND departs_at::date >= '2026-03-17'), '{0,5}',
          'seats moved from 17 to 19 March');
SELECT is((SELECT hublink.tsp_amend(jsonb_build_object('travelQuoteReference', flex, 'itineraryChanges', jsonb_build_array(jsonb_build_object(
    'affectedSegmentIds', jsonb_build_array('S2'),
    'requestedSegments', jsonb_build_array(jsonb_build_object('segmentType', 'PLANE', 'startPoint', jsonb_build_object('airportCode', 'LHR'),
                                                              'endPoint', jsonb_build_object('airportCode', 'LOS'), 'date', '2026-03-25'))))),
    gen_random_uuid(), '2026-02-25 10:00+00') #>> '{amendmentOutcome,accepted}' FROM q2) || '/' ||
          (SELECT array_agg(seats_sold ORDER BY departs_at) FROM hublink.tsp_flight WHERE carrier = 'BA' AND departs_at::date >= '2026-03-17')::text,
          'false/{0,5}', 'no flight on 25 March: not accepted, nothing changed');
SELECT is((SELECT count(*)::int FROM hublink.tsp_update u
            WHERE u.cause = 'AMENDMENT' AND hublink.validate_message(jsonb_build_object('messageId', gen_random_uuid(), 'messageType', 'TravelUpdate',
                  'schemaVersion', '1.0', 'sentAt', '2026-02-19T10:00:03+00:00', 'sender', 'TSP', 'removalId', 'RMV-2026-000124',
                  'body', u.body)) = '[]'), 3, 'amendment updates are valid');

-- Retention of the removal class (docs/security-crypto.md; found by the soak, docs/simulation.md):
-- the purge of a removal takes the engine's own rows of it, which are keyed by the removal's
-- reference and cascade from nothing; another removal's rows stay.
CREATE TEMP TABLE gone_ref AS
SELECT b.removal_id AS ref FROM hublink.tsp_booking b
 WHERE EXISTS (SELECT FROM hublink.tsp_ticket t WHERE t.booking_ref = b.booking_ref)
   AND EXISTS (SELECT FROM hublink.tsp_update u WHERE u.quote_ref = b.quote_ref)
 ORDER BY b.booked_at LIMIT 1;
CREATE TEMP VIEW engine_rows AS
SELECT (q.removal_id = (SELECT ref FROM gone_ref)) AS purged, 'quote' AS t, count(*) AS n FROM hublink.tsp_quote q GROUP BY 1
UNION ALL SELECT q.removal_id = (SELECT ref FROM gone_ref), 'quote_segment', count(*) FROM hublink.tsp_quote_segment s JOIN hublink.tsp_quote q USING (quote_ref) GROUP BY 1
UNION ALL SELECT b.removal_id = (SELECT ref FROM gone_ref), 'booking', count(*) FROM hublink.tsp_booking b GROUP BY 1
UNION ALL SELECT b.removal_id = (SELECT ref FROM gone_ref), 'booking_segment', count(*) FROM hublink.tsp_booking_segment s JOIN hublink.tsp_booking b USING (booking_ref) GROUP BY 1
UNION ALL SELECT b.removal_id = (SELECT ref FROM gone_ref), 'ticket', count(*) FROM hublink.tsp_ticket t JOIN hublink.tsp_booking b USING (booking_ref) GROUP BY 1
UNION ALL SELECT b.removal_id = (SELECT ref FROM gone_ref), 'passenger', count(*) FROM hublink.tsp_passenger p JOIN hublink.tsp_booking b USING (booking_ref) GROUP BY 1
UNION ALL SELECT b.removal_id = (SELECT ref FROM gone_ref), 'refund', count(*) FROM hublink.tsp_refund f JOIN hublink.tsp_booking b USING (booking_ref) GROUP BY 1
UNION ALL SELECT q.removal_id = (SELECT ref FROM gone_ref), 'update', count(*) FROM hublink.tsp_update u JOIN hublink.tsp_quote q USING (quote_ref) GROUP BY 1;
CREATE TEMP TABLE before_purge AS SELECT * FROM engine_rows;
SELECT is((SELECT string_agg(t, ',' ORDER BY t) FROM before_purge WHERE purged AND n > 0 AND t <> 'refund'),
          'booking,booking_segment,passenger,quote,quote_segment,ticket,update',
          'a booked, ticketed and updated removal has rows in each of the engine''s tables');
SELECT is((hublink.purge_removal((SELECT ref FROM gone_ref)) ->> 'tsp_rows')::numeric,
          (SELECT sum(n) FROM before_purge WHERE purged AND t <> 'quote_segment'),
          'its purge deletes them and counts them (the quotes'' segments cascade)');
SELECT is((SELECT string_agg(t, ',' ORDER BY t) FROM engine_rows WHERE purged), NULL, 'none of its rows is left');
SELECT is((SELECT string_agg(t || '=' || n, ',' ORDER BY t) FROM engine_rows WHERE NOT purged OR purged IS NULL),
          (SELECT string_agg(t || '=' || n, ',' ORDER BY t) FROM before_purge WHERE NOT purged OR purged IS NULL),
          'the other removals'' rows are all kept');

-- Erasure on direction at the provider (docs/security-crypto.md "Erasure of a removal with live
-- bookings"): a hostile or careless admin erasing a removal whose booking holds seats on a
-- flight not yet flown, or whose refund is still owed, would keep the seats sold for ever and
-- lose the only record of the money. Refused with nothing lost; erased once settled; a booking
-- already flown blocks nothing. RMV-2026-000125 books 17 March; its flights are then delayed
-- a month past today.
CREATE TEMP TABLE live AS SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference',
    hublink.tsp_quote(body, 'RMV-2026-000125', '2026-02-18 14:20+00') #>> '{quotes,0,travelQuoteReference}'), '2026-02-19 10:00+00') AS body
  FROM req;
SELECT is((SELECT body ->> 'outcome' FROM live), 'ACCEPTED', 'a third booking, for RMV-2026-000125');
-- RMV-2026-000126 books the same flights; at the end the carrier cancels them (the review of the
-- fifth pass: a cancelled flight's seats blocked nothing, though no refund was yet recorded).
\o /dev/null
UPDATE hublink.tsp_flight SET seats_total = seats_total + 5 WHERE departs_at::date = '2026-03-17';  -- room for it
\o
CREATE TEMP TABLE live2 AS SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference',
    hublink.tsp_quote(body, 'RMV-2026-000126', '2026-02-18 14:20+00') #>> '{quotes,0,travelQuoteReference}'), '2026-02-19 10:00+00') AS body
  FROM req;
SELECT is((SELECT body ->> 'outcome' FROM live2), 'ACCEPTED', 'a fourth booking, for RMV-2026-000126, on the same flights');
CREATE TEMP TABLE live_ref AS SELECT b.booking_ref, b.quote_ref FROM hublink.tsp_booking b WHERE b.removal_id = 'RMV-2026-000125';
-- Its flights are listed first: a delay called in a join could be run by the plan for rows the
-- join then filters out, delaying another removal's flight too (it did, in one run of three).
CREATE TEMP TABLE live_flights AS
SELECT DISTINCT s.flight_id FROM hublink.tsp_booking_segment s JOIN live_ref USING (booking_ref);
\o /dev/null
SELECT count(*) FROM live_flights l
 CROSS JOIN LATERAL hublink.tsp_flight_event(l.flight_id, 'DELAY',
       (SELECT f.departs_at + (current_date - f.departs_at::date + 30) * interval '1 day' FROM hublink.tsp_flight f WHERE f.flight_id = l.flight_id),
       (SELECT f.arrives_at + (current_date - f.departs_at::date + 30) * interval '1 day' FROM hublink.tsp_flight f WHERE f.flight_id = l.flight_id));
\o
CREATE TEMP VIEW live_seats AS SELECT sum(f.seats_sold) AS sold FROM hublink.tsp_flight f
 WHERE f.flight_id IN (SELECT s.flight_id FROM hublink.tsp_booking_segment s JOIN live_ref USING (booking_ref));
CREATE TEMP TABLE seats_then AS SELECT sold FROM live_seats;
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-000125', 'Direction 90/T1')$$, '55000',
                 'removal RMV-2026-000125 still has live provider bookings or refunds owed: nothing was erased',
                 'erasing a removal booked on flights not yet departed is refused');
SELECT is((SELECT sold FROM live_seats) || ' ' || (SELECT status FROM hublink.tsp_booking JOIN live_ref USING (booking_ref))
          || ' ' || (SELECT count(*) FROM hublink.purge_log WHERE removal_reference = 'RMV-2026-000125'),
          (SELECT sold FROM seats_then) || ' ACTIVE 0', 'nothing lost: seats, booking kept, nothing purged');
SELECT ok((SELECT string_agg(x, ';') FROM hublink.erasure_blockers('RMV-2026-000125') x)
          LIKE (SELECT 'travel booking ' || booking_ref || ' holds 5 seat(s) on flights not yet departed (the first %' FROM live_ref),
          'the refusal names the booking and its seats, no traveller');
CREATE TEMP TABLE live_cx AS SELECT hublink.tsp_cancel(jsonb_build_object('travelQuoteReference', quote_ref, 'command', 'CANCEL')) AS body FROM live_ref;
SELECT is((SELECT sold FROM live_seats), (SELECT sold - 5 * (SELECT count(DISTINCT s.flight_id) FROM hublink.tsp_booking_segment s JOIN live_ref USING (booking_ref)) FROM seats_then),
          'cancelled: the seats are given back');
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-000125', 'Direction 90/T1')$$, '55000',
                 'removal RMV-2026-000125 still has live provider bookings or refunds owed: nothing was erased',
                 'erasing it while its refund is not yet received is refused');
SELECT ok((SELECT string_agg(x, ';') FROM hublink.erasure_blockers('RMV-2026-000125') x)
          LIKE (SELECT 'refund % of travel booking ' || booking_ref || ', % GBP owed since %, is not yet received' FROM live_ref),
          'the refusal names the refund owed');
SELECT is((SELECT hublink.tsp_refund_received(booking_ref) FROM live_ref), 1, 'the refund is received');
SELECT is(hublink.erase_removal('RMV-2026-000125', 'Direction 90/T1') ?& '{messages,personal_data,removal}', true,
          'then the erasure goes through');
SELECT is((SELECT count(*)::int FROM hublink.tsp_booking WHERE removal_id = 'RMV-2026-000125'), 0, 'and its booking is gone');
SELECT is((SELECT (SELECT count(*) FROM hublink.erasure_blockers(x.r)) || ' ' || (hublink.erase_removal(x.r, 'Direction 90/T2') ? 'removal')
             FROM (SELECT min(b.removal_id) AS r FROM hublink.tsp_booking b WHERE b.status = 'ACTIVE') x),
          '0 true', 'an active booking whose flights have departed blocks nothing');
\o /dev/null
SELECT hublink.tsp_flight_event(l.flight_id, 'CANCELLED') FROM live_flights l;
\o
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-000126', 'Direction 90/T3')$$, '55000',
                 'removal RMV-2026-000126 still has live provider bookings or refunds owed: nothing was erased',
                 'erasing a removal whose flights the carrier cancelled, before any refund is recorded, is refused');
SELECT ok((SELECT string_agg(x, ';') FROM hublink.erasure_blockers('RMV-2026-000126') x)
          LIKE 'travel booking % holds 5 seat(s) on flights the carrier cancelled (the first %), no refund recorded yet',
          'the refusal names the cancelled flights'' seats');

SELECT * FROM finish();
ROLLBACK;

-- The booking advice's money data as a hostile or careless admin would try it (the review of
-- 7 December 2026 found each of these; every check failed on 4fe4392): a market without the
-- low bands must not rewrite the cancellation history, an estimate of 1 must not divide by 0,
-- NaN must not pass the checks that bound the admin's numbers.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\o
BEGIN;
SELECT plan(6);
CREATE TABLE hublink_test.v (k text PRIMARY KEY, v text);

CREATE FUNCTION hublink_test.ba_removal(ho text) RETURNS text LANGUAGE sql AS $$
    SELECT hublink.create_removal('CASE-BA', jsonb_build_array(jsonb_build_object(
        'personalDetails', jsonb_build_object('hoReturneeReference', ho,
            'name', jsonb_build_object('givenNames', 'Booking', 'familyName', 'Advice'),
            'dateOfBirth', '1980-01-01', 'nationality', 'NGA', 'gender', 'M'),
        'travelDocuments', jsonb_build_array(jsonb_build_object('type', 'PASSPORT', 'number', 'A' || right(ho, 7), 'issuingCountry', 'NGA')),
        'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'),
        'risk', jsonb_build_object('flags', '[]'::jsonb))),
        current_date + 10, current_date + 13, jsonb_build_object('description', 'Lagos', 'country', 'NGA', 'airportCode', 'LOS')) $$;
-- A removal with quotes whose first flight leaves `hours` from now: A non-refundable, 700.00,
-- expected cost 980.00 at the TSP's 0.4 (loss 700.00, refund 0); with_b: also B refundable,
-- 1000.00, expected 1020.00 (loss the 50.00 fee, refund 950.00).
CREATE FUNCTION hublink_test.ba_quoted(key text, factors text[], hours numeric, with_b boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    ref text := hublink_test.ba_removal('HO-BA' || lpad((SELECT count(*) + 1 FROM hublink_test.v)::text, 5, '0'));
    q jsonb := (SELECT q FROM hublink_test.example e, jsonb_array_elements(e.body::jsonb #> '{body,quotes}') q
                 WHERE e.name = 'travel-quote-response.json' AND q ->> 'travelQuoteReference' = 'TSP-TQ-88412-1') - 'escortQuoteReference';
    m jsonb := (SELECT e.body::jsonb FROM hublink_test.example e WHERE e.name = 'travel-quote-response.json');
    ho text := (SELECT t.ho_returnee_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
                 WHERE r.removal_reference = ref LIMIT 1);
    quotes jsonb;
BEGIN
    INSERT INTO hublink_test.v VALUES (key, ref);
    PERFORM hublink.record_cancel_factors(ref, factors);
    PERFORM hublink.request_travel_quotes(ref);
    quotes := jsonb_build_array(q || jsonb_build_object('travelQuoteReference', key || '-A',
                'costs', jsonb_build_object('perTraveller', jsonb_build_array(jsonb_build_object('traveller', jsonb_build_object('hoReturneeReference', ho),
                                                                              'cost', '{"amount": "700.00", "currency": "GBP"}'::jsonb)),
                                            'total', '{"amount": "700.00", "currency": "GBP"}'::jsonb,
                                            'expectedCost', '{"amount": "980.00", "currency": "GBP"}'::jsonb),
                'conditions', '{"refundable": false, "expiresAt": "2099-01-01T00:00:00+00:00"}'::jsonb));
    IF with_b THEN
        quotes := quotes || jsonb_build_array(q || jsonb_build_object('travelQuoteReference', key || '-B',
                'costs', jsonb_build_object('perTraveller', jsonb_build_array(jsonb_build_object('traveller', jsonb_build_object('hoReturneeReference', ho),
                                                                              'cost', '{"amount": "1000.00", "currency": "GBP"}'::jsonb)),
                                            'total', '{"amount": "1000.00", "currency": "GBP"}'::jsonb,
                                            'expectedCost', '{"amount": "1020.00", "currency": "GBP"}'::jsonb),
                'conditions', '{"refundable": true, "expiresAt": "2099-01-01T00:00:00+00:00"}'::jsonb));
    END IF;
    m := jsonb_set(m, '{messageId}', to_jsonb(gen_random_uuid()::text));
    m := jsonb_set(m, '{removalId}', to_jsonb(ref));
    m := jsonb_set(m, '{body,quotes}', quotes);
    PERFORM hublink.handle_message(m);
    -- The example's flights are in the past: move them so that the first leaves `hours` from now.
    UPDATE hublink.itinerary_segment s
       SET start_time = s.start_time + (now() + make_interval(secs => hours * 3600) - f.first),
           end_time = s.end_time + (now() + make_interval(secs => hours * 3600) - f.first)
      FROM hublink.travel_quote t,
           LATERAL (SELECT min(x.start_time) AS first FROM hublink.itinerary_segment x WHERE x.travel_quote_id = t.travel_quote_id) f
     WHERE s.travel_quote_id = t.travel_quote_id AND t.removal_id = (SELECT removal_id FROM hublink.removal WHERE removal_reference = ref);
    RETURN ref;
END $$;
CREATE FUNCTION hublink_test.ba_advice(key text) RETURNS text LANGUAGE sql AS $$
    SELECT format('P %s now %s early %s | now %s hold %s | %s %s', cancel_probability, cancel_after_now, cancel_before_hold,
                  expected_now, coalesce(expected_hold::text, '-'), CASE WHEN hold THEN 'hold' ELSE 'book' END,
                  replace(travel_quote_reference, key || '-', ''))
      FROM hublink.plan_booking((SELECT v FROM hublink_test.v WHERE k = key)) $$;

CREATE FUNCTION hublink_test.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
DELETE FROM hublink.booking_market;
INSERT INTO hublink.booking_market VALUES (0, 1.50, 0.20), (24, 1.30, 0.10), (72, 1.10, 0.02), (168, 1.00, 0);

-- 1. An admin's edit of the market rewrites the lead history for good. A booked removal
-- cancelled 10 h before its first departure, while the market has no band below 72 h (an admin
-- removed them), is counted as cancelled "at least 72 h before": cancel_history_on_close puts
-- a lead below every band in the lowest band. The admin cannot correct the owner-only history.
SAVEPOINT s1;
SET LOCAL ROLE hublink_admin;
DELETE FROM hublink.booking_market WHERE hours_before < 72;
RESET ROLE;
SELECT hublink_test.ba_quoted('late', '{LEGAL_CHALLENGE_PENDING}', 10, false) AS r \gset
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, outcome)
SELECT removal_id, 'late-A', gen_random_uuid()::text, 'ACCEPTED' FROM hublink.removal WHERE removal_reference = :'r';
UPDATE hublink.removal SET state = 'cancelled' WHERE removal_reference = :'r';
SELECT coalesce(sum(cancelled), 0)::int AS early FROM hublink.cancel_history_lead WHERE hours_before >= 72 \gset
ROLLBACK TO SAVEPOINT s1;  -- (pgTAP's results live in the transaction: asserted after the rollback)
SELECT is(:early, 0,
          'a cancellation 10 h before departure is never counted as one at least 72 h before, whatever bands the admin kept');

-- 2. Division by zero in plan_booking: 1 - P s(L) is 0 when both round to 1 (the comment's
-- "s < 1 whenever P = 1" holds before rounding to 4 places, not after). An estimate bound of 1
-- (as 47_booking_advice.sql sets) and a small prior weight, with three early cancellations.
SAVEPOINT s2;
UPDATE hublink.cancel_estimate_config SET min_probability = 1, max_probability = 1, prior_weight = 0.01;
INSERT INTO hublink.cancel_history_count VALUES ('{LEGAL_CHALLENGE_PENDING}', 3, 3);
INSERT INTO hublink.cancel_history_lead VALUES ('{LEGAL_CHALLENGE_PENDING}', 168, 3);
SELECT hublink_test.ba_quoted('div0', '{LEGAL_CHALLENGE_PENDING}', 100, false) AS r \gset
SELECT hublink_test.try(format('SELECT * FROM hublink.plan_booking(%L)', :'r')) AS outcome \gset
ROLLBACK TO SAVEPOINT s2;
SELECT is(:'outcome'::text, 'ok',
          'plan_booking gives advice when the estimate is 1 and the share of early cancellations rounds to 1');

-- 3. NaN passes the checks that bound the admin's money data (docs/hub.md "an admin's market
-- rows and max_sold_out are bounded by the tables' checks"): NaN >= 0 and NaN > 0 are true.
SET LOCAL ROLE hublink_admin;
SELECT throws_ok($$INSERT INTO hublink.booking_market VALUES (500, 'NaN', 0)$$, '23514', NULL,
                 'a fare factor of NaN is refused');
SELECT throws_ok($$INSERT INTO hublink.booking_market VALUES ('NaN', 1.2, 0)$$, '23514', NULL,
                 'a band of NaN hours is refused');
SELECT throws_ok($$UPDATE hublink.cancel_estimate_config SET hold_hours_before = 'NaN'$$, '23514', NULL,
                 'a hold of NaN hours is refused (plan_booking then fails for every removal: interval out of range)');
SELECT throws_ok($$UPDATE hublink.cancel_estimate_config SET prior_weight = 'NaN'$$, '23514', NULL,
                 'a prior weight of NaN is refused (every estimate becomes max_probability, every lead share 1)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

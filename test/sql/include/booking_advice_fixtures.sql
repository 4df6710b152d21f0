-- The fixtures of the booking advice's tests (47_booking_advice.sql, 47_booking_advice_hostile.sql),
-- included by both with \ir inside their transaction: a removal with quotes whose first flight
-- leaves a given number of hours from now, and its advice as one line of text.
CREATE TABLE hublink_test.v (k text PRIMARY KEY, v text);

\ir lagos_removal.sql
CREATE FUNCTION hublink_test.ba_removal(ho text) RETURNS text LANGUAGE sql
    RETURN hublink_test.lagos_removal('CASE-BA', ho, 'Booking', 'Advice', 'A');
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

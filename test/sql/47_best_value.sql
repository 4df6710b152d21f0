-- Best value with the Hub's own chance of cancellation (issue 17; docs/hub.md "Best value"):
-- hublink.removal_cancel_probability from the Hub's history by recorded factors, with a prior;
-- hublink.removal_quotes re-prices each quote's loss on cancellation with it; hublink.plan_booking
-- holds the booking of a likely cancellation until 72 h before departure. Exact
-- arithmetic, and the hostile cases: a caseworker cannot set the estimate or its
-- configuration, an admin's configuration is bounded and audited, unknown factors are refused.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(28);
CREATE TABLE hublink_test.v (k text PRIMARY KEY, v text);

\ir include/lagos_removal.sql
CREATE FUNCTION hublink_test.bv_removal(ho text) RETURNS text LANGUAGE sql
    RETURN hublink_test.lagos_removal('CASE-BV', ho, 'Best', 'Value', 'B');
-- A closed removal of the history: completed, or cancelled after its travel was booked.
CREATE FUNCTION hublink_test.bv_closed(ho text, factors text[], cancelled boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    ref text := hublink_test.bv_removal(ho);
    id  bigint := (SELECT removal_id FROM hublink.removal WHERE removal_reference = ref);
BEGIN
    PERFORM hublink.record_cancel_factors(ref, factors);
    INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, outcome)
    VALUES (id, 'BV-Q-' || ho, gen_random_uuid()::text, 'ACCEPTED');
    UPDATE hublink.removal SET state = CASE WHEN cancelled THEN 'cancelled' ELSE 'completed' END WHERE removal_id = id;
    IF cancelled THEN
        INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, before_booking)
        VALUES (id, 'travel', 'hub', gen_random_uuid()::text, false);
    END IF;
END $$;
-- Two quotes on one response: A non-refundable, 700.00, expected cost 980.00 at the TSP's 0.4
-- (loss 700.00); B refundable, 1000.00, expected 1020.00 (loss 50.00, the fee).
CREATE FUNCTION hublink_test.bv_quotes(ref text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    q jsonb := (SELECT q FROM hublink_test.example e, jsonb_array_elements(e.body::jsonb #> '{body,quotes}') q
                 WHERE e.name = 'travel-quote-response.json' AND q ->> 'travelQuoteReference' = 'TSP-TQ-88412-1') - 'escortQuoteReference';
    m jsonb := (SELECT e.body::jsonb FROM hublink_test.example e WHERE e.name = 'travel-quote-response.json');
    ho text := (SELECT t.ho_returnee_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
                 WHERE r.removal_reference = ref LIMIT 1);
BEGIN
    PERFORM hublink.request_travel_quotes(ref);
    m := jsonb_set(m, '{messageId}', to_jsonb(gen_random_uuid()::text));
    m := jsonb_set(m, '{removalId}', to_jsonb(ref));
    m := jsonb_set(m, '{body,quotes}', jsonb_build_array(
        q || jsonb_build_object('travelQuoteReference', 'BV-A',
                'costs', jsonb_build_object('perTraveller', jsonb_build_array(jsonb_build_object('traveller', jsonb_build_object('hoReturneeReference', ho),
                                                                              'cost', '{"amount": "700.00", "currency": "GBP"}'::jsonb)),
                                            'total', '{"amount": "700.00", "currency": "GBP"}'::jsonb,
                                            'expectedCost', '{"amount": "980.00", "currency": "GBP"}'::jsonb),
                'conditions', '{"refundable": false, "expiresAt": "2099-01-01T00:00:00+00:00"}'::jsonb),
        q || jsonb_build_object('travelQuoteReference', 'BV-B',
                'costs', jsonb_build_object('perTraveller', jsonb_build_array(jsonb_build_object('traveller', jsonb_build_object('hoReturneeReference', ho),
                                                                              'cost', '{"amount": "1000.00", "currency": "GBP"}'::jsonb)),
                                            'total', '{"amount": "1000.00", "currency": "GBP"}'::jsonb,
                                            'expectedCost', '{"amount": "1020.00", "currency": "GBP"}'::jsonb),
                'conditions', '{"refundable": true, "expiresAt": "2099-01-01T00:00:00+00:00"}'::jsonb)));
    PERFORM hublink.handle_message(m);
END $$;
CREATE FUNCTION hublink_test.bv_rank(ref text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(format('%s:%s:%s', travel_quote_reference, expected_total, cancel_probability), ' ' ORDER BY rank)
      FROM hublink.removal_quotes(ref) $$;

-- --- no history: the prior, the TSP's own ranking --------------------------------------------
INSERT INTO hublink_test.v SELECT 'bv1', hublink_test.bv_removal('HO-BV00001');
SELECT is(hublink.removal_cancel_probability((SELECT removal_id FROM hublink.removal WHERE removal_reference =
            (SELECT v FROM hublink_test.v WHERE k = 'bv1'))), 0.4000, 'no history: the prior, 0.4');
SELECT lives_ok($$SELECT hublink_test.bv_quotes((SELECT v FROM hublink_test.v WHERE k = 'bv1'))$$, 'two quotes arrive');
SELECT is(hublink_test.bv_rank((SELECT v FROM hublink_test.v WHERE k = 'bv1')),
          'BV-A:980.00:0.4000 BV-B:1020.00:0.4000',
          'at the prior the Hub''s expected costs are the TSP''s: the non-refundable fare first');

-- --- history: 10 removals with a pending legal challenge (9 cancelled after booking), 10 without (2)
SELECT hublink_test.bv_closed('HO-BV1' || lpad(i::text, 4, '0'), '{LEGAL_CHALLENGE_PENDING}', i <= 9) FROM generate_series(1, 10) i;
SELECT hublink_test.bv_closed('HO-BV2' || lpad(i::text, 4, '0'), '{}', i <= 2) FROM generate_series(1, 10) i;
-- Not history: cancelled before booking, and still open.
SELECT hublink_test.bv_removal('HO-BV30001') IS NOT NULL AS open_removal \gset
SELECT hublink.record_cancel_factors(hublink_test.bv_removal('HO-BV30002'), '{LEGAL_CHALLENGE_PENDING}') AS recorded \gset
UPDATE hublink.removal SET state = 'cancelled' WHERE removal_id = (SELECT removal_id FROM hublink.returnee
                                                                     WHERE ho_returnee_reference = 'HO-BV30002');
SELECT is((SELECT array_agg(format('%s %s/%s', profile, cancelled, booked) ORDER BY profile) FROM hublink.cancel_history()),
          ARRAY['{} 2/10', '{LEGAL_CHALLENGE_PENDING} 9/10'],
          'the history: closed removals whose travel was booked, per profile; one cancelled before booking and an open one left out');
-- G = (11 + 20 x 0.4) / (20 + 20) = 0.475; legal: (9 + 20 x 0.475) / 30 = 0.61667; none: (2 + 9.5) / 30 = 0.38333
SELECT is(hublink_test.bv_rank((SELECT v FROM hublink_test.v WHERE k = 'bv1')),
          'BV-A:968.31:0.3833 BV-B:1019.17:0.3833',
          'no factor recorded: 0.3833; A 700 + 0.3833 x 700 = 968.31, B 1000 + 0.3833 x 50 = 1019.17: A first');
SELECT is(hublink.record_cancel_factors((SELECT v FROM hublink_test.v WHERE k = 'bv1'), '{LEGAL_CHALLENGE_PENDING,LEGAL_CHALLENGE_PENDING}'), 1,
          'the caseworker records a pending legal challenge (once)');
SELECT is(hublink_test.bv_rank((SELECT v FROM hublink_test.v WHERE k = 'bv1')),
          'BV-B:1030.84:0.6167 BV-A:1131.69:0.6167',
          'legal challenge pending: 0.6167; B 1000 + 0.6167 x 50 = 1030.84 now beats A 700 + 0.6167 x 700 = 1131.69');
SELECT is((SELECT travel_quote_reference FROM hublink.removal_quotes((SELECT v FROM hublink_test.v WHERE k = 'bv1')) WHERE rank = 1),
          'BV-B', 'best value (rank 1) is the refundable fare');
-- The TSP's expected cost is unchanged: what the Hub re-prices is its own ranking.
SELECT is((SELECT expected_amount FROM hublink.travel_quote WHERE travel_quote_reference = 'BV-B'), 1020.00,
          'the quote as sent is kept');

-- --- booking timing: hublink.plan_booking holds a likely cancellation until 72 h before -------
-- No factor recorded (0.3833 < hold_from_probability 0.5): book now.
INSERT INTO hublink_test.v SELECT 'low', hublink_test.bv_removal('HO-BV40001');
SELECT is((SELECT format('%s %s %s', cancel_probability, hold, book_from <= now()) FROM hublink.plan_booking((SELECT v FROM hublink_test.v WHERE k = 'low'))),
          '0.3833 f t', 'no factor: 0.3833, below 0.5: no hold, book from now');
-- A pending challenge (0.6167), leaving in 10 days and not quoted yet: nothing to weigh a hold
-- against (plan_booking compares the quotes' expected costs; test/sql/47_booking_advice.sql), so
-- no hold, and nothing recorded.
INSERT INTO hublink_test.v SELECT 'high', hublink_test.bv_removal('HO-BV40002');
SELECT hublink.record_cancel_factors((SELECT v FROM hublink_test.v WHERE k = 'high'), '{LEGAL_CHALLENGE_PENDING}') AS recorded \gset
SELECT is((SELECT format('%s %s %s', cancel_probability, hold, book_from <= now())
             FROM hublink.plan_booking((SELECT v FROM hublink_test.v WHERE k = 'high'))),
          '0.6167 f t', 'pending challenge, no quote yet: 0.6167, no hold (no quote to weigh), book from now');
SELECT is((SELECT count(*)::int FROM hublink.booking_hold b JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'high')), 0,
          'and no hold is recorded');
-- The same estimate with its first quoted departure less than 72 h away (bv1's quotes leave on
-- 17 March 2026): book now, nothing recorded.
SELECT is((SELECT format('%s %s %s', cancel_probability, hold, book_from <= now()) FROM hublink.plan_booking((SELECT v FROM hublink_test.v WHERE k = 'bv1'))),
          '0.6167 f t', 'a likely cancellation whose quoted departure is within 72 h: no hold (the earliest bookable quote decides)');
SELECT is((SELECT count(*)::int FROM hublink.booking_hold b JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'bv1')), 0, 'and no hold is recorded for it');
-- A removal cancelled with no booking and no hold does not count in the history (a held one
-- does: test/sql/47_booking_advice.sql).
UPDATE hublink.removal SET state = 'cancelled' WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'high');
SELECT is((SELECT array_agg(format('%s %s/%s', profile, cancelled, booked) ORDER BY profile) FROM hublink.cancel_history()),
          ARRAY['{} 2/10', '{LEGAL_CHALLENGE_PENDING} 9/10'],
          'a removal cancelled unbooked and not held does not count: legal challenge still 9 of 10');

-- --- hostile and careless ------------------------------------------------------------------
SELECT throws_ok($$SELECT hublink.record_cancel_factors((SELECT v FROM hublink_test.v WHERE k = 'bv1'), '{MEDICAL_CONCERN,NOT_A_FACTOR}')$$,
                 '22023', 'unknown cancellation factor NOT_A_FACTOR', 'an unknown factor is refused, by name');
SELECT is((SELECT count(*)::int FROM hublink.removal_cancel_factor f JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'bv1')), 1,
          'and nothing of that call is recorded (not even the valid MEDICAL_CONCERN)');
SET LOCAL ROLE hublink_caseworker;
SELECT throws_ok($$UPDATE hublink.cancel_estimate_config SET max_probability = 0.99$$, '42501', NULL,
                 'a caseworker cannot change the estimate''s configuration');
SELECT throws_ok($$INSERT INTO hublink.removal_cancel_factor (removal_id, factor, recorded_by)
                   SELECT removal_id, 'MEDICAL_CONCERN', 'x' FROM hublink.removal LIMIT 1$$, '42501', NULL,
                 'nor write factors but through record_cancel_factors (which checks access and records who)');
SELECT throws_ok($$UPDATE hublink.cancel_history_count SET cancelled = booked$$, '42501', NULL,
                 'nor rewrite the history the estimate is made from');
SELECT throws_ok($$INSERT INTO hublink.booking_hold (removal_id, cancel_probability, book_from, decided_by)
                   SELECT removal_id, 0.99, now(), 'x' FROM hublink.removal LIMIT 1$$, '42501', NULL,
                 'nor record a hold but through plan_booking (a held removal counts in the history)');
SELECT ok(NOT EXISTS (SELECT FROM pg_proc p WHERE p.pronamespace = 'hublink'::regnamespace
                        AND p.proname ~ 'cancel' AND pg_get_function_arguments(p.oid) ~ 'probab'),
          'no function takes a probability to set: the estimate is computed from the history');
RESET ROLE;
SELECT throws_ok($$UPDATE hublink.cancel_estimate_config SET max_probability = 1.5$$, '23514', NULL,
                 'an admin''s configuration is bounded: a probability above 1 is refused');
SELECT throws_ok($$UPDATE hublink.cancel_estimate_config SET hold_hours_before = 0$$, '23514', NULL,
                 'and so is the hold: hold_hours_before must be positive');
UPDATE hublink.cancel_estimate_config SET max_probability = 0.6;
SELECT is(hublink_test.bv_rank((SELECT v FROM hublink_test.v WHERE k = 'bv1')),
          'BV-B:1030.00:0.6000 BV-A:1120.00:0.6000',
          'the estimate is capped at max_probability (0.6): B 1030.00, A 1120.00');
SELECT ok(EXISTS (SELECT FROM hublink.audit_log a WHERE a.table_name = 'hublink.cancel_estimate_config'),
          'the configuration change is in the audit log');
-- The ranking's tie-break reads every segment of each quote: by an index, not a scan of all the
-- Hub's segments, which grow with every quote ever received (found by the soak: 1 s a ranking
-- at 22,000 segments, run once per quote inserted; docs/simulation.md "Soak").
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN ' || q LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END $$;
SET LOCAL enable_seqscan = off;
SELECT unalike(pg_temp.plan_of('SELECT min(s.start_time) FROM hublink.itinerary_segment s WHERE s.travel_quote_id = 1'),
               '%Seq Scan%', 'the segments of one quote, current or not, are found by an index');
SELECT unalike(pg_temp.plan_of('SELECT count(*) FROM hublink.itinerary_segment s WHERE s.travel_quote_id = 1 AND NOT s.current'),
               '%Seq Scan%', 'so are its superseded segments (the cascade from a purged quote deletes them)');
RESET enable_seqscan;

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o

-- A derived row that disagrees with the price tables (docs/tsp.md "The fares of a flight, in one
-- row"): the owner can still write hublink.tsp_flight_fares past its triggers (as a superuser in
-- session_replication_role = replica, or from inside another trigger). A quote priced from such
-- a stale row would carry costs.total and tsp_quote.price (what tsp_book charges) from it while
-- its perTraveller costs come from tsp_fare_price. hublink.tsp_quote leaves out every itinerary
-- whose price is not the sum of its per-traveller costs read from the source tables, and every
-- itinerary whose flights' derived rows differ in any way from the source tables (a stale
-- refundable flag is quoted and stored at the right price), and raises a fare_row_drift alert
-- naming the flights whose derived row is stale, once per drift episode (per stale row version),
-- not once per request while the drift lasts.
BEGIN;
SELECT plan(18);
SET CONSTRAINTS hublink.audit_log_seal IMMEDIATE;

-- London to Lagos, direct (BA 75) or via Amsterdam (KL 1008 + KL 587), with the fares of
-- 55_tsp_flight_fares.sql (include/lagos_schedule.sql, include/lagos_fares.sql).
\set schedule_day 2026-07-14
\set schedule_rules D
\set schedule_spare false
\ir include/lagos_schedule.sql
\ir include/lagos_fares.sql
SELECT is((SELECT counts FROM loaded), '(3,3,5,7)', 'a world of 3 flights, 5 fares and 7 prices, loaded');
-- One returnee and one escort on 2026-07-14; the answer kept for the checks.
CREATE TEMP TABLE answer (n serial, body jsonb);
CREATE FUNCTION pg_temp.quote() RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO answer (body) SELECT hublink.tsp_quote(jsonb_build_object(
        'returnees', jsonb_build_array(jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-D1'),
                                                          'location', jsonb_build_object('detentionCentreId', 'NONE'))),
        'escortDates', jsonb_build_array(jsonb_build_object('escortQuoteReference', 'EQ-D', 'date', '2026-07-14', 'escortCount', 1)),
        'departureAirports', jsonb_build_array('LHR'),
        'destination', jsonb_build_object('description', 'Lagos', 'country', 'NGA', 'airportCode', 'LOS'),
        'constraints', jsonb_build_object('refundableOnly', false)), NULL, '2026-06-01 10:00+00')
    RETURNING body
$$;
-- The fares of each quote of an answer, in rank order (flight/class, + between legs).
CREATE FUNCTION pg_temp.quoted(body jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg((SELECT string_agg(fl.name || '/' || fa.fare_class, '+' ORDER BY x.n)
                         FROM unnest(q.fare_ids) WITH ORDINALITY x(id, n)
                         JOIN hublink.tsp_fare fa ON fa.fare_id = x.id JOIN fl USING (flight_id)), ' ' ORDER BY o.i)
      FROM jsonb_array_elements(body -> 'quotes') WITH ORDINALITY o(e, i)
      JOIN hublink.tsp_quote q ON q.quote_ref = o.e ->> 'travelQuoteReference'
$$;
-- Quotes of an answer whose total, stored price or per-traveller costs disagree with the price
-- tables (computed here: 1 returnee + 1 escort per leg, RETURNEE falling back to ADULT).
CREATE FUNCTION pg_temp.mispriced(body jsonb) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM jsonb_array_elements(body -> 'quotes') o(e)
      JOIN hublink.tsp_quote q ON q.quote_ref = o.e ->> 'travelQuoteReference'
     CROSS JOIN LATERAL (SELECT sum(coalesce((SELECT p.amount FROM hublink.tsp_fare_price p WHERE p.fare_id = x.id AND p.traveller_type = 'RETURNEE'),
                                             (SELECT p.amount FROM hublink.tsp_fare_price p WHERE p.fare_id = x.id AND p.traveller_type = 'ADULT'))
                                  + coalesce((SELECT p.amount FROM hublink.tsp_fare_price p WHERE p.fare_id = x.id AND p.traveller_type = 'ESCORT'),
                                             (SELECT p.amount FROM hublink.tsp_fare_price p WHERE p.fare_id = x.id AND p.traveller_type = 'ADULT'))) AS truth
                           FROM unnest(q.fare_ids) x(id)) t
     WHERE (o.e #>> '{costs,total,amount}')::numeric IS DISTINCT FROM t.truth
        OR q.price IS DISTINCT FROM t.truth
        OR (SELECT sum((c #>> '{cost,amount}')::numeric) FROM jsonb_array_elements(o.e #> '{costs,perTraveller}') c) IS DISTINCT FROM t.truth
$$;
CREATE FUNCTION pg_temp.drift_alerts(name text DEFAULT 'BA75') RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM hublink.alert a WHERE a.kind = 'fare_row_drift' AND a.detail -> 'flights' @> jsonb_build_array(pg_temp.flight(name))
$$;

-- Per ticket for 1 returnee + 1 escort (expected cost = price + 0.4 x loss): KL Y+Y 790,
-- KL Y+N 690, BA 75 Y 1750, BA 75 N 1400.
SELECT is(pg_temp.quoted(pg_temp.quote()), 'KL1008/Y+KL587/Y KL1008/Y+KL587/N BA75/Y', 'before: the three best by expected cost');
SELECT is(pg_temp.mispriced(body), 0::bigint, 'before: every quote''s total, stored price and per-traveller costs are the price tables''')
  FROM answer ORDER BY n DESC LIMIT 1;

-- The owner, in replica mode (no trigger fires), cuts BA 75 N's ADULT price to 1.00 in the
-- derived row only: tsp_fare_price still says 700.00.
SET LOCAL session_replication_role = replica;
UPDATE hublink.tsp_flight_fares s
   SET fares = ARRAY(SELECT CASE WHEN (f).fare_id = pg_temp.fare('BA75', 'N')
                                 THEN ROW((f).fare_id, (f).currency, (f).refundable, (f).hand_baggage_only, (f).available,
                                          (f).refund_rule_set, (f).cancellation_fee, (f).price_types, ARRAY[1.00]::numeric(14,2)[])::hublink.tsp_fare_brief
                                 ELSE f END
                       FROM unnest(s.fares) f)
 WHERE s.flight_id = pg_temp.flight('BA75');
RESET session_replication_role;
SELECT is((SELECT (f).price_amounts::text FROM hublink.tsp_flight_fares s, unnest(s.fares) f
            WHERE s.flight_id = pg_temp.flight('BA75') AND (f).fare_id = pg_temp.fare('BA75', 'N')), '{1.00}',
          'the derived row is stale: it says 1.00 where tsp_fare_price says 700.00');

SELECT ok(pg_temp.quoted(pg_temp.quote()) NOT LIKE '%BA75/N%', 'the itinerary priced from the stale row is left out of the answer');
SELECT is(pg_temp.mispriced(body), 0::bigint, 'every quote given has the price tables'' total, stored price and per-traveller costs')
  FROM answer ORDER BY n DESC LIMIT 1;
SELECT ok(NOT EXISTS (SELECT FROM hublink.tsp_quote q WHERE pg_temp.fare('BA75', 'N') = ANY (q.fare_ids)),
          'no stored quote carries the stale fare');
SELECT is(pg_temp.drift_alerts(), 1::bigint, 'a fare_row_drift alert names the flight whose derived row is stale');
-- Quoted again while the drift lasts: the same episode (the same stale row version), no new alert.
SELECT pg_temp.quote();
SELECT is(pg_temp.drift_alerts(), 1::bigint, 'quoted again while the price drift lasts: no second alert');

-- Rebuilt as docs/tsp.md says (a top-level write is computed from the source tables): quoted
-- again at its true price, and no new alert.
UPDATE hublink.tsp_flight_fares SET fares = fares WHERE flight_id = pg_temp.flight('BA75');
SELECT is(pg_temp.mispriced(pg_temp.quote()), 0::bigint, 'after the rebuild every quote is priced from the price tables');
SELECT is(pg_temp.drift_alerts(), 1::bigint, 'after the rebuild no new alert');

-- Quotes of an answer whose stored or shown refundability is not that of their fares in tsp_fare.
CREATE FUNCTION pg_temp.misflagged(body jsonb) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM jsonb_array_elements(body -> 'quotes') o(e)
      JOIN hublink.tsp_quote q ON q.quote_ref = o.e ->> 'travelQuoteReference'
     WHERE q.refundable IS DISTINCT FROM (SELECT bool_and(fa.refundable) FROM hublink.tsp_fare fa WHERE fa.fare_id = ANY (q.fare_ids))
        OR (o.e #>> '{conditions,refundable}')::boolean IS DISTINCT FROM q.refundable
$$;
-- A drift that leaves every price right (review3 of 8 December 2026): the owner, in replica
-- mode, marks KL 587's refundable Y fare non-refundable in the derived row only. The search then
-- offers KL 1008 Y + KL 587 Y, both refundable fares, as the non-refundable connection at its
-- true price, which the price check alone let through with "refundable": false quoted and stored.
CREATE FUNCTION pg_temp.unflag_kl587_y() RETURNS void LANGUAGE sql AS $$
    SET LOCAL session_replication_role = replica;
    UPDATE hublink.tsp_flight_fares s
       SET fares = ARRAY(SELECT CASE WHEN (f).fare_id = pg_temp.fare('KL587', 'Y')
                                     THEN ROW((f).fare_id, (f).currency, false, (f).hand_baggage_only, (f).available,
                                              (f).refund_rule_set, (f).cancellation_fee, (f).price_types, (f).price_amounts)::hublink.tsp_fare_brief
                                     ELSE f END
                           FROM unnest(s.fares) f)
     WHERE s.flight_id = pg_temp.flight('KL587');
    RESET session_replication_role;
$$;
SELECT pg_temp.unflag_kl587_y();
SELECT is(pg_temp.misflagged(pg_temp.quote()), 0::bigint,
          'a stale refundable flag with the right prices: no quote carries a refundability its fares do not have');
SELECT ok(pg_temp.quoted(body) NOT LIKE '%KL587%', 'the itineraries on the flight whose row is stale are left out')
  FROM answer ORDER BY n DESC LIMIT 1;
SELECT is(pg_temp.drift_alerts('KL587'), 1::bigint, 'a fare_row_drift alert names the flight whose flag is stale');
-- The same drift, quoted twice more: the episode is alerted once, not once per request.
SELECT pg_temp.quote(), pg_temp.quote();
SELECT is(pg_temp.drift_alerts('KL587'), 1::bigint, 'the drift lasting over two more requests raises no further alert');
SELECT is((SELECT count(*) FROM answer a WHERE pg_temp.quoted(a.body) LIKE '%KL587%' AND a.n >= (SELECT max(n) - 1 FROM answer)), 0::bigint,
          'while no alert is raised, the stale itineraries are still left out');
-- Rebuilt, then made stale again by another write: a new episode, alerted again.
UPDATE hublink.tsp_flight_fares SET fares = fares WHERE flight_id = pg_temp.flight('KL587');
SELECT is(pg_temp.quoted(pg_temp.quote()), 'KL1008/Y+KL587/Y KL1008/Y+KL587/N BA75/Y', 'rebuilt: the connection is quoted again');
SELECT pg_temp.unflag_kl587_y();
SELECT pg_temp.quote();
SELECT is(pg_temp.drift_alerts('KL587'), 2::bigint, 'the row made stale again after its rebuild: a new episode, one new alert');

SELECT * FROM finish();
ROLLBACK;

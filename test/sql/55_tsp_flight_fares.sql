-- The fares of a flight in one row (issue 15 section 5; docs/tsp.md "The fares of a flight, in
-- one row"; docs/performance.md "Quotes, sixth pass"): hublink.tsp_flight_fares is derived from
-- tsp_fare and tsp_fare_price, and the itinerary search reads it. A careless operator editing
-- the schedule between quotes (prices cut or raised, fares added, withdrawn, moved, deleted,
-- flights deleted, prices dropped to the fallback, rule sets renamed, one statement over many
-- flights, truncates) and a hostile one writing the derived rows by hand: after each, the rows
-- equal the truth computed here from the source tables, and the search answers exactly what the
-- reference search (0.2.0's search before this table, reading tsp_fare and tsp_fare_price
-- directly, copied below) answers, so a quote never names a fare that is gone nor misses a
-- cheaper one.
BEGIN;
SELECT plan(36);
SET CONSTRAINTS hublink.audit_log_seal IMMEDIATE;

-- A small world of its own (include/lagos_schedule.sql, include/lagos_fares.sql): London to
-- Lagos, direct (BA) or via Amsterdam (KL), and a spare flight (BA 77) with no fares at first.
\set schedule_day 2026-06-09
\set schedule_rules F
\set schedule_spare true
\ir include/lagos_schedule.sql
\ir include/lagos_fares.sql
SELECT is((SELECT counts FROM loaded), '(3,4,5,7)', 'a world of 4 flights, 5 fares and 7 prices, loaded');

-- The truth, computed here from the source tables (not by the extension's own function): the
-- flights of this world whose derived row is missing, extra or different.
CREATE FUNCTION pg_temp.wrong_rows() RETURNS text LANGUAGE sql AS $$
    WITH truth AS (
        SELECT fa.flight_id, array_agg(ROW(fa.fare_id, fa.currency, fa.refundable, fa.hand_baggage_only, fa.available,
                   fa.refund_rule_set, fa.cancellation_fee,
                   coalesce((SELECT array_agg(p.traveller_type ORDER BY p.traveller_type) FROM hublink.tsp_fare_price p WHERE p.fare_id = fa.fare_id), '{}'),
                   coalesce((SELECT array_agg(p.amount ORDER BY p.traveller_type) FROM hublink.tsp_fare_price p WHERE p.fare_id = fa.fare_id), '{}')
                  )::hublink.tsp_fare_brief ORDER BY fa.fare_id)::text AS fares
          FROM hublink.tsp_fare fa WHERE fa.flight_id IN (SELECT flight_id FROM fl) GROUP BY fa.flight_id),
    held AS (SELECT s.flight_id, s.fares::text AS fares FROM hublink.tsp_flight_fares s WHERE s.flight_id IN (SELECT flight_id FROM fl))
    SELECT coalesce(string_agg(coalesce(fl.name, '?'), ',' ORDER BY fl.name), '')
      FROM truth t FULL JOIN held h USING (flight_id) LEFT JOIN fl USING (flight_id)
     WHERE t.fares IS DISTINCT FROM h.fares
$$;

-- The reference: 0.2.0's search before tsp_flight_fares, reading tsp_fare and tsp_fare_price.
CREATE FUNCTION pg_temp.itineraries_reference(origins character[], destinations character[], window_start timestamp with time zone, window_end timestamp with time zone, returnees integer, escorts integer, excluded_carriers text[], no_transit character[], refundable_only boolean, cancel_probability numeric, cancel_hours_before numeric)
 RETURNS SETOF hublink.tsp_itinerary
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
-- PL/pgSQL, not SQL, for its plan: a SQL function that pins search_path is parsed and planned
-- again at every call; PL/pgSQL keeps the plan for the session (on the world schedule, 3.0 ms of
-- CPU per request as SQL, 1.2 ms as PL/pgSQL: docs/performance.md "Quotes, third pass").
BEGIN
    RETURN QUERY
    WITH RECURSIVE
    first_leg AS (
        SELECT f.* FROM hublink.tsp_flight f
         WHERE f.origin = ANY (origins) AND f.departs_at >= window_start AND f.departs_at < window_end
           AND f.status = 'SCHEDULED' AND f.carrier <> ALL (excluded_carriers)
           AND f.destination <> ALL (origins)),
    -- Connections: the second flight leaves the connecting airport no sooner than its minimum
    -- connection time after the first lands, and no later than the longest wait allowed.
    -- Settings read once, not once per candidate pair.
    cfg AS MATERIALIZED (
        SELECT make_interval(mins => hublink.tsp_setting('default_min_connection_minutes')::int) AS mct,
               make_interval(mins => hublink.tsp_setting('max_connection_minutes')::int) AS max_wait),
    hub AS MATERIALIZED (
        SELECT a.*, a.arrives_at + coalesce(make_interval(mins => m.minutes), cfg.mct) AS ready_at,
               a.arrives_at + cfg.max_wait AS last_at
          FROM first_leg a CROSS JOIN cfg
          LEFT JOIN hublink.tsp_min_connection m ON m.airport = a.destination
         WHERE a.destination <> ALL (destinations) AND a.destination <> ALL (no_transit)),
    routes AS (
        SELECT a.flight_id AS flight1, NULL::bigint AS flight2, a.departs_at, a.arrives_at,
               a.seats_total - a.seats_sold AS seats_free
          FROM first_leg a WHERE a.destination = ANY (destinations)
        UNION ALL
        SELECT a.flight_id, b.flight_id, a.departs_at, b.arrives_at,
               least(a.seats_total - a.seats_sold, b.seats_total - b.seats_sold)
          FROM hub a
          JOIN hublink.tsp_flight b ON b.origin = a.destination
               AND b.departs_at >= a.ready_at AND b.departs_at <= a.last_at
         WHERE b.destination = ANY (destinations)
           AND b.status = 'SCHEDULED' AND b.carrier <> ALL (excluded_carriers)),
    -- Price and loss of every fare on every leg: the loss if the removal is cancelled at the
    -- expected time (cancel_hours_before the first departure) is what the refund rules keep.
    -- Prices per fare of every flight used, read once: a first flight pairs with many second
    -- flights. Written inline (not hublink.tsp_fare_amount: functions that pin search_path are
    -- never inlined); one fallback level, as the shipped traveller types have.
    fallback AS MATERIALIZED (
        SELECT (SELECT t.fallback FROM hublink.tsp_traveller_type t WHERE t.code = 'RETURNEE') AS ret,
               (SELECT t.fallback FROM hublink.tsp_traveller_type t WHERE t.code = 'ESCORT') AS esc),
    fare_info AS MATERIALIZED (
        SELECT fa.fare_id, fa.flight_id, fa.currency, fa.refundable, fa.hand_baggage_only,
               fa.refund_rule_set, fa.cancellation_fee,
               coalesce(pp.ret, pp.ret_fb) AS ret, coalesce(pp.esc, pp.esc_fb) AS esc
          FROM (SELECT DISTINCT x.flight_id FROM routes r
                 CROSS JOIN LATERAL (VALUES (r.flight1), (r.flight2)) x(flight_id)
                 WHERE x.flight_id IS NOT NULL) u
          JOIN hublink.tsp_fare fa ON fa.flight_id = u.flight_id AND fa.available
               AND (fa.refundable OR NOT refundable_only)
          CROSS JOIN fallback fb
          CROSS JOIN LATERAL (
              SELECT max(x.amount) FILTER (WHERE x.traveller_type = 'RETURNEE') AS ret,
                     max(x.amount) FILTER (WHERE x.traveller_type = fb.ret) AS ret_fb,
                     max(x.amount) FILTER (WHERE x.traveller_type = 'ESCORT') AS esc,
                     max(x.amount) FILTER (WHERE x.traveller_type = fb.esc) AS esc_fb
                FROM hublink.tsp_fare_price x WHERE x.fare_id = fa.fare_id) pp),
    leg_fare AS (
        SELECT r.flight1, r.flight2, r.departs_at, r.arrives_at, r.seats_free, leg.seq, leg.flight_id, fi.fare_id,
               fi.currency, fi.refundable, fi.hand_baggage_only, p.price,
               p.price - returnees * greatest(0, coalesce(least(fi.ret, coalesce(round(fi.ret * rule.refund_percent / 100, 2), rule.refund_amount)), 0) - fi.cancellation_fee)
                       - escorts * greatest(0, coalesce(least(fi.esc, coalesce(round(fi.esc * rule.refund_percent / 100, 2), rule.refund_amount)), 0) - fi.cancellation_fee) AS loss
          FROM routes r
          CROSS JOIN LATERAL (VALUES (1, r.flight1), (2, r.flight2)) leg(seq, flight_id)
          JOIN hublink.tsp_flight lf ON lf.flight_id = leg.flight_id
          JOIN fare_info fi ON fi.flight_id = leg.flight_id
          CROSS JOIN LATERAL (SELECT CASE WHEN returnees = 0 THEN 0 ELSE returnees * fi.ret END
                                   + CASE WHEN escorts = 0 THEN 0 ELSE escorts * fi.esc END AS price) p
          -- The refund rule in force at the expected cancellation time, as in tsp_refund_amount.
          LEFT JOIN LATERAL (SELECT rr.refund_percent, rr.refund_amount FROM hublink.tsp_refund_rule rr
                              WHERE rr.rule_set = fi.refund_rule_set
                                AND rr.from_hours_before <= cancel_hours_before
                                    + extract(epoch FROM lf.departs_at - r.departs_at) / 3600
                              ORDER BY rr.from_hours_before DESC LIMIT 1) rule ON true
         WHERE p.price IS NOT NULL),
    -- Costs add up over the legs, so the best combination per itinerary is made of the best
    -- fare of each leg per currency and refundability (least expected cost, then price, then
    -- fare): one sort picks them (not an ordered aggregate per column, 16 sorts per
    -- itinerary), then one row per itinerary and currency holds the four.
    best_leg AS (
        SELECT DISTINCT ON (l.flight1, l.flight2, l.currency, l.seq, l.refundable)
               l.flight1, l.flight2, l.currency, l.seq, l.refundable, l.departs_at, l.arrives_at,
               l.seats_free, l.fare_id, l.price, l.loss, l.hand_baggage_only
          FROM (SELECT lf.*, lf.price + cancel_probability * lf.loss AS ec FROM leg_fare lf) l
         ORDER BY l.flight1, l.flight2, l.currency, l.seq, l.refundable, l.ec, l.price, l.fare_id),
    best AS (
        SELECT l.flight1, l.flight2, l.currency, min(l.departs_at) AS departs_at,
               min(l.arrives_at) AS arrives_at, min(l.seats_free) AS seats_free,
               max(l.fare_id) FILTER (WHERE l.seq = 1 AND l.refundable) AS r1,
               max(l.price) FILTER (WHERE l.seq = 1 AND l.refundable) AS r1_price,
               max(l.loss) FILTER (WHERE l.seq = 1 AND l.refundable) AS r1_loss,
               bool_or(l.hand_baggage_only) FILTER (WHERE l.seq = 1 AND l.refundable) AS r1_hbo,
               max(l.fare_id) FILTER (WHERE l.seq = 1 AND NOT l.refundable) AS n1,
               max(l.price) FILTER (WHERE l.seq = 1 AND NOT l.refundable) AS n1_price,
               max(l.loss) FILTER (WHERE l.seq = 1 AND NOT l.refundable) AS n1_loss,
               bool_or(l.hand_baggage_only) FILTER (WHERE l.seq = 1 AND NOT l.refundable) AS n1_hbo,
               max(l.fare_id) FILTER (WHERE l.seq = 2 AND l.refundable) AS r2,
               max(l.price) FILTER (WHERE l.seq = 2 AND l.refundable) AS r2_price,
               max(l.loss) FILTER (WHERE l.seq = 2 AND l.refundable) AS r2_loss,
               bool_or(l.hand_baggage_only) FILTER (WHERE l.seq = 2 AND l.refundable) AS r2_hbo,
               max(l.fare_id) FILTER (WHERE l.seq = 2 AND NOT l.refundable) AS n2,
               max(l.price) FILTER (WHERE l.seq = 2 AND NOT l.refundable) AS n2_price,
               max(l.loss) FILTER (WHERE l.seq = 2 AND NOT l.refundable) AS n2_loss,
               bool_or(l.hand_baggage_only) FILTER (WHERE l.seq = 2 AND NOT l.refundable) AS n2_hbo
          FROM best_leg l
         GROUP BY l.flight1, l.flight2, l.currency),
    combined AS (
        SELECT b.flight1, b.flight2, b.departs_at, b.arrives_at, b.seats_free, c.fare1, c.fare2, b.currency,
               c.refundable, c.hbo1 OR coalesce(c.hbo2, false) AS hand_baggage_only,
               c.price1 + coalesce(c.price2, 0) AS price, c.loss1 + coalesce(c.loss2, 0) AS loss
          FROM best b
          CROSS JOIN LATERAL (VALUES
              (b.r1, b.r1_price, b.r1_loss, b.r1_hbo, b.r2, b.r2_price, b.r2_loss, b.r2_hbo, true),
              (b.n1, b.n1_price, b.n1_loss, b.n1_hbo, b.r2, b.r2_price, b.r2_loss, b.r2_hbo, false),
              (b.r1, b.r1_price, b.r1_loss, b.r1_hbo, b.n2, b.n2_price, b.n2_loss, b.n2_hbo, false),
              (b.n1, b.n1_price, b.n1_loss, b.n1_hbo, b.n2, b.n2_price, b.n2_loss, b.n2_hbo, false))
              c(fare1, price1, loss1, hbo1, fare2, price2, loss2, hbo2, refundable)
         WHERE c.fare1 IS NOT NULL AND (b.flight2 IS NULL) = (c.fare2 IS NULL)
           -- a direct flight has no second leg: its refundability is its one fare's
           AND (b.flight2 IS NOT NULL OR c.refundable = (c.fare1 IS NOT DISTINCT FROM b.r1)))
    SELECT DISTINCT ON (c.flight1, c.flight2, c.refundable)
           c.flight1, c.fare1, c.flight2, c.fare2, c.currency, c.refundable, c.hand_baggage_only,
           c.departs_at, c.arrives_at, c.price,
           round(c.price + cancel_probability * c.loss, 2) AS expected_cost, c.seats_free
      FROM combined c
     ORDER BY c.flight1, c.flight2, c.refundable, c.price + cancel_probability * c.loss, c.price, c.fare1, c.fare2;
END;
$function$
;

-- The itineraries of the search and of the reference search that differ (each refundability,
-- 1 returnee and 1 escort, and 2 returnees alone): none when the search reads the truth.
CREATE FUNCTION pg_temp.search_differs() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint := 0;
    d bigint;
    ret int;
    esc int;
BEGIN
    FOR r IN 0 .. 1 LOOP
        FOR ret, esc IN SELECT * FROM (VALUES (1, 1), (2, 0)) v LOOP
            SELECT count(*) INTO d FROM (
                (SELECT * FROM hublink.tsp_itineraries('{LHR}', '{LOS}', '2026-06-09 00:00 Europe/London', '2026-06-10 00:00 Europe/London',
                                                       ret, esc, '{}', '{}', r = 1, 0.4, 48)
                 EXCEPT ALL
                 SELECT * FROM pg_temp.itineraries_reference('{LHR}', '{LOS}', '2026-06-09 00:00 Europe/London', '2026-06-10 00:00 Europe/London',
                                                            ret, esc, '{}', '{}', r = 1, 0.4, 48))
                UNION ALL
                (SELECT * FROM pg_temp.itineraries_reference('{LHR}', '{LOS}', '2026-06-09 00:00 Europe/London', '2026-06-10 00:00 Europe/London',
                                                            ret, esc, '{}', '{}', r = 1, 0.4, 48)
                 EXCEPT ALL
                 SELECT * FROM hublink.tsp_itineraries('{LHR}', '{LOS}', '2026-06-09 00:00 Europe/London', '2026-06-10 00:00 Europe/London',
                                                       ret, esc, '{}', '{}', r = 1, 0.4, 48))) x;
            n := n + d;
        END LOOP;
    END LOOP;
    RETURN n;
END;
$$;
-- The fares the engine quotes now for one returnee and one escort, in rank order (classes).
CREATE FUNCTION pg_temp.quoted() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg((SELECT string_agg(fl.name || '/' || fa.fare_class, '+' ORDER BY x.n)
                         FROM unnest(q.fare_ids) WITH ORDINALITY x(id, n)
                         JOIN hublink.tsp_fare fa ON fa.fare_id = x.id JOIN fl USING (flight_id)), ' ' ORDER BY q.quote_ref)
      FROM hublink.tsp_quote q
     WHERE q.quote_ref LIKE (SELECT hublink.tsp_setting('quote_reference_prefix')) || '%'
       AND q.quote_ref LIKE (SELECT hublink.tsp_setting('quote_reference_prefix')) || currval('hublink.tsp_quote_serial') || '-%'
$$;
CREATE FUNCTION pg_temp.quote() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hublink.tsp_quote(jsonb_build_object(
        'returnees', jsonb_build_array(jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-F1'),
                                                          'location', jsonb_build_object('detentionCentreId', 'NONE'))),
        'escortDates', jsonb_build_array(jsonb_build_object('escortQuoteReference', 'EQ-F', 'date', '2026-06-09', 'escortCount', 1)),
        'departureAirports', jsonb_build_array('LHR'),
        'destination', jsonb_build_object('description', 'Lagos', 'country', 'NGA', 'airportCode', 'LOS'),
        'constraints', jsonb_build_object('refundableOnly', false)), NULL, '2026-05-01 10:00+00');
    RETURN pg_temp.quoted();
END;
$$;

SELECT is(pg_temp.wrong_rows(), '', 'after the load: one row per flight with fares, equal to the fares and prices');
SELECT ok(NOT EXISTS (SELECT FROM hublink.tsp_flight_fares WHERE flight_id = pg_temp.flight('BA77')), 'a flight without fares has no row');
SELECT is(pg_temp.search_differs(), 0::bigint, 'the search answers what the reference search answers');
-- Per ticket for 1 returnee + 1 escort (expected cost = price + 0.4 x loss): KL Y+Y 790 (828),
-- KL Y+N 690 (928), BA 75 Y 1750 (1758), BA 75 N 1400 (1960).
SELECT is(pg_temp.quote(), 'KL1008/Y+KL587/Y KL1008/Y+KL587/N BA75/Y', 'quoted: the three best by expected cost');

-- tsp_quote reads its settings in one query and the TIG cost limits once per request
-- (docs/performance.md "Quotes, seventh pass"): a missing setting is still named, a cost limit
-- of another destination does not apply, one in another currency leaves nothing.
CREATE TEMP TABLE saved_setting AS SELECT * FROM hublink.tsp_config WHERE key = 'offer_choice';
DELETE FROM hublink.tsp_config WHERE key = 'offer_choice';
SELECT throws_ok('SELECT pg_temp.quote()', '42704', 'tsp setting "offer_choice" is not defined',
                 'a careless operator deleted a setting: the quote names it');
INSERT INTO hublink.tsp_config SELECT * FROM saved_setting;
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, amount, currency) VALUES ('COST_LIMIT', 'GHA', 1.00, 'GBP');
SELECT is(pg_temp.quote(), 'KL1008/Y+KL587/Y KL1008/Y+KL587/N BA75/Y', 'a cost limit for Ghana: Lagos quoted as before');
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, amount, currency) VALUES ('COST_LIMIT', 'NGA', 100000.00, 'EUR');
SELECT is(pg_temp.quote(), NULL, 'a cost limit for Nigeria in euros: no GBP itinerary is quoted');
DELETE FROM hublink.tsp_tig_rule WHERE kind = 'COST_LIMIT' AND ((destination_country = 'GHA' AND amount = 1.00) OR (destination_country = 'NGA' AND currency = 'EUR'));

-- A careless operator edits the schedule between two quotes of one transaction.
UPDATE hublink.tsp_fare_price SET amount = 50.00 WHERE fare_id = pg_temp.fare('BA75', 'N') AND traveller_type = 'ADULT';
SELECT is(pg_temp.wrong_rows(), '', 'a price cut: the row follows');
SELECT is(pg_temp.search_differs(), 0::bigint, 'a price cut: the search answers what the reference answers');
SELECT is(pg_temp.quote(), 'BA75/N KL1008/Y+KL587/Y KL1008/Y+KL587/N', 'a price cut: the cut fare (100, expected 140) is quoted first');

INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set, change_fee, cancellation_fee, ticketing_deadline_hours)
VALUES (pg_temp.flight('BA77'), 'G', 'GBP', true, 'F_FLEX', 0, 0, 24);
SELECT is(pg_temp.wrong_rows(), '', 'a new fare without prices: the flight gets a row with no prices');
INSERT INTO hublink.tsp_fare_price VALUES (pg_temp.fare('BA77', 'G'), 'ADULT', 5.00);
SELECT is(pg_temp.wrong_rows(), '', 'its price added: the row follows');
SELECT is(pg_temp.quote(), 'BA77/G BA75/N KL1008/Y+KL587/Y', 'a new cheapest fare on a flight that had none is quoted first');

UPDATE hublink.tsp_fare SET available = false WHERE fare_id = pg_temp.fare('BA77', 'G');
SELECT is(pg_temp.wrong_rows(), '', 'a fare withdrawn: the row follows');
SELECT ok(pg_temp.quote() NOT LIKE '%BA77/G%', 'a withdrawn fare is not quoted');
-- A direct flight whose only fare left is non-refundable is still offered (the search compared
-- its fare with the flight's refundable one, NULL when it has none, and dropped it).
UPDATE hublink.tsp_fare SET available = false WHERE fare_id = pg_temp.fare('BA75', 'Y');
SELECT ok(pg_temp.quote() LIKE '%BA75/N%', 'a direct flight with only a non-refundable fare is quoted');
SELECT is(pg_temp.search_differs(), 0::bigint, 'only a non-refundable fare: the search answers what the reference answers');
UPDATE hublink.tsp_fare SET available = true WHERE fare_id = pg_temp.fare('BA75', 'Y');

-- (a quoted fare cannot be moved or deleted, tsp_quoted_keep: these edits take fares never quoted)
INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set, change_fee, cancellation_fee, ticketing_deadline_hours)
VALUES (pg_temp.flight('BA77'), 'H', 'GBP', false, 'F_NONREF', 0, 0, 24);
INSERT INTO hublink.tsp_fare_price VALUES (pg_temp.fare('BA77', 'H'), 'ADULT', 5000.00);
UPDATE hublink.tsp_fare SET flight_id = pg_temp.flight('BA75') WHERE fare_id = pg_temp.fare('BA77', 'H');
SELECT is(pg_temp.wrong_rows(), '', 'a fare moved to another flight: both flights'' rows follow');
SELECT is(pg_temp.search_differs(), 0::bigint, 'a fare moved: the search answers what the reference answers');

DELETE FROM hublink.tsp_fare_price WHERE fare_id = pg_temp.fare('BA75', 'Y') AND traveller_type = 'RETURNEE';
SELECT is(pg_temp.wrong_rows(), '', 'a returnee price deleted (the adult price applies): the row follows');
UPDATE hublink.tsp_refund_rule_set SET rule_set = 'F_HALF' WHERE rule_set = 'F_SEMI';
SELECT is(pg_temp.wrong_rows(), '', 'a rule set renamed (cascading to its fares): the rows follow');
UPDATE hublink.tsp_fare_price p SET amount = p.amount + 1
  FROM hublink.tsp_fare fa WHERE fa.fare_id = p.fare_id AND fa.flight_id IN (SELECT flight_id FROM fl);
SELECT is(pg_temp.wrong_rows(), '', 'one statement raising every price of three flights: every row follows');
SELECT is(pg_temp.search_differs(), 0::bigint, 'after all these edits the search answers what the reference answers');

DELETE FROM hublink.tsp_fare WHERE fare_id = pg_temp.fare('BA75', 'H');
INSERT INTO hublink.tsp_flight (carrier, flight_number, origin, destination, departs_at, arrives_at, seats_total)
VALUES ('BA', '79', 'LHR', 'LOS', '2026-06-09 17:00+01', '2026-06-09 23:59+01', 50);
INSERT INTO fl SELECT flight_id, 'BA79' FROM hublink.tsp_flight WHERE carrier = 'BA' AND flight_number = '79';
INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set, change_fee, cancellation_fee, ticketing_deadline_hours)
VALUES (pg_temp.flight('BA79'), 'Y', 'GBP', true, 'F_FLEX', 0, 0, 24);
INSERT INTO hublink.tsp_fare_price VALUES (pg_temp.fare('BA79', 'Y'), 'ADULT', 1.00);
SELECT is(pg_temp.search_differs(), 0::bigint, 'a flight added with a fare: the search finds it as the reference does');
UPDATE hublink.tsp_flight SET departs_at = departs_at - interval '5 hours', arrives_at = arrives_at - interval '5 hours'
 WHERE flight_id = pg_temp.flight('KL587');
SELECT is((SELECT count(*)::int FROM hublink.tsp_itineraries('{LHR}', '{LOS}', '2026-06-09 00:00 Europe/London', '2026-06-10 00:00 Europe/London',
                                                              1, 1, '{}', '{}', false, 0.4, 48)
            WHERE flight2 = pg_temp.flight('KL587')), 0, 'a connecting flight moved before the first lands: no itinerary takes it');
SELECT is(pg_temp.search_differs(), 0::bigint, 'a flight moved: the search answers what the reference answers');
DELETE FROM hublink.tsp_flight WHERE flight_id = pg_temp.flight('BA79');
SELECT is(pg_temp.wrong_rows(), '', 'an unquoted fare deleted, and a flight deleted with its fares: the rows follow');

-- A hostile or careless operator writes the derived rows by hand: the truth comes back.
UPDATE hublink.tsp_flight_fares SET fares = '{}' WHERE flight_id = pg_temp.flight('BA75');
UPDATE hublink.tsp_flight_fares s SET fares = array_append(s.fares, s.fares[1]) WHERE flight_id = pg_temp.flight('KL587');
SELECT is(pg_temp.wrong_rows(), '', 'rows emptied or given a forged fare by hand: each holds the truth');
DELETE FROM hublink.tsp_flight_fares WHERE flight_id = pg_temp.flight('KL1008');
SELECT is(pg_temp.wrong_rows(), '', 'a row deleted by hand comes back');
INSERT INTO hublink.tsp_flight (carrier, flight_number, origin, destination, departs_at, arrives_at, seats_total)
VALUES ('BA', '81', 'LHR', 'LOS', '2026-06-09 18:00+01', '2026-06-10 01:00+01', 50);
INSERT INTO fl SELECT flight_id, 'BA81' FROM hublink.tsp_flight WHERE carrier = 'BA' AND flight_number = '81';
INSERT INTO hublink.tsp_flight_fares SELECT pg_temp.flight('BA81'), s.fares FROM hublink.tsp_flight_fares s
 WHERE s.flight_id = pg_temp.flight('BA75');
SELECT ok(NOT EXISTS (SELECT FROM hublink.tsp_flight_fares s WHERE NOT EXISTS (SELECT FROM hublink.tsp_fare fa WHERE fa.flight_id = s.flight_id)),
          'a row forged for a flight without fares (another flight''s fares) is not kept');
SELECT throws_ok(format('UPDATE hublink.tsp_flight_fares SET flight_id = %s WHERE flight_id = %s', pg_temp.flight('KL1008'), pg_temp.flight('BA75')),
                 '55000', NULL, 'a row cannot be moved to another flight');
TRUNCATE hublink.tsp_flight_fares;
SELECT is(pg_temp.wrong_rows(), '', 'the rows truncated by hand come back');
SELECT is(pg_temp.search_differs(), 0::bigint, 'after the hand edits the search answers what the reference answers');

TRUNCATE hublink.tsp_fare_price;
SELECT is(pg_temp.wrong_rows(), '', 'every price truncated: the rows follow (fares without prices)');
SELECT is(pg_temp.search_differs(), 0::bigint, 'with no prices the search finds what the reference finds: nothing priced');

SELECT * FROM finish();
ROLLBACK;

-- A quote's flights and fares in its own row (issue 15 section 5; docs/performance.md "Quotes,
-- fifth pass"): what a hostile admin or provider, or a careless operator, could do to the
-- compact form (malformed or oversized arrays, a fare of another flight, a quoted flight or
-- fare deleted or renumbered) gets a clear error and loses nothing; the engine, the booking and
-- the purge read the same segments as before, and the audit records everything a quote said.
BEGIN;
SELECT plan(28);
SET CONSTRAINTS hublink.audit_log_seal IMMEDIATE;

-- A small world of its own (include/lagos_schedule.sql): London to Lagos, direct (BA) or via
-- Amsterdam (KL), one flexible fare a flight.
\set schedule_day 2026-05-12
\set schedule_rules C
\set schedule_spare false
\ir include/lagos_schedule.sql
INSERT INTO pg_temp.tsp_stage_fare (flight_ref, fare_class, currency, refundable, refund_rule_set, change_fee,
    cancellation_fee, ticketing_deadline_hours, hand_baggage_only, baggage_kg, prices) VALUES
    ('A', 'Y', 'GBP', 'true', 'C_FLEX', '0.00', '0.00', '24', 'false', '23', 'ADULT=900.00'),
    ('C', 'Y', 'GBP', 'true', 'C_FLEX', '0.00', '0.00', '24', 'false', '23', 'ADULT=100.00'),
    ('D', 'Y', 'GBP', 'true', 'C_FLEX', '0.00', '0.00', '24', 'false', '23', 'ADULT=300.00');
SELECT is((SELECT row(r.*)::text FROM hublink.tsp_load_staged(2) r), '(3,3,3,3)', 'a world of 3 flights and 3 fares');
CREATE TEMP TABLE fl AS
SELECT f.flight_id, fa.fare_id, f.carrier || f.flight_number AS name
  FROM hublink.tsp_flight f JOIN hublink.tsp_fare fa USING (flight_id)
 WHERE f.departs_at::date = '2026-05-12' AND (f.carrier, f.flight_number) IN (('BA', '75'), ('KL', '1008'), ('KL', '587'));
GRANT SELECT ON fl TO PUBLIC;

-- The engine: both itineraries quoted, each quote one row with its flights and fares in order.
CREATE TEMP TABLE resp AS SELECT hublink.tsp_quote(jsonb_build_object(
    'returnees', jsonb_build_array(jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-C1'),
                                                      'location', jsonb_build_object('detentionCentreId', 'NONE'))),
    'escortDates', jsonb_build_array(jsonb_build_object('escortQuoteReference', 'EQ-C', 'date', '2026-05-12', 'escortCount', 1)),
    'departureAirports', jsonb_build_array('LHR'),
    'destination', jsonb_build_object('description', 'Lagos', 'country', 'NGA', 'airportCode', 'LOS'),
    'constraints', jsonb_build_object('refundableOnly', false)), 'RMV-2026-C00001', '2026-04-01 10:00+00') AS body;
CREATE TEMP TABLE mine AS SELECT q.* FROM hublink.tsp_quote q WHERE q.removal_id = 'RMV-2026-C00001';
SELECT is((SELECT count(*)::int FROM mine), 2, 'two quotes: direct and via Amsterdam');
SELECT is((SELECT array_agg(array_to_string(ARRAY(SELECT fl.name FROM unnest(m.flight_ids) WITH ORDINALITY x(id, n)
                                                   JOIN fl ON fl.flight_id = x.id ORDER BY x.n), '+') ORDER BY cardinality(m.flight_ids))
             FROM mine m), '{BA75,KL1008+KL587}', 'flight_ids hold each quote''s flights in travel order');
SELECT is((SELECT count(*)::int FROM mine m CROSS JOIN LATERAL unnest(m.flight_ids, m.fare_ids) x(flight_id, fare_id)
            JOIN fl USING (flight_id, fare_id)), 3, 'fare_ids hold each flight''s quoted fare at the same position');
SELECT is((SELECT string_agg(s.segment_id || '=' || fl.name, ',' ORDER BY s.quote_ref, s.seq)
             FROM hublink.tsp_quote_segment s JOIN fl USING (flight_id, fare_id) JOIN mine m USING (quote_ref)),
          (SELECT string_agg(x, ',') FROM (SELECT x FROM mine m CROSS JOIN LATERAL
              jsonb_path_query(m.quote, '$.itinerary[*] ? (@.segmentType == "PLANE")') seg
              CROSS JOIN LATERAL (SELECT (seg ->> 'segmentId') || '=' || (seg ->> 'carrierCode') || (seg ->> 'flightNumber')) y(x)
              ORDER BY m.quote_ref, seg ->> 'segmentId') z),
          'tsp_quote_segment lists the segments the quotes sent (S1, S2 with their flights)');

-- The audit: one row per quote, whose digest covers the flights and fares.
SELECT is((SELECT count(*)::int FROM hublink.audit_log a JOIN mine m ON a.row_key ->> 'quote_ref' = m.quote_ref
            WHERE a.table_name = 'hublink.tsp_quote' AND a.action = 'insert' AND a.xact_id = pg_current_xact_id()), 2,
          'one audit row per quote stored');
SELECT is((SELECT count(*)::int FROM hublink.audit_log a WHERE a.table_name LIKE 'hublink.tsp_quote%'
            AND a.xact_id = pg_current_xact_id()), 2, 'and no other audit row for the quotes');

-- Malformed or oversized compact forms, as an admin writing the table directly would try.
CREATE TEMP TABLE direct AS
SELECT m.quote_ref, (SELECT fl.flight_id FROM fl WHERE name = 'BA75') AS a, (SELECT fl.fare_id FROM fl WHERE name = 'BA75') AS af,
       (SELECT fl.flight_id FROM fl WHERE name = 'KL1008') AS c, (SELECT fl.fare_id FROM fl WHERE name = 'KL1008') AS cf,
       (SELECT fl.flight_id FROM fl WHERE name = 'KL587') AS d, (SELECT fl.fare_id FROM fl WHERE name = 'KL587') AS df
  FROM mine m WHERE cardinality(m.flight_ids) = 1;
CREATE FUNCTION pg_temp.forged(flights text, fares text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hublink.tsp_quote (quote_ref, travel_date, created_at, expires_at, currency, price, expected_cost,
                                   refundable, travellers, quote, flight_ids, fare_ids)
    SELECT 'FORGED-1', '2026-05-12', now(), now() + interval '1 hour', 'GBP', 1, 1, true, '[]', '{}',
           flights::bigint[], fares::bigint[];
    RETURN 'stored';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END;
$$;
SELECT is(pg_temp.forged(format('{%s,%s,%s}', c, d, a), format('{%s,%s,%s}', cf, df, af)),
          '23514 new row for relation "tsp_quote" violates check constraint "tsp_quote_segments_shape"',
          'three segments (oversized): refused by the shape constraint') FROM direct;
SELECT is(pg_temp.forged('{}', '{}'),
          '23514 new row for relation "tsp_quote" violates check constraint "tsp_quote_segments_shape"',
          'no segment: refused');
SELECT is(pg_temp.forged(format('{%s,%s}', c, d), format('{%s}', cf)),
          '23514 new row for relation "tsp_quote" violates check constraint "tsp_quote_segments_shape"',
          'two flights and one fare: refused') FROM direct;
SELECT is(pg_temp.forged(format('{%s,NULL}', c), format('{%s,%s}', cf, df)),
          '23514 new row for relation "tsp_quote" violates check constraint "tsp_quote_segments_shape"',
          'a NULL flight: refused') FROM direct;
SELECT is(pg_temp.forged(format('{{%s},{%s}}', c, d), format('{{%s},{%s}}', cf, df)),
          '23514 new row for relation "tsp_quote" violates check constraint "tsp_quote_segments_shape"',
          'a two-dimensional form: refused') FROM direct;
SELECT is(pg_temp.forged(format('[0:1]={%s,%s}', c, d), format('[0:1]={%s,%s}', cf, df)),
          '23514 new row for relation "tsp_quote" violates check constraint "tsp_quote_segments_shape"',
          'arrays that start at 0 (no S1): refused') FROM direct;
SELECT is(pg_temp.forged(NULL, NULL),
          '23502 null value in column "flight_ids" of relation "tsp_quote" violates not-null constraint',
          'no flights at all: refused') FROM direct;
SELECT is(pg_temp.forged(format('{%s,%s}', c, d), format('{%s,%s}', df, cf)),
          format('23503 quote FORGED-1 segment S1: fare %s is not a fare of flight %s', df, c),
          'fares swapped between the flights: refused, naming the segment') FROM direct;
SELECT is(pg_temp.forged(format('{%s}', a), '{-7}'),
          format('23503 quote FORGED-1 segment S1: fare -7 is not a fare of flight %s', a),
          'a fare that does not exist: refused') FROM direct;
SELECT is(pg_temp.forged(format('{%s,%s}', c, d), format('{%s,%s}', cf, df)), 'stored',
          'a well-formed connection is stored') FROM direct;
SELECT is((SELECT string_agg(segment_id || ':' || seq, ',' ORDER BY seq) FROM hublink.tsp_quote_segment WHERE quote_ref = 'FORGED-1'),
          'S1:1,S2:2', 'and reads back as S1, S2');
DELETE FROM hublink.tsp_quote WHERE quote_ref = 'FORGED-1';

-- An update that breaks a stored quote is refused; the quote keeps what it said.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'done';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END;
$$;
SELECT is(pg_temp.try(format('UPDATE hublink.tsp_quote SET fare_ids = ''{%s}'' WHERE quote_ref = %L', cf, quote_ref)),
          format('23503 quote %s segment S1: fare %s is not a fare of flight %s', quote_ref, cf, a),
          'a quote''s fare changed to another flight''s: refused') FROM direct;
SELECT is(pg_temp.try(format('UPDATE hublink.tsp_quote SET flight_ids = flight_ids || %s::bigint, fare_ids = fare_ids || %s::bigint WHERE quote_ref = %L', d, df, m.quote_ref)),
          '23514 new row for relation "tsp_quote" violates check constraint "tsp_quote_segments_shape"',
          'a quote grown to three segments: refused') FROM mine m, direct WHERE cardinality(m.flight_ids) = 2;

-- Quoted flights and fares stay while a quote names them (the old foreign keys' guarantee).
SELECT is(pg_temp.try(format('DELETE FROM hublink.tsp_flight WHERE flight_id = %s', d)),
          format('23503 fare %s is named by quote %s', df, (SELECT m.quote_ref FROM mine m WHERE cardinality(m.flight_ids) = 2)),
          'deleting a quoted flight: refused (its quoted fare would go with it)') FROM direct;
SELECT is(pg_temp.try(format('DELETE FROM hublink.tsp_fare WHERE fare_id = %s', af)),
          format('23503 fare %s is named by quote %s', af, (SELECT m.quote_ref FROM mine m WHERE cardinality(m.flight_ids) = 1)),
          'deleting a quoted fare: refused') FROM direct;
SELECT is(pg_temp.try(format('UPDATE hublink.tsp_fare SET flight_id = %s, fare_class = ''MOVED'' WHERE fare_id = %s', c, df)),
          format('23503 fare %s is named by quote %s', df, (SELECT m.quote_ref FROM mine m WHERE cardinality(m.flight_ids) = 2)),
          'moving a quoted fare to another flight: refused') FROM direct;
SELECT is((SELECT count(*)::int FROM hublink.tsp_quote q JOIN mine m USING (quote_ref)
            WHERE q.flight_ids = m.flight_ids AND q.fare_ids = m.fare_ids)
          + (SELECT count(*)::int FROM hublink.tsp_fare JOIN fl USING (flight_id, fare_id)), 2 + 3,
          'nothing was lost: both quotes as stored, every flight and fare in place');
SELECT is(pg_temp.try(format('UPDATE hublink.tsp_flight SET seats_sold = seats_sold + 1 WHERE flight_id = %s', a)), 'done',
          'a quoted flight''s seats still change (what a booking does)') FROM direct;

-- Booking reads the segments from the quote's row; the purge takes them with it.
SELECT is((SELECT hublink.tsp_book(jsonb_build_object('travelQuoteReference', m.quote_ref), '2026-04-01 10:10+00') ->> 'outcome'
             FROM mine m WHERE cardinality(m.flight_ids) = 2), 'ACCEPTED', 'the connection books');
SELECT is((SELECT array_agg(s.flight_id ORDER BY s.seq) || array_agg(s.fare_id ORDER BY s.seq)
             FROM hublink.tsp_booking_segment s JOIN hublink.tsp_booking b USING (booking_ref)
            WHERE b.removal_id = 'RMV-2026-C00001'),
          (SELECT m.flight_ids || m.fare_ids FROM mine m WHERE cardinality(m.flight_ids) = 2),
          'the booking took exactly the quoted flights and fares');
CREATE TEMP TABLE purged AS SELECT hublink.purge_removal('RMV-2026-C00001') AS result;
SELECT is((SELECT count(*)::int FROM hublink.tsp_quote_segment s JOIN mine m USING (quote_ref)), 0,
          'the purge takes the quotes and their segments');

SELECT * FROM finish();
ROLLBACK;

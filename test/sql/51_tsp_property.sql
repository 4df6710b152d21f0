-- Property tests of the itinerary search (issue 5 section 5): on a generated schedule (fixed
-- seed) with TIG rules, every itinerary of 150 random quote requests obeys every rule and
-- connection time, and the ranking and expected costs agree with the reference functions.
BEGIN;
SELECT plan(12);
SET LOCAL client_min_messages = warning;
SELECT setseed(0.4242);

INSERT INTO hublink.tsp_country (iso2, iso3, name) VALUES ('GB', 'GBR', 'United Kingdom'), ('NL', 'NLD', 'Netherlands'),
    ('FR', 'FRA', 'France'), ('QA', 'QAT', 'Qatar'), ('NG', 'NGA', 'Nigeria'), ('PK', 'PAK', 'Pakistan'), ('AL', 'ALB', 'Albania')
ON CONFLICT (iso2) DO UPDATE SET iso3 = excluded.iso3;
INSERT INTO hublink.tsp_airport VALUES
    ('LHR', 'London Heathrow', 'London', 'GB', 'Europe/London', 51.47, -0.46),
    ('LGW', 'London Gatwick', 'London', 'GB', 'Europe/London', 51.15, -0.18),
    ('MAN', 'Manchester', 'Manchester', 'GB', 'Europe/London', 53.35, -2.27),
    ('AMS', 'Amsterdam', 'Amsterdam', 'NL', 'Europe/Amsterdam', 52.31, 4.76),
    ('CDG', 'Paris CDG', 'Paris', 'FR', 'Europe/Paris', 49.01, 2.55),
    ('DOH', 'Doha', 'Doha', 'QA', 'Asia/Qatar', 25.27, 51.61),
    ('LOS', 'Lagos', 'Lagos', 'NG', 'Africa/Lagos', 6.58, 3.32),
    ('ABV', 'Abuja', 'Abuja', 'NG', 'Africa/Lagos', 9.01, 7.26),
    ('ISB', 'Islamabad', 'Islamabad', 'PK', 'Asia/Karachi', 33.56, 72.85),
    ('TIA', 'Tirana', 'Tirana', 'AL', 'Europe/Tirane', 41.41, 19.72)
ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_airline VALUES ('BA', 'BAW', 'British Airways', '125'), ('KL', 'KLM', 'KLM', '074'),
    ('AF', 'AFR', 'Air France', '057'), ('QR', 'QTR', 'Qatar Airways', '157'), ('PK', 'PIA', 'PIA', '214')
ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_refund_rule_set VALUES ('P_FLEX', 'flex'), ('P_SEMI', 'semi'), ('P_NONREF', 'none')
ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_refund_rule VALUES ('P_FLEX', 24, 100, NULL), ('P_FLEX', 0, 50, NULL),
    ('P_SEMI', 168, 75, NULL), ('P_SEMI', 96, NULL, 150.00), ('P_NONREF', 0, 0, NULL) ON CONFLICT DO NOTHING;
-- P_SEMI has no rule in force below 96 h: at the expected 72 h a first leg's fare refunds
-- nothing (tsp_refund_amount), while a second leg a day or more later meets the 96 h rule. The
-- search once counted such a gap as a full refund (least() skips NULLs).
INSERT INTO hublink.tsp_min_connection VALUES ('AMS', 50), ('DOH', 120) ON CONFLICT DO NOTHING;

-- 1,500 random flights over a week between the airports, 1-3 fares each.
CREATE TEMP TABLE port AS SELECT iata FROM hublink.tsp_airport
    WHERE iata IN ('LHR', 'LGW', 'MAN', 'AMS', 'CDG', 'DOH', 'LOS', 'ABV', 'ISB', 'TIA');
INSERT INTO hublink.tsp_flight (carrier, flight_number, origin, destination, departs_at, arrives_at, seats_total, seats_sold)
SELECT c, (1000 + g)::text, o, d, dep, dep + make_interval(mins => 60 + (random() * 540)::int), s, (random() * s)::int
  FROM (SELECT g, (ARRAY['BA', 'KL', 'AF', 'QR', 'PK'])[1 + (random() * 4)::int] c,
               (SELECT iata FROM port WHERE g > 0 ORDER BY random() LIMIT 1) o,
               timestamptz '2026-03-16 00:00+00' + make_interval(mins => (random() * 7 * 24 * 12)::int * 5) dep,
               (ARRAY[8, 20, 150])[1 + (random() * 2)::int] s
          FROM generate_series(1, 1500) g) x,
       LATERAL (SELECT iata d FROM port WHERE iata <> x.o AND g > 0 ORDER BY random() LIMIT 1) y;
INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set, change_fee, cancellation_fee, ticketing_deadline_hours, hand_baggage_only)
SELECT f.flight_id, k.cls, 'GBP', k.cls <> 'Q', (ARRAY['P_FLEX', 'P_SEMI', 'P_NONREF'])[k.n], 50, (random() * 100)::int, 24, random() < 0.2
  FROM hublink.tsp_flight f
  JOIN hublink.tsp_airport a ON a.iata = f.origin AND a.iata IN (SELECT iata FROM port)
  CROSS JOIN LATERAL (VALUES (1, 'F'), (2, 'S'), (3, 'Q')) k(n, cls)
 WHERE f.flight_number::int >= 1001 AND random() < 0.7;
INSERT INTO hublink.tsp_fare_price
SELECT fa.fare_id, t.code, round((100 + random() * 900)::numeric, 2)
  FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
  CROSS JOIN (VALUES ('RETURNEE'), ('ESCORT'), ('ADULT')) t(code)
 WHERE fa.refund_rule_set LIKE 'P\_%' AND (t.code = 'ADULT' OR random() < 0.5);

-- TIG rules in force.
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, carrier) VALUES ('CARRIER_EXCLUSION', 'NGA', 'AF');
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, airport) VALUES ('NO_TRANSIT', 'PAK', 'DOH');
INSERT INTO hublink.tsp_tig_rule (kind, destination_country) VALUES ('REFUNDABLE_REQUIRED', 'ALB');
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, amount, currency) VALUES ('COST_LIMIT', 'NGA', 3000.00, 'GBP');
INSERT INTO hublink.tsp_tig_rule (kind, destination_country, hours) VALUES ('NOTIFICATION_PERIOD', 'PAK', 72);

-- 150 random requests.
CREATE TEMP TABLE request AS
SELECT i, o.iata AS origin, d.iata AS dest, c.iso3 AS country, day, returnees, escorts, earliest, asked_at, refundable_only
  FROM generate_series(1, 150) i
  CROSS JOIN LATERAL (SELECT iata FROM port WHERE iata IN ('LHR', 'LGW', 'MAN') AND i > 0 ORDER BY random() LIMIT 1) o
  CROSS JOIN LATERAL (SELECT iata FROM port WHERE iata IN ('LOS', 'ABV', 'ISB', 'TIA') AND i > 0 ORDER BY random() LIMIT 1) d
  JOIN hublink.tsp_airport ap ON ap.iata = d.iata JOIN hublink.tsp_country c ON c.iso2 = ap.country
  CROSS JOIN LATERAL (SELECT date '2026-03-16' + (random() * 6)::int AS day, 1 + (random() < 0.3)::int AS returnees,
                             (random() * 3)::int AS escorts, random() < 0.3 AS refundable_only, i AS j) r
  CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.3 THEN (r.day::timestamp AT TIME ZONE 'Europe/London') + interval '10 hours' END AS earliest,
                             timestamptz '2026-03-15 12:00+00' - make_interval(hours => (random() * 72)::int) AS asked_at) e;
CREATE TEMP TABLE response AS
SELECT r.*, hublink.tsp_quote(jsonb_build_object(
    'returnees', (SELECT jsonb_agg(jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-' || r.i || '-' || g),
                                                      'location', jsonb_build_object('detentionCentreId', 'NONE'))) FROM generate_series(1, r.returnees) g),
    'escortDates', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('escortQuoteReference', 'EQ-' || r.i, 'date', r.day, 'escortCount', r.escorts,
                                                       'earliestDeparture', r.earliest))),
    'departureAirports', jsonb_build_array(r.origin),
    'destination', jsonb_build_object('description', r.dest, 'country', r.country, 'airportCode', r.dest),
    'constraints', jsonb_build_object('refundableOnly', r.refundable_only)), 'RMV-2026-' || lpad(r.i::text, 6, '0'), r.asked_at) AS body
  FROM request r;
-- One row per quoted flight.
CREATE TEMP TABLE leg AS
SELECT r.i, r.origin AS req_origin, r.dest AS req_dest, r.country, r.day, r.returnees, r.escorts, r.earliest, r.asked_at, r.refundable_only,
       q.quote_ref, q.price, q.expected_cost, q.refundable, s.seq, f.*, fa.refundable AS fare_refundable
  FROM response r JOIN hublink.tsp_quote q ON q.removal_id = 'RMV-2026-' || lpad(r.i::text, 6, '0')
  JOIN hublink.tsp_quote_segment s USING (quote_ref) JOIN hublink.tsp_flight f USING (flight_id)
  JOIN hublink.tsp_fare fa ON fa.fare_id = s.fare_id;

SELECT cmp_ok((SELECT count(DISTINCT quote_ref)::int FROM leg), '>', 50, 'the random requests produced quotes to check');
SELECT is_empty($$SELECT quote_ref FROM leg a JOIN leg b USING (quote_ref)
                  WHERE a.seq = 1 AND b.seq = 2 AND (b.origin <> a.destination
                     OR b.departs_at < a.arrives_at + make_interval(mins => coalesce((SELECT minutes FROM hublink.tsp_min_connection WHERE airport = a.destination),
                                                                                   hublink.tsp_setting('default_min_connection_minutes')::int))
                     OR b.departs_at > a.arrives_at + make_interval(mins => hublink.tsp_setting('max_connection_minutes')::int))$$,
                'every connection respects the minimum connection time of its airport and the longest wait');
SELECT is_empty($$SELECT quote_ref FROM leg WHERE seats_total - seats_sold < returnees + escorts$$, 'every flight has a seat for every traveller');
SELECT is_empty($$SELECT quote_ref FROM leg l WHERE l.carrier IN (SELECT carrier FROM hublink.tsp_tig_rule WHERE kind = 'CARRIER_EXCLUSION' AND destination_country = l.country)$$,
                'no excluded carrier');
SELECT is_empty($$SELECT quote_ref FROM leg l WHERE l.seq = 2 AND l.origin IN (SELECT airport FROM hublink.tsp_tig_rule WHERE kind = 'NO_TRANSIT' AND destination_country = l.country)$$,
                'no connection at a forbidden transit airport');
SELECT is_empty($$SELECT quote_ref FROM leg l WHERE NOT l.fare_refundable AND (l.refundable_only OR l.country = 'ALB')$$,
                'only refundable fares where the request or the TIG requires them');
SELECT is_empty($$SELECT DISTINCT quote_ref FROM leg l WHERE l.country = 'NGA' AND l.price > 3000$$, 'the TIG cost limit holds');
SELECT is_empty($$SELECT quote_ref FROM leg l WHERE l.seq = 1 AND (l.origin <> l.req_origin OR
                    l.departs_at < greatest(l.day::timestamp AT TIME ZONE 'Europe/London', l.earliest) OR l.departs_at >= (l.day + 1)::timestamp AT TIME ZONE 'Europe/London'
                    OR (l.country = 'PAK' AND l.departs_at < l.asked_at + interval '72 hours'))$$,
                'first departures within the date, after earliestDeparture and the notification period');
SELECT is_empty($$SELECT quote_ref FROM leg l WHERE l.seq = (SELECT max(seq) FROM leg x WHERE x.quote_ref = l.quote_ref) AND l.destination <> l.req_dest$$,
                'every itinerary ends at the destination');
-- The search computes prices and refunds inline; the reference functions must agree to the penny.
SELECT is_empty($$
    SELECT q.quote_ref FROM hublink.tsp_quote q
      JOIN LATERAL (
          SELECT sum(hublink.tsp_fare_amount(s.fare_id, t ->> 'type')) AS price,
                 sum(hublink.tsp_fare_amount(s.fare_id, t ->> 'type')
                     - hublink.tsp_refund_amount(s.fare_id, hublink.tsp_fare_amount(s.fare_id, t ->> 'type'),
                           72 + extract(epoch FROM f.departs_at - first.departs_at) / 3600)) AS loss
            FROM hublink.tsp_quote_segment s JOIN hublink.tsp_flight f USING (flight_id)
            CROSS JOIN jsonb_array_elements(q.travellers) t
            CROSS JOIN LATERAL (SELECT f1.departs_at FROM hublink.tsp_quote_segment s1 JOIN hublink.tsp_flight f1 USING (flight_id)
                                 WHERE s1.quote_ref = q.quote_ref AND s1.seq = 1) first
           WHERE s.quote_ref = q.quote_ref) c ON true
     WHERE q.removal_id LIKE 'RMV-2026-%' AND (q.price <> c.price OR q.expected_cost <> round(c.price + 0.4 * c.loss, 2))$$,
    'every price and expected cost equals price + 0.4 x (price - refunds 72 h before departure) by the reference functions');
SELECT is_empty($$SELECT r.i FROM response r, LATERAL (SELECT array_agg((q ->> 'travelQuoteReference') ORDER BY n) refs FROM jsonb_array_elements(r.body -> 'quotes') WITH ORDINALITY x(q, n)) a
                  WHERE a.refs IS NOT NULL AND a.refs <> (SELECT array_agg(quote_ref ORDER BY expected_cost, price, quote_ref) FROM hublink.tsp_quote WHERE quote_ref = ANY (a.refs))$$,
                'quotes are ranked by expected cost');
SELECT is_empty($$SELECT r.i FROM response r WHERE hublink.validate_message(jsonb_build_object('messageId', gen_random_uuid(), 'messageType', 'TravelQuoteResponse',
                  'schemaVersion', '1.0', 'sentAt', '2026-02-18T14:20:03+00:00', 'sender', 'TSP', 'removalId', 'RMV-2026-000001', 'body', r.body)) <> '[]'$$,
                'every response is valid against its schema');

SELECT * FROM finish();
ROLLBACK;

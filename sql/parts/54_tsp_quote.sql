-- Travel provider (tsp), issue 5 section 2: quoting. hublink.tsp_quote() turns a
-- TravelQuoteRequest body into a TravelQuoteResponse body and keeps what it quoted, so that a
-- booking request can take exactly that itinerary and fare.

CREATE SEQUENCE hublink.tsp_quote_serial;
COMMENT ON SEQUENCE hublink.tsp_quote_serial IS 'Numbers quote responses; quote references are prefix, serial, -n.';

CREATE TABLE hublink.tsp_quote (
    quote_ref         text PRIMARY KEY,
    removal_id        text,
    escort_quote_ref  text,
    travel_date       date NOT NULL,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    currency          char(3) NOT NULL,
    price             numeric(14,2) NOT NULL,
    expected_cost     numeric(14,2) NOT NULL,
    refundable        boolean NOT NULL,
    destination_country char(3),
    travellers        jsonb NOT NULL,
    quote             jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'QUOTED' CHECK (status IN ('QUOTED', 'BOOKED')),
    -- The quote's flights and fares in travel order, in the quote's own row: one audited row
    -- per quote (a row per segment cost an audit row, a primary key and three foreign-key
    -- checks each; docs/performance.md "Quotes, fifth pass"). Segment n is "Sn".
    flight_ids        bigint[] NOT NULL,
    fare_ids          bigint[] NOT NULL,
    CONSTRAINT tsp_quote_segments_shape CHECK (
        array_ndims(flight_ids) = 1 AND array_lower(flight_ids, 1) = 1
        AND cardinality(flight_ids) BETWEEN 1 AND 2
        AND array_ndims(fare_ids) = 1 AND array_lower(fare_ids, 1) = 1
        AND cardinality(fare_ids) = cardinality(flight_ids)
        AND array_position(flight_ids, NULL) IS NULL AND array_position(fare_ids, NULL) IS NULL)
);
COMMENT ON TABLE hublink.tsp_quote IS 'A travel quote the provider issued, with what the booking needs.';
COMMENT ON COLUMN hublink.tsp_quote.quote_ref IS 'travelQuoteReference.';
COMMENT ON COLUMN hublink.tsp_quote.removal_id IS 'The removal (conversation) it was quoted for, when known.';
COMMENT ON COLUMN hublink.tsp_quote.escort_quote_ref IS 'escortQuoteReference of the escort date, for escorted removals.';
COMMENT ON COLUMN hublink.tsp_quote.travel_date IS 'The UK date quoted for.';
COMMENT ON COLUMN hublink.tsp_quote.created_at IS 'When it was quoted.';
COMMENT ON COLUMN hublink.tsp_quote.expires_at IS 'conditions.expiresAt: booking requests after it are declined QUOTE_EXPIRED.';
COMMENT ON COLUMN hublink.tsp_quote.currency IS 'Currency of price and expected_cost.';
COMMENT ON COLUMN hublink.tsp_quote.price IS 'Total price, all travellers.';
COMMENT ON COLUMN hublink.tsp_quote.expected_cost IS 'price + P(cancel) x loss on cancellation at the expected time: the ranking key.';
COMMENT ON COLUMN hublink.tsp_quote.refundable IS 'True when every fare is refundable.';
COMMENT ON COLUMN hublink.tsp_quote.destination_country IS 'Destination country (alpha-3), for quotas.';
COMMENT ON COLUMN hublink.tsp_quote.travellers IS 'Array of {traveller: travellerRef, type: traveller type}, in quote order.';
COMMENT ON COLUMN hublink.tsp_quote.quote IS 'The quote object as sent in the response.';
COMMENT ON COLUMN hublink.tsp_quote.status IS 'QUOTED, or BOOKED once a booking took it.';
COMMENT ON COLUMN hublink.tsp_quote.flight_ids IS
    'The flights of the quote in travel order (segment n is Sn; hublink.tsp_quote_segment lists them): 1 or 2, no NULL.';
COMMENT ON COLUMN hublink.tsp_quote.fare_ids IS
    'The fare quoted on each flight of flight_ids, at the same position; each belongs to its flight.';
COMMENT ON CONSTRAINT tsp_quote_segments_shape ON hublink.tsp_quote IS
    'flight_ids and fare_ids: one dimension from 1, one or two segments, as many fares as flights, no NULL.';
CREATE INDEX tsp_quote_removal ON hublink.tsp_quote (removal_id);
COMMENT ON INDEX hublink.tsp_quote_removal IS 'A removal''s quotes (its purge and erasure, hublink.purge_removal).';

-- flight_ids and fare_ids replace the foreign keys of the old row per segment: a quoted fare
-- must exist and be a fare of its flight, checked once per statement (tsp_quote writes all the
-- quotes of a request in one INSERT); a quoted fare cannot be deleted, or its id or flight
-- changed, while a quote names it (the foreign keys' NO ACTION). That keeps the quoted flights
-- too: a flight is deleted or renumbered only with its fares (tsp_fare's foreign key cascades
-- deletes and refuses a changed id), and a quoted flight always has its quoted fare.
CREATE FUNCTION hublink.tsp_quote_check_segments() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    -- Lock the quoted fares as the foreign keys did (FOR KEY SHARE): a fare deleted by another
    -- transaction still open would pass the check below, and that transaction's own check
    -- (tsp_quoted_keep) cannot see this quote before it commits; with the lock the delete
    -- waits for this commit and then sees the quote (test/sql/54_tsp_quote_lock.sh).
    PERFORM FROM hublink.tsp_fare fa
     WHERE fa.fare_id IN (SELECT u.fare_id FROM new_rows n CROSS JOIN LATERAL unnest(n.fare_ids) u(fare_id))
     ORDER BY fa.fare_id FOR KEY SHARE OF fa;
    SELECT n.quote_ref, s.seq, s.flight_id, s.fare_id INTO bad
      FROM new_rows n
      CROSS JOIN LATERAL unnest(n.flight_ids, n.fare_ids) WITH ORDINALITY s(flight_id, fare_id, seq)
     WHERE NOT EXISTS (SELECT FROM hublink.tsp_fare fa WHERE fa.fare_id = s.fare_id AND fa.flight_id = s.flight_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'quote % segment S%: fare % is not a fare of flight %', bad.quote_ref, bad.seq, bad.fare_id, bad.flight_id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Every segment of a quote names an existing flight and one of that flight''s fares.',
                  HINT = 'Quote with hublink.tsp_quote, which takes flights and fares from the schedule.';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_quote_check_segments() IS
    'Statement trigger on tsp_quote: every (flight_ids[n], fare_ids[n]) names an existing fare of that flight.';
CREATE TRIGGER tsp_quote_check_segments_insert AFTER INSERT ON hublink.tsp_quote
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_quote_check_segments();
COMMENT ON TRIGGER tsp_quote_check_segments_insert ON hublink.tsp_quote IS
    'The quoted fares exist and belong to their flights (in place of foreign keys on array elements).';
CREATE TRIGGER tsp_quote_check_segments_update AFTER UPDATE ON hublink.tsp_quote
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_quote_check_segments();
COMMENT ON TRIGGER tsp_quote_check_segments_update ON hublink.tsp_quote IS
    'The quoted fares exist and belong to their flights (in place of foreign keys on array elements).';

CREATE FUNCTION hublink.tsp_quoted_keep() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
-- The fares that are gone (deleted, or changed by an update; an update of availability, the
-- usual one, finds none by index look-ups and stops there), then one scan of tsp_quote only
-- when there are some: no index on the arrays is kept on the quoting path.
DECLARE
    gone bigint[];
    bad  record;
BEGIN
    gone := ARRAY(SELECT o.fare_id FROM old_rows o
                   WHERE TG_OP = 'DELETE' OR NOT EXISTS (SELECT FROM hublink.tsp_fare f
                                                          WHERE f.fare_id = o.fare_id AND f.flight_id = o.flight_id));
    IF cardinality(gone) = 0 THEN
        RETURN NULL;
    END IF;
    SELECT q.quote_ref, x.id INTO bad
      FROM hublink.tsp_quote q CROSS JOIN LATERAL unnest(q.fare_ids) x(id)
     WHERE x.id = ANY (gone) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'fare % is named by quote %', bad.id, bad.quote_ref
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'A quote keeps the flights and fares it quoted, so that its booking takes exactly them.',
                  HINT = 'Purge the removal''s quotes first (hublink.purge_removal), or make the fare unavailable or cancel the flight instead.';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_quoted_keep() IS
    'Statement trigger on tsp_fare: refuses to delete a fare (also by a flight''s cascade), or change its id or flight, '
    'while a tsp_quote names it.';
CREATE TRIGGER tsp_quoted_keep_delete AFTER DELETE ON hublink.tsp_fare
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_quoted_keep();
COMMENT ON TRIGGER tsp_quoted_keep_delete ON hublink.tsp_fare IS 'No quoted fare is deleted (hublink.tsp_quoted_keep).';
CREATE TRIGGER tsp_quoted_keep_update AFTER UPDATE ON hublink.tsp_fare
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_quoted_keep();
COMMENT ON TRIGGER tsp_quoted_keep_update ON hublink.tsp_fare IS 'No quoted fare''s id or flight changes (hublink.tsp_quoted_keep).';

CREATE VIEW hublink.tsp_quote_segment AS
    SELECT q.quote_ref, 'S' || s.seq AS segment_id, s.seq::integer AS seq, s.flight_id, s.fare_id
      FROM hublink.tsp_quote q
      CROSS JOIN LATERAL unnest(q.flight_ids, q.fare_ids) WITH ORDINALITY s(flight_id, fare_id, seq);
COMMENT ON VIEW hublink.tsp_quote_segment IS
    'The flights and fares of a quote, one row per PLANE segment (read from tsp_quote.flight_ids and fare_ids).';
COMMENT ON COLUMN hublink.tsp_quote_segment.quote_ref IS 'The quote.';
COMMENT ON COLUMN hublink.tsp_quote_segment.segment_id IS 'segmentId in the quote (S1, S2).';
COMMENT ON COLUMN hublink.tsp_quote_segment.seq IS 'Travel order.';
COMMENT ON COLUMN hublink.tsp_quote_segment.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_quote_segment.fare_id IS 'The fare quoted on it.';

CREATE FUNCTION hublink.tsp_segment_json(flight bigint, segment_id text, travellers jsonb)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
-- PL/pgSQL for its kept plan, as tsp_itineraries (a quote calls it per flight).
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'segmentId', segment_id,
        'segmentType', 'PLANE',
        'providerName', left(a.name, 100),
        'carrierCode', f.carrier,
        'flightNumber', f.flight_number,
        'startPoint', jsonb_build_object('airportCode', f.origin, 'terminal', f.origin_terminal, 'name', left(o.name, 200)),
        'endPoint', jsonb_build_object('airportCode', f.destination, 'terminal', f.destination_terminal, 'name', left(d.name, 200)),
        'startTime', hublink.tsp_local_time(f.departs_at, o.tz),
        'endTime', hublink.tsp_local_time(f.arrives_at, d.tz),
        'travellers', travellers))
      INTO result
      FROM hublink.tsp_flight f
      JOIN hublink.tsp_airline a ON a.iata = f.carrier
      JOIN hublink.tsp_airport o ON o.iata = f.origin
      JOIN hublink.tsp_airport d ON d.iata = f.destination
     WHERE f.flight_id = flight;
    RETURN result;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_segment_json(bigint, text, jsonb) IS
    'The itinerarySegment of a flight: airline name, airports with terminals and names, local '
    'start and end times with their offsets, the travellers on it.';

-- PL/pgSQL: one simple expression, evaluated without a plan of its own (a SQL function that pins
-- search_path is planned again in every query that calls it).
CREATE FUNCTION hublink.tsp_money(amount numeric, currency text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN jsonb_build_object('amount', to_char(amount, 'FM999999999990.00'), 'currency', currency);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_money(numeric, text) IS 'A money object: amount with two decimals as a string, and currency.';

CREATE FUNCTION hublink.tsp_origin_airports(returnees jsonb, departure_airports jsonb)
    RETURNS char(3)[]
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    served char(3)[];
    wanted char(3)[];
BEGIN
    -- Airports that serve every returnee's location (they travel together).
    SELECT array_agg(airport) INTO served FROM (
        SELECT la.airport
          FROM jsonb_array_elements(returnees) r(x)
          CROSS JOIN LATERAL (VALUES (r.x -> 'location')) l(loc)
          JOIN hublink.tsp_location_airport la ON
               (la.location_kind = 'DETENTION_CENTRE' AND la.location_id = l.loc ->> 'detentionCentreId')
            OR (la.location_kind = 'PRISON' AND la.location_id = l.loc ->> 'prisonId')
            OR (la.location_kind = 'POSTCODE_AREA'
                AND la.location_id = substring(upper(l.loc #>> '{address,postcode}') FROM '^[A-Z]+'))
            OR (la.location_kind = 'TOWN' AND la.location_id = upper(l.loc #>> '{address,town}'))
         GROUP BY la.airport
        HAVING count(DISTINCT r.x) = jsonb_array_length(returnees)) s;
    SELECT array_agg(a.value) INTO wanted FROM jsonb_array_elements_text(departure_airports) a;
    IF served IS NULL THEN
        RETURN coalesce(wanted, '{}');
    ELSIF wanted IS NULL THEN
        RETURN served;
    END IF;
    RETURN ARRAY(SELECT unnest(served) INTERSECT SELECT unnest(wanted));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_origin_airports(jsonb, jsonb) IS
    'Departure airports for a quote: those serving every returnee''s location '
    '(tsp_location_airport), narrowed to departureAirports when the request gives them; '
    'departureAirports alone when no location is mapped.';

CREATE TYPE hublink.tsp_itinerary AS (flight1 bigint, fare1 bigint, flight2 bigint, fare2 bigint,
    currency char(3), refundable boolean, hand_baggage_only boolean, departs_at timestamptz,
    arrives_at timestamptz, price numeric, expected_cost numeric, seats_free integer);
COMMENT ON TYPE hublink.tsp_itinerary IS
    'One candidate of the itinerary search: first flight and fare, second (NULL when direct), '
    'currency, refundability, baggage, first departure, last arrival, price and expected cost for '
    'the travellers, and the seats left on its fullest flight.';

CREATE FUNCTION hublink.tsp_itineraries(
        origins char(3)[], destinations char(3)[], window_start timestamptz, window_end timestamptz,
        returnees integer, escorts integer, excluded_carriers text[], no_transit char(3)[],
        refundable_only boolean, cancel_probability numeric, cancel_hours_before numeric)
    RETURNS SETOF hublink.tsp_itinerary
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
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
               a.seats_total - a.seats_sold AS seats_free, NULL::timestamptz AS departs2
          FROM first_leg a WHERE a.destination = ANY (destinations)
        UNION ALL
        SELECT a.flight_id, b.flight_id, a.departs_at, b.arrives_at,
               least(a.seats_total - a.seats_sold, b.seats_total - b.seats_sold), b.departs_at
          FROM hub a
          JOIN hublink.tsp_flight b ON b.origin = a.destination
               AND b.departs_at >= a.ready_at AND b.departs_at <= a.last_at
         WHERE b.destination = ANY (destinations)
           AND b.status = 'SCHEDULED' AND b.carrier <> ALL (excluded_carriers)),
    -- Price and loss of every fare on every leg: the loss if the removal is cancelled at the
    -- expected time (cancel_hours_before the first departure) is what the refund rules keep.
    -- Each flight used, read once (a first flight pairs with many second flights), its fares and
    -- their prices from its one row of tsp_flight_fares (one index look-up per flight, not one
    -- per fare and per price list: docs/performance.md "Quotes, sixth pass"). Written inline
    -- (not hublink.tsp_fare_amount: functions that pin search_path are never inlined); one
    -- fallback level, as the shipped traveller types have.
    fallback AS MATERIALIZED (
        SELECT (SELECT t.fallback FROM hublink.tsp_traveller_type t WHERE t.code = 'RETURNEE') AS ret,
               (SELECT t.fallback FROM hublink.tsp_traveller_type t WHERE t.code = 'ESCORT') AS esc),
    fare_info AS MATERIALIZED (
        SELECT s.flight_id, fa.fare_id, fa.currency, fa.refundable, fa.hand_baggage_only,
               fa.refund_rule_set, fa.cancellation_fee,
               coalesce(fa.price_amounts[array_position(fa.price_types, 'RETURNEE')],
                        fa.price_amounts[array_position(fa.price_types, fb.ret)]) AS ret,
               coalesce(fa.price_amounts[array_position(fa.price_types, 'ESCORT')],
                        fa.price_amounts[array_position(fa.price_types, fb.esc)]) AS esc
          FROM (SELECT DISTINCT x.flight_id FROM routes r
                 CROSS JOIN LATERAL (VALUES (r.flight1), (r.flight2)) x(flight_id)
                 WHERE x.flight_id IS NOT NULL) u
          JOIN hublink.tsp_flight_fares s ON s.flight_id = u.flight_id
          CROSS JOIN fallback fb
          CROSS JOIN LATERAL unnest(s.fares) fa
         WHERE fa.available AND (fa.refundable OR NOT refundable_only)),
    leg_fare AS (
        SELECT r.flight1, r.flight2, r.departs_at, r.arrives_at, r.seats_free, leg.seq, leg.flight_id, fi.fare_id,
               fi.currency, fi.refundable, fi.hand_baggage_only, p.price,
               p.price - returnees * greatest(0, coalesce(least(fi.ret, coalesce(round(fi.ret * rule.refund_percent / 100, 2), rule.refund_amount, 0)), 0) - fi.cancellation_fee)
                       - escorts * greatest(0, coalesce(least(fi.esc, coalesce(round(fi.esc * rule.refund_percent / 100, 2), rule.refund_amount, 0)), 0) - fi.cancellation_fee) AS loss
          FROM routes r
          -- each leg's departure carried from routes, not looked up again
          CROSS JOIN LATERAL (VALUES (1, r.flight1, r.departs_at), (2, r.flight2, r.departs2)) leg(seq, flight_id, departs_at)
          JOIN fare_info fi ON fi.flight_id = leg.flight_id
          CROSS JOIN LATERAL (SELECT CASE WHEN returnees = 0 THEN 0 ELSE returnees * fi.ret END
                                   + CASE WHEN escorts = 0 THEN 0 ELSE escorts * fi.esc END AS price) p
          -- The refund rule in force at the expected cancellation time, as in tsp_refund_amount;
          -- none in force (the time is below the set's lowest threshold) refunds nothing: the
          -- ", 0" above, since least() skips NULLs and would count a full refund.
          LEFT JOIN LATERAL (SELECT rr.refund_percent, rr.refund_amount FROM hublink.tsp_refund_rule rr
                              WHERE rr.rule_set = fi.refund_rule_set
                                AND rr.from_hours_before <= cancel_hours_before
                                    + extract(epoch FROM leg.departs_at - r.departs_at) / 3600
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
           -- (IS NOT DISTINCT FROM: a flight with no refundable fare has r1 NULL, and "=" dropped
           -- its non-refundable fare)
           AND (b.flight2 IS NOT NULL OR c.refundable = (c.fare1 IS NOT DISTINCT FROM b.r1)))
    SELECT DISTINCT ON (c.flight1, c.flight2, c.refundable)
           c.flight1, c.fare1, c.flight2, c.fare2, c.currency, c.refundable, c.hand_baggage_only,
           c.departs_at, c.arrives_at, c.price,
           round(c.price + cancel_probability * c.loss, 2) AS expected_cost, c.seats_free
      FROM combined c
     ORDER BY c.flight1, c.flight2, c.refundable, c.price + cancel_probability * c.loss, c.price, c.fare1, c.fare2;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_itineraries(char(3)[], char(3)[], timestamptz, timestamptz, integer, integer, text[], char(3)[], boolean, numeric, numeric) IS
    'The itinerary search: direct and one-connection itineraries leaving origins in '
    '[window_start, window_end) for destinations, with the seats left (seats_free: the caller '
    'asks for one seat per traveller, and can tell "no seats" from "no flights"), minimum '
    'connection times, no excluded carrier and no forbidden transit airport; for each itinerary '
    'and refundability, the fare combination (same currency) with the least expected cost = '
    'price + cancel_probability x (price - refunds if cancelled cancel_hours_before the first departure).';

CREATE FUNCTION hublink.tsp_conditions_text(fare1 bigint, fare2 bigint, q_price numeric,
                                            q_expected numeric, q_currency text,
                                            p_cancel numeric, q_hours numeric, q_rank integer)
    RETURNS text
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $f$
-- PL/pgSQL for its kept plan, as tsp_itineraries (called once per quote).
DECLARE
    result text;
BEGIN
    SELECT format('Rank %s by expected cost. Price %s %s; expected cost %s %s (price + %s x loss if '
                  'cancelled %s h before departure). ', q_rank, q_currency, to_char(q_price, 'FM999999999990.00'),
                  q_currency, to_char(q_expected, 'FM999999999990.00'), p_cancel, q_hours)
        || string_agg(format('%s%s class %s: %s, change fee %s %s, cancellation fee %s %s per ticket%s.',
                             f.carrier, f.flight_number, fa.fare_class,
                             CASE WHEN fa.refundable THEN 'refundable (' || fa.refund_rule_set || ')' ELSE 'non-refundable' END,
                             fa.currency, to_char(fa.change_fee, 'FM999999999990.00'),
                             fa.currency, to_char(fa.cancellation_fee, 'FM999999999990.00'),
                             CASE WHEN fa.baggage_kg IS NOT NULL THEN ', ' || fa.baggage_kg || ' kg baggage' ELSE '' END),
                      ' ' ORDER BY f.departs_at)
      INTO result
      FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
     WHERE fa.fare_id IN (fare1, fare2);
    RETURN result;
END;
$f$;
COMMENT ON FUNCTION hublink.tsp_conditions_text(bigint, bigint, numeric, numeric, text, numeric, numeric, integer) IS
    'conditions.notes of a quote: its rank, price and expected cost, and each fare''s refundability, fees and baggage.';

-- The derived fares a quote was priced from disagreed with the price tables (docs/tsp.md "The
-- fares of a flight, in one row"): only the owner can cause it, and tsp_quote leaves such
-- itineraries out; the alert says which flights' rows to rebuild.
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('fare_row_drift', 'critical', 'tsp',
     'The itinerary search priced an itinerary from a row of hublink.tsp_flight_fares that disagrees '
     'with tsp_fare and tsp_fare_price (detail: flights); hublink.tsp_quote left it out of its answer. '
     'Only the extension''s owner can write that table past its triggers (replica mode, or from inside '
     'another trigger): find who did, then rebuild the rows with hublink.tsp_flight_fares_refresh '
     '(docs/tsp.md "The fares of a flight, in one row").');

-- Those of these flights whose derived row differs in any way from the exact derivation
-- (hublink.tsp_flight_fares_of): a fare id, flag, refund rule, fee or price the search read is
-- not the source tables'. Called by tsp_quote once per date with the flights of the itineraries
-- it is about to return only (a few flights, one index look-up each), inside the same statement
-- as the search, so both read one snapshot (docs/tsp.md "The fares of a flight, in one row").
CREATE FUNCTION hublink.tsp_flight_fares_stale(flights bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
-- PL/pgSQL for its kept plan (called once per quoted date), as tsp_itineraries.
BEGIN
    IF coalesce(cardinality(array_remove(flights, NULL)), 0) = 0 THEN
        RETURN '{}';  -- a date with nothing chosen: no derivation to plan
    END IF;
    RETURN (SELECT coalesce(array_agg(u.id ORDER BY u.id), '{}')
              FROM (SELECT DISTINCT x.id FROM unnest(flights) x(id) WHERE x.id IS NOT NULL) u
              LEFT JOIN hublink.tsp_flight_fares s ON s.flight_id = u.id
              LEFT JOIN hublink.tsp_flight_fares_of(flights) c ON c.flight_id = u.id
             WHERE s.fares IS DISTINCT FROM c.fares);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_stale(bigint[]) IS
    'Those of these flights whose tsp_flight_fares row (or its absence) differs from hublink.tsp_flight_fares_of, '
    'the exact derivation from tsp_fare and tsp_fare_price; empty when none. Internal: tsp_quote calls it on the '
    'flights of the itineraries it returns.';
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_stale(bigint[]) FROM PUBLIC;

-- Raises fare_row_drift for those of these flights whose derived row really differs from the
-- source tables, computed here: no caller can raise a false alert (SECURITY DEFINER, for
-- hublink.raise_alert; internal, only tsp_quote calls it). A mismatch that is not drift (a
-- traveller type with a deeper fallback chain than the search follows) raises nothing.
-- Once per drift episode, not once per request while it lasts: an episode is one stale row
-- version of a flight (its tsp_flight_fares row's xmin and ctid: the transaction that wrote it
-- and where, which together tell apart even two versions written by one transaction); a rebuild
-- writes a new version, so a drift after it is a new episode. Only stale rows no fare_row_drift
-- alert named yet are alerted.
-- It never waits (review of 8 December 2026): a quote meeting an episode already alerted returns
-- after one read, with no lock; requests racing to alert a new episode take a transaction
-- advisory lock with pg_try_advisory_xact_lock, and the one that does not get it returns at
-- once, since the holder is alerting the drift now (if the holder rolls back, the next quote
-- meeting the still unnamed row alerts it). A blocking lock, held to the end of each quote's
-- transaction, serialized quotes across appliers for the whole drift and deadlocked a quote
-- followed by an UPDATE of tsp_flight with that UPDATE followed by a quote.
CREATE FUNCTION hublink.tsp_flight_fares_drift_alert(flights bigint[]) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stale    bigint[] := hublink.tsp_flight_fares_stale(flights);
    versions jsonb;
    attempt  integer;
BEGIN
    IF cardinality(stale) = 0 THEN
        RETURN NULL;
    END IF;
    -- Twice at most: without a lock (an episode alerted already ends here), then, holding the
    -- lock, again in a statement of its own (its snapshot sees an alert committed meanwhile).
    FOR attempt IN 1 .. 2 LOOP
        SELECT jsonb_agg(jsonb_build_object('flight', s.flight_id, 'row_version', s.xmin::text || ':' || s.ctid::text) ORDER BY s.flight_id)
          INTO versions
          FROM hublink.tsp_flight_fares s
         WHERE s.flight_id = ANY (stale)
           AND NOT EXISTS (SELECT FROM hublink.alert a
                            WHERE a.kind = 'fare_row_drift'
                              AND a.detail -> 'rows' @> jsonb_build_array(jsonb_build_object('flight', s.flight_id,
                                                                                             'row_version', s.xmin::text || ':' || s.ctid::text)));
        -- A stale flight without a row (its row deleted past the triggers) is named by flight alone.
        versions := coalesce(versions, '[]') || coalesce((
            SELECT jsonb_agg(jsonb_build_object('flight', u.id, 'row_version', NULL) ORDER BY u.id)
              FROM unnest(stale) u(id)
             WHERE NOT EXISTS (SELECT FROM hublink.tsp_flight_fares s WHERE s.flight_id = u.id)
               AND NOT EXISTS (SELECT FROM hublink.alert a
                                WHERE a.kind = 'fare_row_drift' AND a.acknowledged_at IS NULL
                                  AND a.detail -> 'rows' @> jsonb_build_array(jsonb_build_object('flight', u.id)))), '[]');
        IF jsonb_array_length(versions) = 0 THEN
            RETURN NULL;  -- this episode was alerted already
        END IF;
        IF attempt = 1 AND NOT pg_try_advisory_xact_lock(pg_catalog.hashtext('hublink.fare_row_drift')) THEN
            RETURN NULL;  -- another request is alerting a drift now: never wait for it
        END IF;
    END LOOP;
    RETURN hublink.raise_alert('fare_row_drift',
        format('%s flight(s) priced from a stale row of tsp_flight_fares: itineraries left out of quotes until it is rebuilt',
               jsonb_array_length(versions)),
        NULL, jsonb_build_object('flights', (SELECT jsonb_agg(v -> 'flight') FROM jsonb_array_elements(versions) v),
                                 'rows', versions));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_drift_alert(bigint[]) IS
    'Raises a fare_row_drift alert naming those of these flights whose tsp_flight_fares row differs from '
    'tsp_fare and tsp_fare_price (hublink.tsp_flight_fares_stale), once per drift episode: a stale row version '
    '(detail rows: flight and row_version, its xmin:ctid) already named by a fare_row_drift alert is not alerted again. '
    'Never waits for a lock: an episode already alerted returns without one, and a request racing another to alert '
    'a new one returns if it cannot take the advisory lock at once. Returns the '
    'alert_id, NULL when nothing new is stale (or another request is alerting it). Internal: tsp_quote calls it.';
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_drift_alert(bigint[]) FROM PUBLIC;

CREATE FUNCTION hublink.tsp_quote(request jsonb, removal_id text DEFAULT NULL,
                                  at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- The settings of a quote in one read (a call of tsp_setting per setting cost more than the
    -- read: docs/performance.md "Quotes, seventh pass"); a missing one is still tsp_setting's
    -- error, raised in the same order as before (value is NOT NULL, so NULL here means missing).
    cfg          jsonb := (SELECT jsonb_object_agg(c.key, c.value) FROM hublink.tsp_config c
                            WHERE c.key IN ('date_time_zone', 'cancel_probability', 'expected_cancel_hours_before',
                                            'quotes_per_date', 'offer_choice', 'quote_validity_minutes',
                                            'quote_reference_prefix'));
    origins      char(3)[] := hublink.tsp_origin_airports(request -> 'returnees', request -> 'departureAirports');
    dests        char(3)[];
    dest_country char(3) := request #>> '{destination,country}';
    zone         text := coalesce(cfg ->> 'date_time_zone', hublink.tsp_setting('date_time_zone'));
    p_cancel     numeric := coalesce(cfg ->> 'cancel_probability', hublink.tsp_setting('cancel_probability'))::numeric;
    h_cancel     numeric := coalesce(cfg ->> 'expected_cancel_hours_before', hublink.tsp_setting('expected_cancel_hours_before'))::numeric;
    per_date     integer := coalesce(cfg ->> 'quotes_per_date', hublink.tsp_setting('quotes_per_date'))::int;
    choice       boolean := coalesce(cfg ->> 'offer_choice', hublink.tsp_setting('offer_choice'))::boolean;
    validity     interval := make_interval(mins => coalesce(cfg ->> 'quote_validity_minutes', hublink.tsp_setting('quote_validity_minutes'))::int);
    prefix       text := coalesce(cfg ->> 'quote_reference_prefix', hublink.tsp_setting('quote_reference_prefix'))
                         || nextval('hublink.tsp_quote_serial') || '-';
    -- The destination's cost limits (TIG COST_LIMIT rules), read once, not once per candidate.
    cost_cur     char(3)[];
    cost_amt     numeric[];
    n_ret        integer := jsonb_array_length(request -> 'returnees');
    excluded     text[];
    no_transit   char(3)[];
    refund_only  boolean;
    notice_hours integer;
    limit_amount numeric;
    limit_cur    text;
    d            record;
    it           record;
    quotes       jsonb := '[]';
    problems     text[] := '{}';
    codes        text[] := '{}';
    travellers   jsonb;
    n            integer := 0;
    k            integer;
    earliest     timestamptz;
    qref         text;
    q            jsonb;
    segs         jsonb;
    costs        jsonb;
    dropped      integer;
    drift_flights bigint[] := '{}';
    expires      timestamptz;
    quota_left   integer;
    n_cands      bigint;
    n_seated     bigint;
    -- The quotes' rows, written by one INSERT once every date is quoted.
    new_quotes   hublink.tsp_quote[] := '{}';
BEGIN
    IF request #>> '{destination,airportCode}' IS NOT NULL THEN
        dests := ARRAY[request #>> '{destination,airportCode}'];
    ELSE
        SELECT array_agg(a.iata) INTO dests FROM hublink.tsp_airport a
          JOIN hublink.tsp_country c ON c.iso2 = a.country WHERE c.iso3 = dest_country;
    END IF;

    -- The Travel Information Guide for this destination, merged with the request's constraints.
    SELECT array_agg(DISTINCT x) INTO excluded FROM (
        SELECT jsonb_array_elements_text(coalesce(request #> '{constraints,excludedCarriers}', '[]')) x
        UNION SELECT r.carrier FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'CARRIER_EXCLUSION' AND coalesce(r.destination_country, dest_country) = dest_country) s;
    SELECT array_agg(DISTINCT x) INTO no_transit FROM (
        SELECT r.airport x FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'NO_TRANSIT' AND r.airport IS NOT NULL
           AND coalesce(r.destination_country, dest_country) = dest_country
        UNION SELECT a.iata FROM hublink.tsp_tig_rule r
          JOIN hublink.tsp_country c ON c.iso3 = r.transit_country
          JOIN hublink.tsp_airport a ON a.country = c.iso2
         WHERE r.active AND r.kind = 'NO_TRANSIT' AND coalesce(r.destination_country, dest_country) = dest_country) s;
    refund_only := coalesce((request #>> '{constraints,refundableOnly}')::boolean, false)
        OR EXISTS (SELECT FROM hublink.tsp_tig_rule r WHERE r.active AND r.kind = 'REFUNDABLE_REQUIRED'
                      AND coalesce(r.destination_country, dest_country) = dest_country);
    SELECT max(r.hours) INTO notice_hours FROM hublink.tsp_tig_rule r
     WHERE r.active AND r.kind = 'NOTIFICATION_PERIOD' AND coalesce(r.destination_country, dest_country) = dest_country;
    SELECT array_agg(r.currency), array_agg(r.amount) INTO cost_cur, cost_amt FROM hublink.tsp_tig_rule r
     WHERE r.active AND r.kind = 'COST_LIMIT' AND coalesce(r.destination_country, dest_country) = dest_country;
    limit_amount := (request #>> '{constraints,costLimit,amount}')::numeric;
    limit_cur := request #>> '{constraints,costLimit,currency}';

    FOR d IN
        SELECT e ->> 'escortQuoteReference' AS eq_ref, (e ->> 'date')::date AS day,
               hublink.json_integer(e -> 'escortCount')::int AS escorts, (e ->> 'earliestDeparture')::timestamptz AS earliest
          FROM jsonb_array_elements(request -> 'escortDates') WITH ORDINALITY e(e, i)
        UNION ALL
        SELECT NULL, g::date, 0, NULL
          FROM generate_series((request #>> '{travelDates,earliestLeaveDate}')::date,
                               least((request #>> '{travelDates,latestLeaveDate}')::date,
                                     (request #>> '{travelDates,earliestLeaveDate}')::date
                                     + hublink.tsp_setting('max_travel_dates')::int - 1),
                               interval '1 day') g
         WHERE request ? 'travelDates'
           AND NOT coalesce(request #> '{travelDates,exclusionDates}', '[]') ? g::date::text
    LOOP
        IF EXISTS (SELECT FROM hublink.tsp_tig_rule r WHERE r.active AND r.kind = 'BLOCKED_DATES'
                      AND coalesce(r.destination_country, dest_country) = dest_country
                      AND d.day BETWEEN r.date_from AND r.date_to) THEN
            problems := problems || (format('%s: travel to %s cannot be booked on this date (TIG)', d.day, dest_country))::text;
            codes := codes || 'OTHER'::text;
            CONTINUE;
        END IF;
        SELECT min(r.max_returnees - coalesce((
                   SELECT sum(b.returnees) FROM hublink.tsp_booking b
                    WHERE b.status = 'ACTIVE' AND b.destination_country = dest_country
                      AND b.travel_date BETWEEN r.date_from AND r.date_to), 0))
          INTO quota_left
          FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'QUOTA' AND coalesce(r.destination_country, dest_country) = dest_country
           AND d.day BETWEEN r.date_from AND r.date_to;
        IF quota_left < n_ret THEN
            problems := problems || (format('%s: the TIG quota for %s leaves room for %s returnee(s)', d.day, dest_country, greatest(quota_left, 0)))::text;
            codes := codes || 'OTHER'::text;
            CONTINUE;
        END IF;

        earliest := greatest(d.day::timestamp AT TIME ZONE zone, d.earliest,
                             at + make_interval(hours => coalesce(notice_hours, 0)));
        travellers := (SELECT jsonb_agg(t ORDER BY o) FROM (
            SELECT jsonb_build_object('traveller', jsonb_build_object('hoReturneeReference', r.x #>> '{personalDetails,hoReturneeReference}'),
                                      'type', 'RETURNEE') t, i o
              FROM jsonb_array_elements(request -> 'returnees') WITH ORDINALITY r(x, i)
            UNION ALL
            SELECT jsonb_build_object('traveller', jsonb_build_object('escortNumber', g), 'type', 'ESCORT'), 1000 + g
              FROM generate_series(1, d.escorts) g) s);
        k := 0;
        dropped := 0;
        -- One statement per date: the search, the choice, the check of the chosen itineraries'
        -- derived rows and their per-traveller costs all read one snapshot (the search and the
        -- check are STABLE functions of this query). A price load committing while the date is
        -- quoted is therefore seen by all of them or by none: it cannot make the check disagree
        -- with the search and drop an itinerary unreported (test/sql/55_tsp_flight_fares_quote_race.sh).
        -- The quotes_per_date best by expected cost; with offer_choice, also the cheapest and
        -- the best refundable itinerary of the date when they are not among them: the TSP ranks
        -- with one constant chance of cancellation, the buyer knows its removal's (the Hub
        -- re-ranks with its own, docs/hub.md "Best value"), so each kind is on offer. The first
        -- row always comes, with the counts that say why a date has no quote (flight1 NULL:
        -- nothing chosen).
        FOR it IN
            WITH cands AS MATERIALIZED (
                SELECT * FROM hublink.tsp_itineraries(origins, dests, earliest,
                                                      (d.day + 1)::timestamp AT TIME ZONE zone,
                                                      n_ret, d.escorts, coalesce(excluded, '{}'),
                                                      coalesce(no_transit, '{}'), refund_only,
                                                      p_cancel, h_cancel)),
            ranked AS (
                SELECT i.*,
                       row_number() OVER (ORDER BY i.expected_cost, i.price, i.departs_at, i.flight1, i.flight2) AS by_cost,
                       row_number() OVER (ORDER BY i.price, i.expected_cost, i.departs_at, i.flight1, i.flight2) AS by_price,
                       row_number() OVER (PARTITION BY i.refundable
                                          ORDER BY i.expected_cost, i.price, i.departs_at, i.flight1, i.flight2) AS by_kind
                  FROM cands i
                 WHERE i.seats_free >= n_ret + d.escorts
                   AND (limit_amount IS NULL OR (i.currency = limit_cur AND i.price <= limit_amount))
                   AND (cost_cur IS NULL
                        OR NOT EXISTS (SELECT FROM unnest(cost_cur, cost_amt) r(currency, amount)
                                        WHERE r.currency <> i.currency OR i.price > r.amount))),
            chosen AS MATERIALIZED (
                SELECT o.* FROM ranked o
                 WHERE o.by_cost <= per_date
                    OR (choice AND (o.by_price = 1 OR (o.refundable AND o.by_kind = 1)))),
            -- The derived rows of the chosen itineraries' flights only, against the exact
            -- derivation: a stale flag, fare, rule or price leaves its itineraries out.
            stale AS MATERIALIZED (
                SELECT hublink.tsp_flight_fares_stale(ARRAY(
                           SELECT c.flight1 FROM chosen c UNION SELECT c.flight2 FROM chosen c)) AS flights),
            counts AS (
                SELECT count(*) AS n_cands, count(*) FILTER (WHERE i.seats_free >= n_ret + d.escorts) AS n_seated
                  FROM cands i)
            SELECT cnt.n_cands, cnt.n_seated, y.*
              FROM counts cnt
              LEFT JOIN (
                  SELECT c.*, st.flights && ARRAY[c.flight1, c.flight2] AS row_stale, pt.costs, pt.true_price
                    FROM chosen c CROSS JOIN stale st
                   -- The per-traveller costs read from tsp_fare_price (what the quote shows and
                   -- tsp_book charges), which must add up to the price the search read.
                   CROSS JOIN LATERAL (
                       SELECT jsonb_agg(jsonb_build_object('traveller', t -> 'traveller',
                                                           'cost', hublink.tsp_money(a.amount, c.currency))) AS costs,
                              CASE WHEN bool_and(a.amount IS NOT NULL) THEN sum(a.amount) END AS true_price
                         FROM jsonb_array_elements(travellers) t
                        CROSS JOIN LATERAL (SELECT hublink.tsp_fare_amount(c.fare1, t ->> 'type')
                                                   + coalesce(hublink.tsp_fare_amount(c.fare2, t ->> 'type'), 0) AS amount
                                            -- OFFSET 0: computed once per traveller; pulled up, the
                                            -- expression was evaluated for each of its three uses
                                            OFFSET 0) a) pt
              ) y ON true
             ORDER BY y.by_cost
        LOOP
            n_cands := it.n_cands;
            n_seated := it.n_seated;
            CONTINUE WHEN it.flight1 IS NULL;
            -- An itinerary read from a stale derived row (any of its fares' columns, or a price
            -- that is not the sum of its per-traveller costs) is left out (its place is not given
            -- to the next one: the ranking was made on the stale row) and alerted below.
            costs := it.costs;
            IF it.row_stale OR it.true_price IS DISTINCT FROM it.price THEN
                dropped := dropped + 1;
                drift_flights := drift_flights || it.flight1 || it.flight2;
                CONTINUE;
            END IF;
            k := k + 1;
            n := n + 1;
            qref := prefix || n;
            segs := jsonb_build_array(hublink.tsp_segment_json(it.flight1, 'S1',
                        jsonb_path_query_array(travellers, '$[*].traveller')));
            IF it.flight2 IS NOT NULL THEN
                segs := segs || hublink.tsp_segment_json(it.flight2, 'S2',
                        jsonb_path_query_array(travellers, '$[*].traveller'));
            END IF;
            SELECT least(at + validity, min(f.departs_at - make_interval(hours => fa.ticketing_deadline_hours)))
              INTO expires
              FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
             WHERE fa.fare_id IN (it.fare1, it.fare2);
            q := jsonb_strip_nulls(jsonb_build_object(
                'travelQuoteReference', qref,
                'escortQuoteReference', d.eq_ref,
                'costs', jsonb_build_object('perTraveller', costs, 'total', hublink.tsp_money(it.price, it.currency),
                                      'expectedCost', hublink.tsp_money(it.expected_cost, it.currency)),
                'itinerary', segs,
                'conditions', jsonb_build_object(
                    'refundable', it.refundable,
                    'handBaggageOnly', it.hand_baggage_only,
                    'expiresAt', hublink.tsp_local_time(expires, zone),
                    'notes', hublink.tsp_conditions_text(it.fare1, it.fare2, it.price, it.expected_cost,
                                                        it.currency, p_cancel, h_cancel, k))));
            quotes := quotes || q;
            -- Its flights and fares in its own row (S1, then S2 for a connection).
            new_quotes := new_quotes || ROW(qref, removal_id, d.eq_ref, d.day, at, expires, it.currency,
                it.price, it.expected_cost, it.refundable, dest_country, travellers, q, 'QUOTED',
                CASE WHEN it.flight2 IS NULL THEN ARRAY[it.flight1] ELSE ARRAY[it.flight1, it.flight2] END,
                CASE WHEN it.flight2 IS NULL THEN ARRAY[it.fare1] ELSE ARRAY[it.fare1, it.fare2] END)::hublink.tsp_quote;
        END LOOP;
        IF k = 0 THEN
            -- Say why: with seats enough only the cost limits can have removed them.
            IF dropped > 0 THEN
                problems := problems || (format('%s: no itinerary could be priced (the fares the search read disagree with the price tables)', d.day))::text;
                codes := codes || 'OTHER'::text;
            ELSIF n_seated > 0 THEN
                problems := problems || (format('%s: no itinerary within the cost limit', d.day))::text;
                codes := codes || 'COST_LIMIT_EXCEEDED'::text;
            ELSIF n_cands > 0 THEN
                problems := problems || (format('%s: fewer than %s seats on every itinerary', d.day, n_ret + d.escorts))::text;
                codes := codes || 'NO_SEATS'::text;
            ELSE
                problems := problems || (format('%s: no flights fit the date and constraints', d.day))::text;
                codes := codes || 'NO_FLIGHTS'::text;
            END IF;
        END IF;
    END LOOP;

    IF cardinality(drift_flights) > 0 THEN
        PERFORM hublink.tsp_flight_fares_drift_alert(drift_flights);
    END IF;
    -- Set-wise: one statement per request, one audited row per quote (its segments in it).
    INSERT INTO hublink.tsp_quote SELECT * FROM unnest(new_quotes);

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'quotes', quotes,
        'noQuoteReason', CASE WHEN cardinality(problems) > 0 THEN jsonb_build_object(
            -- One code for the response: the one shared by every date, else OTHER.
            'code', CASE WHEN (SELECT count(DISTINCT c) FROM unnest(codes) c) = 1 THEN codes[1] ELSE 'OTHER' END,
            'text', left(array_to_string(problems, '; '), 4000)) END));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_quote(jsonb, text, timestamptz) IS
    'Quotes a TravelQuoteRequest body: for each escort date (or travel date), up to '
    'quotes_per_date itineraries ranked by expected cost, and with offer_choice the cheapest and '
    'the best refundable itinerary of the date when they are not among them, obeying the TIG '
    'rules and the request''s constraints; stores them in tsp_quote and returns the '
    'TravelQuoteResponse body, with noQuoteReason (a decline code) naming the dates without quotes. '
    'An itinerary whose flights'' tsp_flight_fares rows differ from the exact derivation '
    '(hublink.tsp_flight_fares_stale: any fare id, flag, rule, fee or price), or whose searched price is not '
    'the sum of its per-traveller costs read from tsp_fare_price, is left out, and raises a fare_row_drift '
    'alert once per drift episode. Each date is searched, chosen and checked in one statement (one snapshot): '
    'a concurrent price load is seen by all of it or none.';

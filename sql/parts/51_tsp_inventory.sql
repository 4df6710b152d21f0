-- Travel provider (tsp), issue 5 section 1: the inventory. Flights with their seats; fares
-- with prices per traveller type, fees, ticketing deadline, baggage and refund rules.

CREATE TABLE hublink.tsp_flight (
    flight_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    carrier              char(2) NOT NULL REFERENCES hublink.tsp_airline,
    flight_number        text NOT NULL CHECK (flight_number ~ '^[0-9]{1,4}[A-Z]?$'),
    origin               char(3) NOT NULL REFERENCES hublink.tsp_airport,
    destination          char(3) NOT NULL REFERENCES hublink.tsp_airport,
    departs_at           timestamptz NOT NULL,
    arrives_at           timestamptz NOT NULL,
    origin_terminal      text,
    destination_terminal text,
    seats_total          integer NOT NULL CHECK (seats_total BETWEEN 0 AND 1000),
    seats_sold           integer NOT NULL DEFAULT 0,
    status               text NOT NULL DEFAULT 'SCHEDULED' CHECK (status IN ('SCHEDULED', 'CANCELLED')),
    CHECK (origin <> destination),
    CHECK (arrives_at > departs_at),
    CHECK (seats_sold BETWEEN 0 AND seats_total),
    UNIQUE (carrier, flight_number, departs_at)
);
COMMENT ON TABLE hublink.tsp_flight IS
    'One departure of a flight. Instants are timestamptz; the local times with offsets shown in '
    'messages come from the time zones of the origin and destination airports. seats_sold never '
    'exceeds seats_total (a CHECK, and bookings take seats with a conditional UPDATE).';
COMMENT ON COLUMN hublink.tsp_flight.flight_id IS 'Surrogate key.';
COMMENT ON COLUMN hublink.tsp_flight.carrier IS 'Marketing carrier, IATA designator.';
COMMENT ON COLUMN hublink.tsp_flight.flight_number IS 'Flight number without the designator, e.g. 75.';
COMMENT ON COLUMN hublink.tsp_flight.origin IS 'Departure airport.';
COMMENT ON COLUMN hublink.tsp_flight.destination IS 'Arrival airport.';
COMMENT ON COLUMN hublink.tsp_flight.departs_at IS 'Scheduled (or retimed) departure instant.';
COMMENT ON COLUMN hublink.tsp_flight.arrives_at IS 'Scheduled (or retimed) arrival instant.';
COMMENT ON COLUMN hublink.tsp_flight.origin_terminal IS 'Departure terminal, when known.';
COMMENT ON COLUMN hublink.tsp_flight.destination_terminal IS 'Arrival terminal, when known.';
COMMENT ON COLUMN hublink.tsp_flight.seats_total IS 'Seats the provider may sell on this departure.';
COMMENT ON COLUMN hublink.tsp_flight.seats_sold IS 'Seats already sold (booked and not cancelled).';
COMMENT ON COLUMN hublink.tsp_flight.status IS 'SCHEDULED, or CANCELLED by the carrier (hublink.tsp_flight_event).';

CREATE INDEX tsp_flight_origin_departs ON hublink.tsp_flight (origin, departs_at);
CREATE INDEX tsp_flight_destination_departs ON hublink.tsp_flight (destination, departs_at);
-- The second leg of a connection is looked up by both ends and a time window.
CREATE INDEX tsp_flight_route_departs ON hublink.tsp_flight (origin, destination, departs_at);

CREATE TABLE hublink.tsp_refund_rule_set (
    rule_set    text PRIMARY KEY CHECK (rule_set ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.tsp_refund_rule_set IS
    'A named set of refund rules that fares share (e.g. FLEX, SEMI, NONREF).';
COMMENT ON COLUMN hublink.tsp_refund_rule_set.rule_set IS 'Rule set code, as in fares.csv.';
COMMENT ON COLUMN hublink.tsp_refund_rule_set.description IS 'What the set means for the traveller.';

CREATE TABLE hublink.tsp_refund_rule (
    rule_set          text NOT NULL REFERENCES hublink.tsp_refund_rule_set ON UPDATE CASCADE ON DELETE CASCADE,
    from_hours_before integer NOT NULL CHECK (from_hours_before >= 0),
    refund_percent    numeric(5,2) CHECK (refund_percent BETWEEN 0 AND 100),
    refund_amount     numeric(14,2) CHECK (refund_amount >= 0),
    PRIMARY KEY (rule_set, from_hours_before),
    CHECK ((refund_percent IS NULL) <> (refund_amount IS NULL))
);
COMMENT ON TABLE hublink.tsp_refund_rule IS
    'Refund by time before departure: a ticket cancelled at least from_hours_before hours before '
    'its first departure gets the rule with the largest such from_hours_before; none means no '
    'refund. The refund is a percentage of the ticket price or a fixed amount per ticket (capped '
    'at the price), less the fare''s cancellation fee, never below zero.';
COMMENT ON COLUMN hublink.tsp_refund_rule.rule_set IS 'The rule set.';
COMMENT ON COLUMN hublink.tsp_refund_rule.from_hours_before IS 'Applies when cancelling at least this many hours before departure.';
COMMENT ON COLUMN hublink.tsp_refund_rule.refund_percent IS 'Refund as a percentage of the ticket price (or NULL).';
COMMENT ON COLUMN hublink.tsp_refund_rule.refund_amount IS 'Refund as a fixed amount per ticket in the fare currency (or NULL).';

CREATE TABLE hublink.tsp_fare (
    fare_id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flight_id                bigint NOT NULL REFERENCES hublink.tsp_flight ON DELETE CASCADE,
    fare_class               text NOT NULL CHECK (fare_class ~ '^[A-Z][A-Z0-9]{0,7}$'),
    currency                 char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    refundable               boolean NOT NULL,
    refund_rule_set          text NOT NULL REFERENCES hublink.tsp_refund_rule_set ON UPDATE CASCADE,
    change_fee               numeric(14,2) NOT NULL CHECK (change_fee >= 0),
    cancellation_fee         numeric(14,2) NOT NULL CHECK (cancellation_fee >= 0),
    ticketing_deadline_hours integer NOT NULL CHECK (ticketing_deadline_hours >= 0),
    hand_baggage_only        boolean NOT NULL DEFAULT false,
    baggage_kg               integer CHECK (baggage_kg >= 0),
    available                boolean NOT NULL DEFAULT true,
    UNIQUE (flight_id, fare_class)
);
COMMENT ON TABLE hublink.tsp_fare IS 'A fare on one flight: class, currency, conditions and fees.';
COMMENT ON COLUMN hublink.tsp_fare.fare_id IS 'Surrogate key.';
COMMENT ON COLUMN hublink.tsp_fare.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_fare.fare_class IS 'Fare class or basis, e.g. Y, M, GOVFLEX.';
COMMENT ON COLUMN hublink.tsp_fare.currency IS 'ISO 4217 currency of all its amounts.';
COMMENT ON COLUMN hublink.tsp_fare.refundable IS 'False for a non-refundable fare (its rule set should then refund nothing).';
COMMENT ON COLUMN hublink.tsp_fare.refund_rule_set IS 'Refund rules by time before departure.';
COMMENT ON COLUMN hublink.tsp_fare.change_fee IS 'Fee per ticket for a change of name, date or flight.';
COMMENT ON COLUMN hublink.tsp_fare.cancellation_fee IS 'Fee per ticket deducted from any refund on cancellation.';
COMMENT ON COLUMN hublink.tsp_fare.ticketing_deadline_hours IS 'Tickets must be issued at least this many hours before departure; a quote expires by then.';
COMMENT ON COLUMN hublink.tsp_fare.hand_baggage_only IS 'True for a hand-baggage-only fare.';
COMMENT ON COLUMN hublink.tsp_fare.baggage_kg IS 'Checked baggage allowance in kg, when any.';
COMMENT ON COLUMN hublink.tsp_fare.available IS 'False once the carrier withdraws the fare (bookings on it are declined FARE_UNAVAILABLE).';

CREATE TABLE hublink.tsp_fare_price (
    fare_id        bigint NOT NULL REFERENCES hublink.tsp_fare ON DELETE CASCADE,
    traveller_type text NOT NULL REFERENCES hublink.tsp_traveller_type ON UPDATE CASCADE,
    amount         numeric(14,2) NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (fare_id, traveller_type)
);
COMMENT ON TABLE hublink.tsp_fare_price IS 'Price of a fare per traveller type, taxes and fees included, in the fare currency.';
COMMENT ON COLUMN hublink.tsp_fare_price.fare_id IS 'The fare.';
COMMENT ON COLUMN hublink.tsp_fare_price.traveller_type IS 'Traveller type.';
COMMENT ON COLUMN hublink.tsp_fare_price.amount IS 'Price of one ticket on this flight for this traveller type.';

-- The fares of each flight in one row, for the itinerary search (docs/tsp.md "The fares of a
-- flight, in one row"; docs/performance.md "Quotes, sixth pass"): the search prices every flight
-- of every candidate itinerary, and read each flight's fares and their prices by one index
-- look-up per fare and one per price list (four per flight); here it is one per flight. The rows
-- are derived, never written by hand: the triggers below keep them equal to tsp_fare and
-- tsp_fare_price in the same transaction as every change, and the table's own triggers put
-- back the truth over any direct write (a row for every flight with fares, none for a flight
-- without).
CREATE TYPE hublink.tsp_fare_brief AS (
    fare_id bigint, currency char(3), refundable boolean, hand_baggage_only boolean, available boolean,
    refund_rule_set text, cancellation_fee numeric(14,2), price_types text[], price_amounts numeric(14,2)[]);
COMMENT ON TYPE hublink.tsp_fare_brief IS
    'What the itinerary search reads of one fare: tsp_fare''s columns it uses, and the fare''s '
    'prices as two arrays in traveller type order (price_amounts[n] is the price for price_types[n]).';

CREATE TABLE hublink.tsp_flight_fares (
    flight_id bigint PRIMARY KEY REFERENCES hublink.tsp_flight ON DELETE CASCADE,
    fares     hublink.tsp_fare_brief[] NOT NULL
);
COMMENT ON TABLE hublink.tsp_flight_fares IS
    'Derived from tsp_fare and tsp_fare_price, kept equal to them by triggers: one row per flight '
    'that has fares, with every fare of it (available or not) and its prices, in fare_id order. '
    'Read by the itinerary search (hublink.tsp_itineraries); never written by hand: only the owner '
    'can write it, and its triggers put a top-level write back to the truth (docs/tsp.md says what '
    'the owner can still break, and how to rebuild it).';
COMMENT ON COLUMN hublink.tsp_flight_fares.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_flight_fares.fares IS 'Its fares with their prices (hublink.tsp_fare_brief), in fare_id order.';

-- SQL, not PL/pgSQL: planned at each call with the tables' sizes of the moment (a loader fills
-- tsp_fare from empty, and a plan kept from its first batch would scan the table per flight).
CREATE FUNCTION hublink.tsp_flight_fares_of(flights bigint[])
    RETURNS TABLE (flight_id bigint, fares hublink.tsp_fare_brief[])
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT fa.flight_id,
           array_agg(ROW(fa.fare_id, fa.currency, fa.refundable, fa.hand_baggage_only, fa.available, fa.refund_rule_set,
                         fa.cancellation_fee, coalesce(p.types, '{}'), coalesce(p.amounts, '{}'))::hublink.tsp_fare_brief
                     ORDER BY fa.fare_id)
      FROM (SELECT DISTINCT u.id FROM unnest(flights) u(id)) u
      JOIN hublink.tsp_fare fa ON fa.flight_id = u.id
      LEFT JOIN LATERAL (SELECT array_agg(x.traveller_type ORDER BY x.traveller_type) AS types,
                                array_agg(x.amount ORDER BY x.traveller_type) AS amounts
                           FROM hublink.tsp_fare_price x WHERE x.fare_id = fa.fare_id) p ON true
     GROUP BY fa.flight_id
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_of(bigint[]) IS
    'The fares of these flights as hublink.tsp_flight_fares holds them, read from tsp_fare and tsp_fare_price '
    '(no row for a flight without fares).';
-- Internal (docs/security-access.md): only the owner's triggers and functions call it.
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_of(bigint[]) FROM PUBLIC;

-- Brings the rows of these flights to the truth, set-wise. Called by the statement triggers
-- below, which run as the owner (SECURITY DEFINER): whoever may change a fare keeps the derived
-- rows right, and no one else writes them (only the owner may write the table).
CREATE FUNCTION hublink.tsp_flight_fares_refresh(flights bigint[]) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := ARRAY(SELECT DISTINCT u.id FROM unnest(flights) u(id));
BEGIN
    -- (joins with the unnested list, not "= ANY (ids)": a loader's statement touches tens of
    -- thousands of flights, and ANY over a parameter array is a linear search per row)
    DELETE FROM hublink.tsp_flight_fares s
     USING unnest(ids) u(id)
     WHERE s.flight_id = u.id AND NOT EXISTS (SELECT FROM hublink.tsp_fare fa WHERE fa.flight_id = u.id);
    -- Every row of these flights written or locked (ON CONFLICT locks a row it leaves as it is) ...
    INSERT INTO hublink.tsp_flight_fares AS s (flight_id, fares)
    SELECT c.flight_id, c.fares FROM hublink.tsp_flight_fares_of(ids) c
    ON CONFLICT (flight_id) DO UPDATE SET fares = excluded.fares WHERE s.fares IS DISTINCT FROM excluded.fares;
    -- ... then computed again by a statement of its own, whose snapshot sees what a concurrent
    -- transaction changing the same flights committed while this one waited for a row: the two
    -- transactions' edits are both kept (test/sql/55_tsp_flight_fares_race.sh).
    UPDATE hublink.tsp_flight_fares s SET fares = c.fares
      FROM hublink.tsp_flight_fares_of(ids) c
     WHERE s.flight_id = c.flight_id AND s.fares IS DISTINCT FROM c.fares;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_refresh(bigint[]) IS
    'Brings the tsp_flight_fares rows of these flights to the truth of tsp_fare and tsp_fare_price.';
-- Internal: only tsp_flight_fares's statement triggers (run as the owner) call it; the owner
-- also rebuilds the rows with it (docs/tsp.md).
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_refresh(bigint[]) FROM PUBLIC;

-- A row written by hand (or by any statement not run from a trigger) gets its fares computed
-- from the source tables. Writes of tsp_flight_fares_refresh,
-- which the statement triggers below run (trigger depth 2 and more), were computed there, set-wise.
CREATE FUNCTION hublink.tsp_flight_fares_derive() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.flight_id <> OLD.flight_id THEN
        RAISE EXCEPTION 'tsp_flight_fares rows are derived: flight % cannot become flight %', OLD.flight_id, NEW.flight_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A row of tsp_flight_fares lists the fares of its own flight, from tsp_fare and tsp_fare_price.',
                  HINT = 'Change tsp_fare or tsp_fare_price; tsp_flight_fares follows them.';
    END IF;
    IF pg_trigger_depth() > 1 THEN
        RETURN NEW;  -- tsp_flight_fares_refresh, from a trigger: computed there
    END IF;
    NEW.fares := coalesce((SELECT c.fares FROM hublink.tsp_flight_fares_of(ARRAY[NEW.flight_id]) c), '{}');
    IF cardinality(NEW.fares) = 0 THEN
        RETURN NULL;  -- a flight without fares has no row
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_derive() IS
    'Row trigger on tsp_flight_fares: a row written other than by tsp_flight_fares_refresh from a trigger gets '
    'its fares computed from tsp_fare and tsp_fare_price, whatever was written; a flight without fares gets no '
    'row; a row cannot move to another flight.';
CREATE TRIGGER tsp_flight_fares_derive BEFORE INSERT OR UPDATE ON hublink.tsp_flight_fares
    FOR EACH ROW EXECUTE FUNCTION hublink.tsp_flight_fares_derive();
COMMENT ON TRIGGER tsp_flight_fares_derive ON hublink.tsp_flight_fares IS
    'Every written row holds its flight''s true fares (hublink.tsp_flight_fares_derive).';

-- After a change of fares or prices (or a direct delete or truncate of the derived rows), the
-- flights touched are brought back to the truth. Statement triggers with transition tables:
-- the loader's inserts of thousands of fares refresh each flight once.
CREATE FUNCTION hublink.tsp_flight_fares_follow() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    flights bigint[];
BEGIN
    -- (each trigger has only the transition tables of its event: one query per event)
    IF TG_OP = 'TRUNCATE' THEN
        flights := ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa
                         UNION SELECT s.flight_id FROM hublink.tsp_flight_fares s);
    ELSIF TG_TABLE_NAME = 'tsp_fare' AND TG_OP = 'INSERT' THEN
        flights := ARRAY(SELECT DISTINCT n.flight_id FROM new_rows n);
    ELSIF TG_TABLE_NAME = 'tsp_fare' AND TG_OP = 'UPDATE' THEN
        flights := ARRAY(SELECT o.flight_id FROM old_rows o UNION SELECT n.flight_id FROM new_rows n);
    ELSIF TG_TABLE_NAME = 'tsp_fare' THEN
        flights := ARRAY(SELECT DISTINCT o.flight_id FROM old_rows o);
    ELSIF TG_TABLE_NAME = 'tsp_fare_price' AND TG_OP = 'INSERT' THEN
        flights := ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa WHERE fa.fare_id IN (SELECT n.fare_id FROM new_rows n));
    ELSIF TG_TABLE_NAME = 'tsp_fare_price' AND TG_OP = 'UPDATE' THEN
        flights := ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa
                          WHERE fa.fare_id IN (SELECT o.fare_id FROM old_rows o UNION SELECT n.fare_id FROM new_rows n));
    ELSIF TG_TABLE_NAME = 'tsp_fare_price' THEN
        flights := ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa WHERE fa.fare_id IN (SELECT o.fare_id FROM old_rows o));
    ELSE  -- tsp_flight_fares itself: rows deleted by hand come back when their flight has fares
        flights := ARRAY(SELECT o.flight_id FROM old_rows o);
    END IF;
    IF cardinality(flights) > 0 THEN
        PERFORM hublink.tsp_flight_fares_refresh(flights);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_follow() IS
    'Statement trigger on tsp_fare, tsp_fare_price and tsp_flight_fares: refreshes the tsp_flight_fares '
    'rows of the flights whose fares or prices changed (or whose derived row was deleted).';
CREATE TRIGGER tsp_flight_fares_fare_insert AFTER INSERT ON hublink.tsp_fare
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_fare_update AFTER UPDATE ON hublink.tsp_fare
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_fare_delete AFTER DELETE ON hublink.tsp_fare
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_fare_truncate AFTER TRUNCATE ON hublink.tsp_fare
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_price_insert AFTER INSERT ON hublink.tsp_fare_price
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_price_update AFTER UPDATE ON hublink.tsp_fare_price
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_price_delete AFTER DELETE ON hublink.tsp_fare_price
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_price_truncate AFTER TRUNCATE ON hublink.tsp_fare_price
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_self_delete AFTER DELETE ON hublink.tsp_flight_fares
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
CREATE TRIGGER tsp_flight_fares_self_truncate AFTER TRUNCATE ON hublink.tsp_flight_fares
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_fare_insert ON hublink.tsp_fare IS 'tsp_flight_fares follows new fares.';
COMMENT ON TRIGGER tsp_flight_fares_fare_update ON hublink.tsp_fare IS 'tsp_flight_fares follows changed fares (both flights of a moved one).';
COMMENT ON TRIGGER tsp_flight_fares_fare_delete ON hublink.tsp_fare IS 'tsp_flight_fares follows deleted fares (also by a flight''s cascade).';
COMMENT ON TRIGGER tsp_flight_fares_fare_truncate ON hublink.tsp_fare IS 'tsp_flight_fares follows a truncate of the fares.';
COMMENT ON TRIGGER tsp_flight_fares_price_insert ON hublink.tsp_fare_price IS 'tsp_flight_fares follows new prices.';
COMMENT ON TRIGGER tsp_flight_fares_price_update ON hublink.tsp_fare_price IS 'tsp_flight_fares follows changed prices (also a traveller type renamed by cascade).';
COMMENT ON TRIGGER tsp_flight_fares_price_delete ON hublink.tsp_fare_price IS 'tsp_flight_fares follows deleted prices.';
COMMENT ON TRIGGER tsp_flight_fares_price_truncate ON hublink.tsp_fare_price IS 'tsp_flight_fares follows a truncate of the prices.';
COMMENT ON TRIGGER tsp_flight_fares_self_delete ON hublink.tsp_flight_fares IS 'A derived row deleted by hand comes back while its flight has fares.';
COMMENT ON TRIGGER tsp_flight_fares_self_truncate ON hublink.tsp_flight_fares IS 'Derived rows truncated by hand come back for every flight with fares.';

-- PL/pgSQL, not SQL: its plans are kept for the session (a SQL function that pins search_path is
-- planned again in every query that calls it), and the fallback chain is walked one index
-- look-up at a time instead of by a recursive query (docs/performance.md).
CREATE FUNCTION hublink.tsp_fare_amount(fare bigint, traveller_type text) RETURNS numeric
    LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur_type text := traveller_type;
    price    numeric;
BEGIN
    -- the type itself, then its fallback, then the fallback's, at most five steps
    FOR depth IN 0..5 LOOP
        SELECT p.amount INTO price FROM hublink.tsp_fare_price p
         WHERE p.fare_id = fare AND p.traveller_type = cur_type;
        IF FOUND THEN
            RETURN price;
        END IF;
        EXIT WHEN depth = 5;
        SELECT t.fallback INTO cur_type FROM hublink.tsp_traveller_type t WHERE t.code = cur_type;
        EXIT WHEN cur_type IS NULL;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_fare_amount(bigint, text) IS
    'Price of one ticket of a traveller type on a fare, following the type''s fallback chain; '
    'NULL when the fare has no price for it.';

CREATE FUNCTION hublink.tsp_refund_amount(fare bigint, price numeric, hours_before numeric)
    RETURNS numeric
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT greatest(0, coalesce((
        SELECT least(price, coalesce(round(price * r.refund_percent / 100, 2), r.refund_amount))
          FROM hublink.tsp_refund_rule r
         WHERE r.rule_set = f.refund_rule_set AND r.from_hours_before <= hours_before
         ORDER BY r.from_hours_before DESC LIMIT 1), 0) - f.cancellation_fee)::numeric(14,2)
      FROM hublink.tsp_fare f WHERE f.fare_id = fare
$$;
COMMENT ON FUNCTION hublink.tsp_refund_amount(bigint, numeric, numeric) IS
    'Refund of one ticket of the given price on a fare cancelled hours_before hours before '
    'departure: the applicable rule (percentage rounded half away from zero to the penny, or '
    'fixed amount, at most the price) less the cancellation fee, at least zero. Zero after '
    'departure or when no rule applies.';

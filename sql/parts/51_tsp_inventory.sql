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

-- Travel provider (tsp), issue 5 section 1: reference data (countries, airports, airlines,
-- traveller types) and the provider's settings. Rows, loaded from OpenFlights by
-- hublink.tsp_load_reference() or edited by hublink_admin; nothing here is a constant in code.

CREATE TABLE hublink.tsp_country (
    iso2 char(2) PRIMARY KEY CHECK (iso2 ~ '^[A-Z]{2}$'),
    iso3 char(3) UNIQUE CHECK (iso3 ~ '^[A-Z]{3}$'),
    name text NOT NULL UNIQUE
);
COMMENT ON TABLE hublink.tsp_country IS
    'Countries the travel provider knows (OpenFlights countries.dat, with the ISO 3166-1 alpha-3 '
    'code the messages use, from the iso-codes package when the loader is given it).';
COMMENT ON COLUMN hublink.tsp_country.iso2 IS 'ISO 3166-1 alpha-2 code, e.g. NG.';
COMMENT ON COLUMN hublink.tsp_country.iso3 IS 'ISO 3166-1 alpha-3 code as in messages, e.g. NGA; NULL when unknown.';
COMMENT ON COLUMN hublink.tsp_country.name IS 'Country name as OpenFlights spells it (airports refer to it by name).';

CREATE TABLE hublink.tsp_airport (
    iata     char(3) PRIMARY KEY CHECK (iata ~ '^[A-Z]{3}$'),
    name     text NOT NULL,
    city     text,
    country  char(2) REFERENCES hublink.tsp_country,
    tz       text NOT NULL,
    latitude  double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180)
);
COMMENT ON TABLE hublink.tsp_airport IS
    'Airports by IATA code with their IANA time zone: local times in messages carry the offset '
    'of this zone at that instant.';
COMMENT ON COLUMN hublink.tsp_airport.iata IS 'IATA location code, e.g. LHR.';
COMMENT ON COLUMN hublink.tsp_airport.name IS 'Airport name, e.g. London Heathrow Airport.';
COMMENT ON COLUMN hublink.tsp_airport.city IS 'City served.';
COMMENT ON COLUMN hublink.tsp_airport.country IS 'Country (ISO alpha-2); NULL when OpenFlights names a country it does not list.';
COMMENT ON COLUMN hublink.tsp_airport.tz IS 'IANA time zone name, e.g. Europe/London; checked against pg_timezone_names on load.';
COMMENT ON COLUMN hublink.tsp_airport.latitude IS 'Latitude in degrees (great-circle distances in the generator).';
COMMENT ON COLUMN hublink.tsp_airport.longitude IS 'Longitude in degrees.';

CREATE TABLE hublink.tsp_airline (
    iata          char(2) PRIMARY KEY CHECK (iata ~ '^[A-Z0-9]{2}$'),
    icao          char(3) CHECK (icao ~ '^[A-Z]{3}$'),
    name          text NOT NULL,
    ticket_prefix char(3) NOT NULL CHECK (ticket_prefix ~ '^[0-9]{3}$')
);
COMMENT ON TABLE hublink.tsp_airline IS
    'Airlines by IATA designator, with the three-digit ticketing prefix that starts their '
    'e-ticket numbers.';
COMMENT ON COLUMN hublink.tsp_airline.iata IS 'IATA designator, e.g. BA.';
COMMENT ON COLUMN hublink.tsp_airline.icao IS 'ICAO designator, e.g. BAW.';
COMMENT ON COLUMN hublink.tsp_airline.name IS 'Airline name, the providerName of its segments.';
COMMENT ON COLUMN hublink.tsp_airline.ticket_prefix IS
    'Three-digit IATA accounting (ticketing) prefix, e.g. 125 for BA. OpenFlights has none, so '
    'the loader derives a synthetic, stable one (hublink.tsp_synthetic_ticket_prefix); an admin '
    'may set the real one.';

CREATE FUNCTION hublink.tsp_synthetic_ticket_prefix(iata text) RETURNS char(3)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN lpad((100 + ('x' || substr(md5(iata), 1, 8))::bit(32)::bigint % 900)::text, 3, '0');
COMMENT ON FUNCTION hublink.tsp_synthetic_ticket_prefix(text) IS
    'A synthetic ticketing prefix 100-999 from the md5 of the designator: the same designator '
    'always gets the same prefix, on every load and every server (hashtext() is not stable across '
    'releases, md5 is). Prefixes may collide; ticket numbers stay unique by their serial.';

CREATE TABLE hublink.tsp_traveller_type (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{1,19}$'),
    fallback    text REFERENCES hublink.tsp_traveller_type,
    description text NOT NULL
);
COMMENT ON TABLE hublink.tsp_traveller_type IS
    'Traveller types fares are priced for. A fare without a price for a type uses the price of '
    'its fallback type.';
COMMENT ON COLUMN hublink.tsp_traveller_type.code IS 'Type code as in the fare price lists, e.g. RETURNEE.';
COMMENT ON COLUMN hublink.tsp_traveller_type.fallback IS 'Type whose price applies when a fare has none for this one.';
COMMENT ON COLUMN hublink.tsp_traveller_type.description IS 'Who travels at this price.';

INSERT INTO hublink.tsp_traveller_type (code, fallback, description) VALUES
    ('ADULT', NULL, 'An adult passenger at the public fare.'),
    ('RETURNEE', 'ADULT', 'A returnee (hoReturneeReference in messages), at the government fare when one is filed.'),
    ('ESCORT', 'ADULT', 'An escort officer or medic (escortNumber in messages).');

CREATE TABLE hublink.tsp_config (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    value       text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.tsp_config IS
    'Settings of the travel provider engine, as rows an admin edits (no GUC, no rebuild).';
COMMENT ON COLUMN hublink.tsp_config.key IS 'Setting name.';
COMMENT ON COLUMN hublink.tsp_config.value IS 'Value as text, cast by hublink.tsp_setting() readers.';
COMMENT ON COLUMN hublink.tsp_config.description IS 'What it does and its unit.';

INSERT INTO hublink.tsp_config VALUES
    ('cancel_probability', '0.4', 'Probability that a planned removal is cancelled, for the expected cost of a quote (0..1).'),
    ('expected_cancel_hours_before', '72', 'When a cancellation is expected to happen, hours before the first departure; the refund rules are read at that time.'),
    ('default_min_connection_minutes', '90', 'Minimum connection time at an airport without a row in tsp_min_connection.'),
    ('max_connection_minutes', '720', 'Longest wait between two flights of a one-connection itinerary.'),
    ('quote_validity_minutes', '2880', 'How long a quote may be booked after it is issued (capped by the fares'' ticketing deadlines).'),
    ('quotes_per_date', '3', 'How many quotes to offer per date at most, best expected cost first.'),
    ('offer_choice', 'true', 'true: also offer, per date, the cheapest and the best refundable itinerary when they are not among the quotes_per_date best (the buyer weighs refundability with its own chance of cancellation).'),
    ('max_travel_dates', '14', 'Most dates of an unescorted travelDates range that are quoted.'),
    ('quote_reference_prefix', 'TSP-TQ-', 'Start of travel quote references.'),
    ('date_time_zone', 'Europe/London', 'Time zone in which escort and travel dates are UK calendar dates.');

CREATE FUNCTION hublink.tsp_setting(name text) RETURNS text
    LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
BEGIN
    SELECT c.value INTO v FROM hublink.tsp_config c WHERE c.key = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tsp setting "%" is not defined', name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Insert a row into hublink.tsp_config (docs/tsp.md lists the settings).';
    END IF;
    RETURN v;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_setting(text) IS
    'The value of a tsp_config row; an error names a missing one rather than guessing a default.';

-- PL/pgSQL, not SQL: a SQL function that pins search_path is never inlined and is parsed again
-- in every query that calls it (the quote engine calls it for every segment; docs/performance.md).
CREATE FUNCTION hublink.tsp_local_time(at timestamptz, tz text) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN to_char(at AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN (at AT TIME ZONE tz) < (at AT TIME ZONE 'UTC') THEN '-' ELSE '+' END
        || to_char(abs(extract(epoch FROM (at AT TIME ZONE tz) - (at AT TIME ZONE 'UTC')))
                   * interval '1 second', 'HH24:MI');
END;
$$;
COMMENT ON FUNCTION hublink.tsp_local_time(timestamptz, text) IS
    'RFC 3339 local time of an instant in a time zone, with that zone''s offset at that instant, '
    'e.g. 2026-03-17T18:25:00+01:00 for Lagos: what itinerary segments carry.';

-- Travel provider (tsp), issue 5 section 1: the bulk loaders. scripts/tsp-load-inventory
-- COPYs the CSV files into session-private staging tables (hublink.tsp_stage_begin), then
-- hublink.tsp_load_staged() validates every row and inserts all of them or none: one bad row
-- raises an error that lists every bad line, and the caller's transaction rolls back.

CREATE FUNCTION hublink.tsp_stage_begin() RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning
AS $$
BEGIN
    -- Temporary tables: concurrent loads do not see each other's rows, and nothing is left
    -- behind. line is the file line (the identity counts rows in COPY order; +1 for the header).
    DROP TABLE IF EXISTS pg_temp.tsp_stage_refund_rule, pg_temp.tsp_stage_flight,
                         pg_temp.tsp_stage_fare, pg_temp.tsp_stage_error;
    CREATE TEMP TABLE tsp_stage_refund_rule (
        line bigint GENERATED ALWAYS AS IDENTITY (START 2), rule_set text, description text,
        from_hours_before text, refund_percent text, refund_amount text);
    CREATE TEMP TABLE tsp_stage_flight (
        line bigint GENERATED ALWAYS AS IDENTITY (START 2), flight_ref text, carrier text,
        flight_number text, origin text, destination text, departure_local text,
        arrival_local text, origin_terminal text, destination_terminal text, seats_total text,
        seats_sold text, departs_at timestamptz, arrives_at timestamptz, flight_id bigint);
    CREATE TEMP TABLE tsp_stage_fare (
        line bigint GENERATED ALWAYS AS IDENTITY (START 2), flight_ref text, fare_class text,
        currency text, refundable text, refund_rule_set text, change_fee text,
        cancellation_fee text, ticketing_deadline_hours text, hand_baggage_only text,
        baggage_kg text, prices text, fare_id bigint);
    CREATE TEMP TABLE tsp_stage_error (file text, line bigint, problem text);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_stage_begin() IS
    'Creates the session''s empty staging tables pg_temp.tsp_stage_refund_rule, tsp_stage_flight '
    'and tsp_stage_fare (all text columns, in the CSV column order after line) for COPY.';

CREATE FUNCTION hublink.tsp_local_to_instant(local text, tz text) RETURNS timestamptz
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF local IS NULL OR local !~ '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|Z)?$' THEN
        RETURN NULL;
    END IF;
    IF local ~ '([+-]\d{2}:?\d{2}|Z)$' THEN
        RETURN local::timestamptz;            -- an explicit offset wins
    END IF;
    RETURN local::timestamp AT TIME ZONE tz;   -- wall-clock time at the airport
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RETURN NULL;                               -- e.g. 2026-02-30: reported as a bad row
END;
$$;
COMMENT ON FUNCTION hublink.tsp_local_to_instant(text, text) IS
    'The instant of a local date-time text at an airport time zone (or of its explicit offset); '
    'NULL when the text is not a valid date-time, so that the loader can report the line.';

CREATE FUNCTION hublink.tsp_load_staged(progress_every integer DEFAULT 50000)
    RETURNS TABLE (refund_rules bigint, flights bigint, fares bigint, prices bigint)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad     text;
    nbad    bigint;
    total   bigint;
    lo      bigint;
    int_re  constant text := '^[0-9]{1,6}$';
    amt_re  constant text := '^[0-9]{1,12}(\.[0-9]{1,2})?$';
    bool_re constant text := '^(true|false|t|f|yes|no|y|n|1|0)$';
BEGIN
    -- Staging tables have no statistics and no indexes; fares look flights up by flight_ref
    -- row by row, which without an index is quadratic on a world schedule.
    CREATE INDEX ON pg_temp.tsp_stage_flight (flight_ref);
    CREATE INDEX ON pg_temp.tsp_stage_fare (flight_ref, fare_class);
    CREATE INDEX ON pg_temp.tsp_stage_flight (line);
    CREATE INDEX ON pg_temp.tsp_stage_fare (line);
    ANALYZE pg_temp.tsp_stage_refund_rule;
    ANALYZE pg_temp.tsp_stage_flight;
    ANALYZE pg_temp.tsp_stage_fare;

    -- Refund rules.
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'refund_rules', s.line, p FROM pg_temp.tsp_stage_refund_rule s,
      LATERAL (VALUES
        (CASE WHEN s.rule_set IS NULL OR s.rule_set !~ '^[A-Z][A-Z0-9_]{1,39}$' THEN 'rule_set must be an upper-case code' END),
        (CASE WHEN s.from_hours_before IS NULL OR s.from_hours_before !~ int_re THEN 'from_hours_before must be a whole number of hours' END),
        (CASE WHEN (s.refund_percent IS NULL) = (s.refund_amount IS NULL) THEN 'exactly one of refund_percent and refund_amount is required' END),
        (CASE WHEN s.refund_percent IS NOT NULL AND (s.refund_percent !~ amt_re OR s.refund_percent::numeric > 100) THEN 'refund_percent must be 0 to 100' END),
        (CASE WHEN s.refund_amount IS NOT NULL AND s.refund_amount !~ amt_re THEN 'refund_amount must be an amount like 150.00' END)) v(p)
     WHERE p IS NOT NULL;
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'refund_rules', s.line, 'duplicate rule ' || s.rule_set || ' from ' || s.from_hours_before || ' hours'
      FROM (SELECT line, rule_set, from_hours_before,
                   count(*) OVER (PARTITION BY rule_set, from_hours_before) n
              FROM pg_temp.tsp_stage_refund_rule) s WHERE s.n > 1;

    -- Flights: codes, references, times (converted with the airports' zones), seats. Staged
    -- text is cast to bpchar to compare with the char(n) keys: text = char(n) compares as text
    -- and cannot use their indexes (a sequential scan per row on a world schedule).
    UPDATE pg_temp.tsp_stage_flight s
       SET departs_at = hublink.tsp_local_to_instant(s.departure_local, o.tz),
           arrives_at = hublink.tsp_local_to_instant(s.arrival_local, d.tz)
      FROM hublink.tsp_airport o, hublink.tsp_airport d
     WHERE o.iata = s.origin::bpchar AND d.iata = s.destination::bpchar;
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'flights', s.line, p FROM pg_temp.tsp_stage_flight s,
      LATERAL (VALUES
        (CASE WHEN s.flight_ref IS NULL THEN 'flight_ref is required' END),
        (CASE WHEN NOT EXISTS (SELECT FROM hublink.tsp_airline a WHERE a.iata = s.carrier::bpchar) THEN 'unknown carrier ' || coalesce(s.carrier, '(empty)') END),
        (CASE WHEN s.flight_number IS NULL OR s.flight_number !~ '^[0-9]{1,4}[A-Z]?$' THEN 'flight_number must be 1-4 digits and an optional letter' END),
        (CASE WHEN NOT EXISTS (SELECT FROM hublink.tsp_airport a WHERE a.iata = s.origin::bpchar) THEN 'unknown origin airport ' || coalesce(s.origin, '(empty)') END),
        (CASE WHEN NOT EXISTS (SELECT FROM hublink.tsp_airport a WHERE a.iata = s.destination::bpchar) THEN 'unknown destination airport ' || coalesce(s.destination, '(empty)') END),
        (CASE WHEN s.origin = s.destination THEN 'origin and destination are the same airport' END),
        (CASE WHEN s.departs_at IS NULL THEN 'departure_local is not a valid local date-time (YYYY-MM-DD HH:MI)' END),
        (CASE WHEN s.arrives_at IS NULL THEN 'arrival_local is not a valid local date-time (YYYY-MM-DD HH:MI)' END),
        (CASE WHEN s.arrives_at <= s.departs_at THEN 'arrival is not after departure' END),
        (CASE WHEN s.seats_total IS NULL OR s.seats_total !~ int_re OR s.seats_total::int > 1000 THEN 'seats_total must be 0 to 1000' END),
        (CASE WHEN s.seats_sold IS NOT NULL AND (s.seats_sold !~ int_re
              OR (s.seats_total ~ int_re AND s.seats_sold::int > s.seats_total::int)) THEN 'seats_sold must be 0 to seats_total' END)) v(p)
     WHERE p IS NOT NULL;
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'flights', s.line, 'duplicate ' || CASE WHEN s.n_ref > 1 THEN 'flight_ref ' || s.flight_ref
                                                   ELSE 'departure ' || s.carrier || s.flight_number || ' ' || s.departure_local END
      FROM (SELECT line, flight_ref, carrier, flight_number, departure_local,
                   count(*) OVER (PARTITION BY flight_ref) n_ref,
                   count(*) OVER (PARTITION BY carrier, flight_number, departs_at) n_dep
              FROM pg_temp.tsp_stage_flight) s
     WHERE s.n_ref > 1 OR (s.n_dep > 1 AND s.departure_local IS NOT NULL);
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'flights', s.line, 'departure ' || s.carrier || s.flight_number || ' ' || s.departure_local || ' is already loaded'
      FROM pg_temp.tsp_stage_flight s
     WHERE EXISTS (SELECT FROM hublink.tsp_flight f
                    WHERE f.carrier = s.carrier::bpchar AND f.flight_number = s.flight_number AND f.departs_at = s.departs_at);

    -- Fares.
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'fares', s.line, p FROM pg_temp.tsp_stage_fare s,
      LATERAL (VALUES
        (CASE WHEN NOT EXISTS (SELECT FROM pg_temp.tsp_stage_flight f WHERE f.flight_ref = s.flight_ref) THEN 'unknown flight_ref ' || coalesce(s.flight_ref, '(empty)') END),
        (CASE WHEN s.fare_class IS NULL OR s.fare_class !~ '^[A-Z][A-Z0-9]{0,7}$' THEN 'fare_class must be 1-8 upper-case letters or digits' END),
        (CASE WHEN s.currency IS NULL OR s.currency !~ '^[A-Z]{3}$' THEN 'currency must be an ISO 4217 code' END),
        (CASE WHEN s.refundable IS NULL OR lower(s.refundable) !~ bool_re THEN 'refundable must be true or false' END),
        (CASE WHEN NOT EXISTS (SELECT FROM hublink.tsp_refund_rule_set r WHERE r.rule_set = s.refund_rule_set)
               AND NOT EXISTS (SELECT FROM pg_temp.tsp_stage_refund_rule r WHERE r.rule_set = s.refund_rule_set)
              THEN 'unknown refund_rule_set ' || coalesce(s.refund_rule_set, '(empty)') END),
        (CASE WHEN s.change_fee IS NULL OR s.change_fee !~ amt_re THEN 'change_fee must be an amount like 75.00' END),
        (CASE WHEN s.cancellation_fee IS NULL OR s.cancellation_fee !~ amt_re THEN 'cancellation_fee must be an amount like 75.00' END),
        (CASE WHEN s.ticketing_deadline_hours IS NULL OR s.ticketing_deadline_hours !~ int_re THEN 'ticketing_deadline_hours must be a whole number' END),
        (CASE WHEN s.hand_baggage_only IS NOT NULL AND lower(s.hand_baggage_only) !~ bool_re THEN 'hand_baggage_only must be true or false' END),
        (CASE WHEN s.baggage_kg IS NOT NULL AND s.baggage_kg !~ int_re THEN 'baggage_kg must be a whole number' END),
        (CASE WHEN s.prices IS NULL THEN 'prices is required (TYPE=amount;TYPE=amount)' END)) v(p)
     WHERE p IS NOT NULL;
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'fares', s.line, 'price ' || coalesce(x.item, '') || ': ' || CASE
               WHEN x.item !~ '^[A-Z][A-Z0-9_]*=' THEN 'not TYPE=amount'
               WHEN NOT EXISTS (SELECT FROM hublink.tsp_traveller_type t WHERE t.code = split_part(x.item, '=', 1)) THEN 'unknown traveller type'
               ELSE 'amount must be like 1150.00' END
      FROM pg_temp.tsp_stage_fare s, string_to_table(s.prices, ';') x(item)
     WHERE x.item !~ '^[A-Z][A-Z0-9_]*=[0-9]{1,12}(\.[0-9]{1,2})?$'
        OR NOT EXISTS (SELECT FROM hublink.tsp_traveller_type t WHERE t.code = split_part(x.item, '=', 1));
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'fares', s.line, 'duplicate fare_class ' || s.fare_class || ' on flight_ref ' || s.flight_ref
      FROM (SELECT line, flight_ref, fare_class, count(*) OVER (PARTITION BY flight_ref, fare_class) n
              FROM pg_temp.tsp_stage_fare) s WHERE s.n > 1;

    SELECT count(*), string_agg(format('%s line %s: %s', e.file, e.line, e.problem), E'\n' ORDER BY e.file, e.line, e.problem)
      INTO nbad, bad FROM pg_temp.tsp_stage_error e;
    IF nbad > 0 THEN
        RAISE EXCEPTION 'inventory load rejected: % problems, nothing was loaded', nbad
            USING ERRCODE = 'bad_copy_file_format', DETAIL = bad,
                  HINT = 'Correct the lines listed and load the files again; docs/tsp.md describes the columns.';
    END IF;

    -- Every row is valid: insert, reporting progress on large loads.
    INSERT INTO hublink.tsp_refund_rule_set (rule_set, description)
    SELECT DISTINCT ON (rule_set) rule_set, coalesce(description, rule_set)
      FROM pg_temp.tsp_stage_refund_rule ORDER BY rule_set, line
    ON CONFLICT (rule_set) DO UPDATE SET description = excluded.description;
    DELETE FROM hublink.tsp_refund_rule r
     WHERE r.rule_set IN (SELECT rule_set FROM pg_temp.tsp_stage_refund_rule);
    INSERT INTO hublink.tsp_refund_rule
    SELECT rule_set, from_hours_before::int, refund_percent::numeric, refund_amount::numeric
      FROM pg_temp.tsp_stage_refund_rule;
    refund_rules := (SELECT count(*) FROM pg_temp.tsp_stage_refund_rule);

    SELECT count(*) INTO total FROM pg_temp.tsp_stage_flight;
    lo := 2;
    WHILE lo < total + 2 LOOP
        WITH ins AS (
            INSERT INTO hublink.tsp_flight (carrier, flight_number, origin, destination, departs_at,
                                            arrives_at, origin_terminal, destination_terminal,
                                            seats_total, seats_sold)
            SELECT carrier, flight_number, origin, destination, departs_at, arrives_at,
                   origin_terminal, destination_terminal, seats_total::int, coalesce(seats_sold::int, 0)
              FROM pg_temp.tsp_stage_flight WHERE line >= lo AND line < lo + progress_every
            RETURNING flight_id, carrier, flight_number, departs_at)
        UPDATE pg_temp.tsp_stage_flight s SET flight_id = ins.flight_id
          FROM ins WHERE s.carrier::bpchar = ins.carrier AND s.flight_number = ins.flight_number
                     AND s.departs_at = ins.departs_at;
        lo := lo + progress_every;
        RAISE NOTICE 'flights: % of % loaded', least(lo - 2, total), total;
    END LOOP;
    flights := total;

    SELECT count(*) INTO total FROM pg_temp.tsp_stage_fare;
    lo := 2;
    WHILE lo < total + 2 LOOP
        WITH ins AS (
            INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set,
                                          change_fee, cancellation_fee, ticketing_deadline_hours,
                                          hand_baggage_only, baggage_kg)
            SELECT f.flight_id, s.fare_class, s.currency, lower(s.refundable)::boolean, s.refund_rule_set,
                   s.change_fee::numeric, s.cancellation_fee::numeric, s.ticketing_deadline_hours::int,
                   coalesce(lower(s.hand_baggage_only)::boolean, false), s.baggage_kg::int
              FROM pg_temp.tsp_stage_fare s JOIN pg_temp.tsp_stage_flight f USING (flight_ref)
             WHERE s.line >= lo AND s.line < lo + progress_every
            RETURNING fare_id, flight_id, fare_class)
        INSERT INTO hublink.tsp_fare_price (fare_id, traveller_type, amount)
        SELECT ins.fare_id, split_part(x.item, '=', 1), split_part(x.item, '=', 2)::numeric
          FROM ins JOIN pg_temp.tsp_stage_flight f ON f.flight_id = ins.flight_id
          JOIN pg_temp.tsp_stage_fare s ON s.flight_ref = f.flight_ref AND s.fare_class = ins.fare_class,
               string_to_table(s.prices, ';') x(item);
        lo := lo + progress_every;
        RAISE NOTICE 'fares: % of % loaded', least(lo - 2, total), total;
    END LOOP;
    fares := total;
    prices := (SELECT count(*) FROM pg_temp.tsp_stage_fare s, string_to_table(s.prices, ';'));
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_load_staged(integer) IS
    'Validates every staged refund rule, flight and fare (hublink.tsp_stage_begin, then COPY) and '
    'inserts them all, or raises bad_copy_file_format listing every bad line (file, line, problem) '
    'and inserts nothing. Reports progress every progress_every rows. Returns the counts loaded.';

CREATE FUNCTION hublink.tsp_stage_reference_begin() RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning
AS $$
BEGIN
    DROP TABLE IF EXISTS pg_temp.tsp_stage_country, pg_temp.tsp_stage_iso_country,
                         pg_temp.tsp_stage_airport, pg_temp.tsp_stage_airline;
    -- The columns of OpenFlights countries.dat, airports.dat and airlines.dat, in file order.
    CREATE TEMP TABLE tsp_stage_country (name text, iso2 text, dafif text);
    CREATE TEMP TABLE tsp_stage_iso_country (iso2 text, iso3 text);
    CREATE TEMP TABLE tsp_stage_airport (
        id text, name text, city text, country text, iata text, icao text, latitude text,
        longitude text, altitude text, utc_offset text, dst text, tz text, type text, source text);
    CREATE TEMP TABLE tsp_stage_airline (
        id text, name text, alias text, iata text, icao text, callsign text, country text, active text);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_stage_reference_begin() IS
    'Creates the session''s staging tables for OpenFlights countries.dat (tsp_stage_country), '
    'airports.dat (tsp_stage_airport), airlines.dat (tsp_stage_airline) and the ISO alpha-2 to '
    'alpha-3 map (tsp_stage_iso_country), columns in file order, for COPY ... CSV NULL ''\N''.';

CREATE FUNCTION hublink.tsp_load_reference_staged()
    RETURNS TABLE (countries bigint, airports bigint, airlines bigint, skipped_airports bigint, skipped_airlines bigint)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- OpenFlights lists some countries twice and some with empty codes; those are skipped.
    INSERT INTO hublink.tsp_country (iso2, iso3, name)
    SELECT DISTINCT ON (c.iso2) c.iso2, i.iso3, c.name
      FROM pg_temp.tsp_stage_country c
      LEFT JOIN pg_temp.tsp_stage_iso_country i ON i.iso2 = c.iso2
     WHERE c.iso2 ~ '^[A-Z]{2}$' AND c.name IS NOT NULL
     ORDER BY c.iso2, c.name
    ON CONFLICT (iso2) DO UPDATE SET iso3 = coalesce(excluded.iso3, hublink.tsp_country.iso3),
                                     name = excluded.name;
    GET DIAGNOSTICS countries = ROW_COUNT;

    -- Newer OpenFlights rows (e.g. DOH, IST, ISB) lack a zone name but give the UTC offset:
    -- they take the commonest zone of the country's airports with that offset, else a fixed
    -- Etc/GMT zone (whose sign is inverted by POSIX convention).
    UPDATE pg_temp.tsp_stage_airport a SET tz = coalesce((
        SELECT b.tz FROM pg_temp.tsp_stage_airport b
         WHERE b.country = a.country AND b.utc_offset = a.utc_offset
           AND b.tz IN (SELECT z.name FROM pg_timezone_names z)
         GROUP BY b.tz ORDER BY count(*) DESC, b.tz LIMIT 1),
        CASE WHEN a.utc_offset ~ '^-?[0-9]{1,2}$' THEN
             'Etc/GMT' || CASE WHEN a.utc_offset::int <= 0 THEN '+' ELSE '-' END || abs(a.utc_offset::int) END)
     WHERE (a.tz IS NULL OR a.tz NOT IN (SELECT z.name FROM pg_timezone_names z)) AND a.iata ~ '^[A-Z]{3}$';

    -- Airports need an IATA code, coordinates and a time zone PostgreSQL knows; the first
    -- row of a code wins (OpenFlights repeats a few).
    INSERT INTO hublink.tsp_airport (iata, name, city, country, tz, latitude, longitude)
    SELECT DISTINCT ON (a.iata) a.iata, a.name, a.city, c.iso2, a.tz, a.latitude::float8, a.longitude::float8
      FROM pg_temp.tsp_stage_airport a
      LEFT JOIN hublink.tsp_country c ON c.name = a.country
     WHERE a.iata ~ '^[A-Z]{3}$' AND a.name IS NOT NULL
       AND a.latitude ~ '^-?[0-9.]+$' AND a.longitude ~ '^-?[0-9.]+$'
       AND a.tz IN (SELECT z.name FROM pg_timezone_names z)
     ORDER BY a.iata, a.id::int
    ON CONFLICT (iata) DO UPDATE SET name = excluded.name, city = excluded.city,
        country = excluded.country, tz = excluded.tz, latitude = excluded.latitude,
        longitude = excluded.longitude;
    GET DIAGNOSTICS airports = ROW_COUNT;
    skipped_airports := (SELECT count(*) FROM pg_temp.tsp_stage_airport) - airports;

    -- Airlines: active ones first when a designator is reused. The ticketing prefix is kept
    -- when the row exists (an admin may have set the real one).
    INSERT INTO hublink.tsp_airline (iata, icao, name, ticket_prefix)
    SELECT DISTINCT ON (a.iata) a.iata, CASE WHEN a.icao ~ '^[A-Z]{3}$' THEN a.icao END, a.name,
           hublink.tsp_synthetic_ticket_prefix(a.iata)
      FROM pg_temp.tsp_stage_airline a
     WHERE a.iata ~ '^[A-Z0-9]{2}$' AND a.name IS NOT NULL
     ORDER BY a.iata, (a.active = 'Y') DESC, a.id::int
    ON CONFLICT (iata) DO UPDATE SET icao = excluded.icao, name = excluded.name;
    GET DIAGNOSTICS airlines = ROW_COUNT;
    skipped_airlines := (SELECT count(*) FROM pg_temp.tsp_stage_airline) - airlines;
    RAISE NOTICE 'reference data: % countries, % airports (% skipped), % airlines (% skipped)',
        countries, airports, skipped_airports, airlines, skipped_airlines;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_load_reference_staged() IS
    'Upserts the staged OpenFlights countries, airports and airlines (hublink.'
    'tsp_stage_reference_begin). Rows that cannot be used (no IATA code, unknown time zone) are '
    'skipped and counted: reference data is partial by nature, unlike an inventory file.';
